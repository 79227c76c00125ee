//! `sentinel export`: the spans of sentinel files in the formats other tools read. One file per
//! format: [`chrome`] (Perfetto, `chrome://tracing`), [`otlp`] (OpenTelemetry, and [`post`] to
//! send it), [`folded`] (flame graphs).
//!
//! Every format exports the spans of [`SpanSet`]; what is not a span (a record whose
//! `duration_ms` is not a number among them, by [`crate::input::mistyped`]) is left out and
//! counted on stderr.

pub mod chrome;
pub mod folded;
pub mod otlp;
pub mod post;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::error::Failure;
use crate::filter::FilterArgs;
use crate::input::{InputArgs, Source};
use crate::spans::{Forest, SpanSet};
use crate::{Outcome, Reporter};

/// How long one batch may take to be accepted by an OTLP/HTTP receiver.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// Arguments of `sentinel export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    pub(crate) input: InputArgs,
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
    /// Output format (`otlp-json` when only --otlp-endpoint is given).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub(crate) format: Option<Format>,
    /// Write to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// OTLP `service.name` of every input (default: each file's name up to its first dot).
    #[arg(long, value_name = "NAME")]
    pub(crate) service: Option<String>,
    /// POST the OTLP/JSON batches to this OTLP/HTTP receiver (`/v1/traces` added to a bare URL).
    #[arg(long, value_name = "URL")]
    pub(crate) otlp_endpoint: Option<String>,
    /// Spans per OTLP request (per line of otlp-json).
    #[arg(long, value_name = "N", default_value_t = otlp::DEFAULT_BATCH_SPANS)]
    pub(crate) batch_spans: usize,
}

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Chrome / Perfetto trace event JSON.
    Chrome,
    /// OTLP/JSON ExportTraceServiceRequest lines.
    OtlpJson,
    /// Folded stacks by self time (inferno, flamegraph.pl).
    Folded,
}

/// The name an input's spans carry as a service or process: the file name up to its first
/// dot, `sentinel` for standard input.
pub(crate) fn service_name(source: &Source) -> String {
    let Source::File(path) = source else {
        return "sentinel".to_owned();
    };
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('.').next())
        .filter(|n| !n.is_empty())
        .unwrap_or("sentinel")
        .to_owned()
}

/// Creates the output: `path`, or standard output.
///
/// # Errors
///
/// The file cannot be created.
pub(crate) fn output(path: Option<&Path>) -> Result<Box<dyn Write>, Failure> {
    Ok(match path {
        Some(path) => Box::new(BufWriter::with_capacity(
            1 << 18,
            File::create(path).map_err(|e| Failure::read(&path.display().to_string(), &e))?,
        )),
        None => Box::new(BufWriter::with_capacity(1 << 18, io::stdout().lock())),
    })
}

/// Runs `sentinel export`.
///
/// # Errors
///
/// Bad arguments, unreadable inputs, an unwritable output, a receiver that refused a batch.
pub(crate) fn run(args: &ExportArgs) -> Result<Outcome, Failure> {
    let format = match (args.format, &args.otlp_endpoint) {
        (Some(Format::OtlpJson) | None, Some(_)) => Format::OtlpJson,
        (Some(other), Some(_)) => {
            return Err(Failure::Usage(format!(
                "--otlp-endpoint sends otlp-json, not {}",
                other
                    .to_possible_value()
                    .expect("no skipped values")
                    .get_name()
            )));
        }
        (Some(f), None) => f,
        (None, None) => {
            return Err(Failure::Usage(
                "say --format chrome, otlp-json or folded (or --otlp-endpoint URL)".to_owned(),
            ));
        }
    };
    if args.batch_spans == 0 {
        return Err(Failure::Usage(
            "--batch-spans must be at least 1".to_owned(),
        ));
    }
    let endpoint = args
        .otlp_endpoint
        .as_deref()
        .map(post::traces_url)
        .transpose()?;
    let sources = args.input.sources()?;
    let mut reporter = Reporter::default();
    let set = SpanSet::read(
        &sources,
        &args.filter.filter(),
        args.filter.last,
        &mut |note| reporter.note(note),
        |_| {},
    )?;
    let services: Vec<String> = sources
        .iter()
        .map(|s| args.service.clone().unwrap_or_else(|| service_name(s)))
        .collect();
    if let Some(text) = set.left_out() {
        crate::error::say(format_args!("export: left out {text}"));
    }
    if set.bad_parents > 0 {
        crate::error::say(format_args!(
            "export: {} spans with a malformed parent_span_id exported as roots",
            set.bad_parents
        ));
    }
    let dropped = set.dropped_by_logger();
    if dropped > 0 && format != Format::Chrome {
        crate::error::say(format_args!(
            "export: the inputs mark {dropped} records the logger dropped; they are not in any file"
        ));
    }
    if let Some(url) = endpoint {
        let sent = post::post(
            &url,
            otlp::requests(&set, &services, args.batch_spans),
            POST_TIMEOUT,
        )?;
        crate::error::say(format_args!(
            "export: sent {} spans in {} requests to {url}{}",
            sent.spans,
            sent.batches,
            if sent.rejected > 0 {
                format!(" ({} rejected)", sent.rejected)
            } else {
                String::new()
            }
        ));
        if args.output.is_none() {
            return Ok(reporter.outcome());
        }
    }
    let mut out = output(args.output.as_deref())?;
    match format {
        Format::Chrome => chrome::write(&set, &services, &mut out)?,
        Format::OtlpJson => otlp::write(&set, &services, args.batch_spans, &mut out)?,
        Format::Folded => {
            let forest = Forest::new(&set.spans);
            folded::write(&folded::stacks(&set.spans, &forest), &mut out)?;
        }
    }
    Ok(reporter.outcome())
}
