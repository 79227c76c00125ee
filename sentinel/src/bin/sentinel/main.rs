//! The `sentinel` command: parses arguments and runs one subcommand, each in
//! its own file or folder beside this one (`tail`, `stats`, `export`, `report`). Every subcommand
//! reads its inputs through `input.rs` and narrows them with `filter.rs`; records are
//! decoded by the library's one decoder, [`sentinel::format`], and `spans.rs` links them
//! into trees for `export` and `report`.

mod error;
mod export;
mod filter;
#[cfg(test)]
mod heap;
mod input;
mod lines;
mod report;
mod spans;
mod stats;
mod steps;
mod tail;
mod timestamp;

use std::io::{self, BufWriter, IsTerminal, LineWriter, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use error::Failure;
use filter::FilterArgs;
use input::InputArgs;
use stats::{GroupBy, Query, SortKey};
use tail::TailOptions;

#[cfg(test)]
#[global_allocator]
static HEAP: heap::Counting = heap::Counting;

/// Sentinel: utilities for inspecting JSONL trace logs.
#[derive(Debug, Parser)]
#[command(name = "sentinel", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Pretty-print records of sentinel JSONL logs, flat or as trace trees.
    #[command(after_help = TAIL_EXAMPLES)]
    Tail(TailArgs),
    /// Summarise span durations per name: counts, errors, p50/p95/p99/p99.9 (within 1%),
    /// max, inclusive and self time.
    #[command(after_help = STATS_EXAMPLES)]
    Stats(StatsArgs),
    /// Convert spans for Perfetto/chrome://tracing, OpenTelemetry (OTLP/JSON, or POSTed to an
    /// OTLP/HTTP endpoint) or flame graphs (folded stacks).
    #[command(after_help = EXPORT_EXAMPLES)]
    Export(export::ExportArgs),
    /// Write one self-contained HTML page: stats table, slowest and failed traces as
    /// waterfalls, a flame graph by self time.
    #[command(after_help = REPORT_EXAMPLES)]
    Report(report::ReportArgs),
}

macro_rules! tail_examples {
    () => {
        "  sentinel tail logs/                      every segment of a folder, oldest first
  sentinel tail -f logs/app.jsonl          follow the live file across rotations
  sentinel tail --status error --since 10m logs/
  sentinel tail --tree --slow -n 5 logs/   the last 5 traces holding a slow span
  zcat old.jsonl.gz | sentinel tail --json --trace 9f86 -"
    };
}

macro_rules! stats_examples {
    () => {
        "  sentinel stats logs/
  sentinel stats --by tag:route --sort p99 --top 10 logs/
  sentinel stats --since 1h --format csv logs/ > last-hour.csv
  sentinel stats --compare yesterday/ today/
  sentinel stats --compare 2h..1h 1h.. logs/    the last hour against the one before"
    };
}

macro_rules! export_examples {
    () => {
        "  sentinel export --format chrome logs/ -o trace.json       open in ui.perfetto.dev
  sentinel export --format otlp-json app.jsonl > spans.jsonl   for the collector's otlpjsonfile receiver
  sentinel export --otlp-endpoint http://127.0.0.1:4318 --service checkout --since 1h logs/
  sentinel export --format folded --name 'checkout*' app.jsonl | inferno-flamegraph > flame.svg"
    };
}

macro_rules! report_examples {
    () => {
        "  sentinel report logs/ -o report.html
  sentinel report --since 1h --status error app.jsonl -o errors.html"
    };
}

const TAIL_EXAMPLES: &str = concat!("Examples:\n", tail_examples!());
const STATS_EXAMPLES: &str = concat!("Examples:\n", stats_examples!());
const EXPORT_EXAMPLES: &str = concat!("Examples:\n", export_examples!());
const REPORT_EXAMPLES: &str = concat!("Examples:\n", report_examples!());
const ALL_EXAMPLES: &str = concat!(
    "Examples:\n",
    tail_examples!(),
    "\n",
    stats_examples!(),
    "\n",
    export_examples!(),
    "\n",
    report_examples!()
);

#[derive(Debug, Args)]
struct TailArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    filter: FilterArgs,
    /// Keep reading the last input as it grows, like tail -F: waits for a missing file,
    /// follows it across rotation and truncation.
    #[arg(short, long, visible_short_alias = 'F')]
    follow: bool,
    /// Draw each trace as a tree; with a filter, the whole trace of every matching span.
    #[arg(long)]
    tree: bool,
    /// Print the matching records as JSONL, as they are in the file.
    #[arg(long)]
    json: bool,
    /// Disable ANSI color codes (also off when NO_COLOR is set or stdout is not a terminal).
    #[arg(long, action = ArgAction::SetTrue)]
    no_color: bool,
}

#[derive(Debug, Args)]
struct StatsArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    filter: FilterArgs,
    /// Sort rows by this column, largest first (name: alphabetical).
    #[arg(long, value_enum, default_value_t = SortKey::Total, value_name = "KEY")]
    sort: SortKey,
    /// Show only the first N rows.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    top: Option<usize>,
    /// Output format. Percentiles are within 1% (log histogram).
    #[arg(long, value_enum, default_value_t = Format::Table, value_name = "FORMAT")]
    format: Format,
    /// Same as --format json.
    #[arg(long)]
    json: bool,
    /// One row per span name (the default), or per value of a tag: --by tag:route.
    #[arg(long, value_name = "name|tag:KEY", value_parser = GroupBy::parse, default_value = "name")]
    by: GroupBy,
    /// Compare two inputs (files, folders, globs), or two time windows SINCE..UNTIL of the
    /// PATHs (2h..1h 1h..): each percentile's and the error rate's change, biggest
    /// regression first.
    #[arg(long, num_args = 2, value_names = ["A", "B"])]
    compare: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
}

/// Set by SIGINT/SIGTERM; `tail -f` stops, prints incomplete traces and exits 0.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn install_stop_handlers() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(
                signal,
                on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

/// Every subcommand's options, for the top-level `--help` (users should not have to drill
/// into `sentinel <cmd> --help` to discover them).
fn subcommand_options(cmd: &clap::Command) -> String {
    let mut text = String::new();
    for sub in cmd.get_subcommands() {
        text.push_str(&format!("Options for `sentinel {}`:\n", sub.get_name()));
        for arg in sub.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            let value = arg
                .get_value_names()
                .and_then(|names| names.first())
                .map(|v| format!("<{v}>"));
            let spec = if arg.is_positional() {
                value.unwrap_or_default()
            } else {
                let mut spec = match (arg.get_short(), arg.get_long()) {
                    (Some(s), Some(l)) => format!("-{s}, --{l}"),
                    (None, Some(l)) => format!("    --{l}"),
                    (Some(s), None) => format!("-{s}"),
                    (None, None) => String::new(),
                };
                if arg.get_action().takes_values()
                    && let Some(v) = value
                {
                    spec.push(' ');
                    spec.push_str(&v);
                }
                spec
            };
            let mut help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            let values: Vec<String> = arg
                .get_possible_values()
                .iter()
                .filter(|_| arg.get_action().takes_values())
                .map(|v| v.get_name().to_owned())
                .collect();
            if !values.is_empty() {
                help.push_str(&format!(" [{}]", values.join("|")));
            }
            text.push_str(&format!("  {spec:<22} {help}\n"));
        }
        text.push('\n');
    }
    text.trim_end().to_owned()
}

fn main() -> ExitCode {
    let cmd = Cli::command();
    let after = format!("{}\n\n{ALL_EXAMPLES}", subcommand_options(&cmd));
    let matches = cmd
        .after_help(after)
        .try_get_matches()
        .unwrap_or_else(|e| exit_on_usage_error(e));
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        Command::Tail(args) => run_tail(&args),
        Command::Stats(args) => run_stats(&args),
        Command::Export(args) => export::run(&args),
        Command::Report(args) => report::run(&args),
    };
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::InputsFailed) => ExitCode::FAILURE,
        // Whoever read our output (`| head`) has gone: nothing left to do.
        Err(Failure::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e @ Failure::Usage(_)) => {
            error::say(&e);
            ExitCode::from(2)
        }
        Err(e) => {
            error::say(&e);
            ExitCode::FAILURE
        }
    }
}

/// Exits on a command-line error: a bad flag value gets one line naming the flag (and the
/// values it takes, when it takes a fixed set); an unknown flag or subcommand one line
/// naming it (and the nearest known one, if any). `--help`, `--version` and errors that
/// need the usage text keep clap's rendering.
fn exit_on_usage_error(e: clap::Error) -> ! {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let kind = e.kind();
    if !matches!(
        kind,
        ErrorKind::ValueValidation
            | ErrorKind::InvalidValue
            | ErrorKind::UnknownArgument
            | ErrorKind::InvalidSubcommand
    ) {
        e.exit()
    }
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    let mut line = first.strip_prefix("error: ").unwrap_or(first).to_owned();
    if let Some(ContextValue::Strings(values)) = e.get(ContextKind::ValidValue) {
        line.push_str(&format!(" (possible values: {})", values.join(", ")));
    }
    let suggested = [ContextKind::SuggestedArg, ContextKind::SuggestedSubcommand]
        .into_iter()
        .find_map(|k| match e.get(k) {
            Some(ContextValue::String(s)) => Some(s.clone()),
            Some(ContextValue::Strings(s)) => s.first().cloned(),
            _ => None,
        });
    if let Some(suggested) = suggested {
        line.push_str(&format!(" (did you mean '{suggested}'?)"));
    }
    if matches!(
        kind,
        ErrorKind::UnknownArgument | ErrorKind::InvalidSubcommand
    ) {
        let cmd = Cli::command();
        let sub = std::env::args()
            .nth(1)
            .filter(|a| cmd.get_subcommands().any(|s| s.get_name() == a));
        match sub {
            Some(sub) => line.push_str(&format!("; see `sentinel {sub} --help`")),
            None => line.push_str("; see `sentinel --help`"),
        }
    }
    error::say(&line);
    std::process::exit(2);
}

/// How a subcommand that ran to the end went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Clean,
    /// Some input was unusable (binary, not JSONL); it was reported and the rest was read.
    InputsFailed,
}

/// Prints notes and per-input failures to stderr.
#[derive(Debug, Default)]
struct Reporter {
    failed: bool,
}

impl Reporter {
    fn note(&mut self, note: Result<Option<String>, Failure>) {
        match note {
            Ok(Some(note)) => error::say(&note),
            Ok(None) => {}
            Err(e) => {
                error::say(&e);
                self.failed = true;
            }
        }
    }

    fn outcome(&self) -> Outcome {
        if self.failed {
            Outcome::InputsFailed
        } else {
            Outcome::Clean
        }
    }
}

fn color_choice(no_color_flag: bool) -> (bool, bool) {
    let terminal = io::stdout().is_terminal();
    let color = tail::resolve_color(
        no_color_flag,
        std::env::var_os("NO_COLOR").as_deref(),
        terminal,
    );
    (terminal, color)
}

fn run_tail(args: &TailArgs) -> Result<Outcome, Failure> {
    let (terminal, color) = color_choice(args.no_color);
    let opts = TailOptions {
        tree: args.tree,
        json: args.json,
        color,
        last: args.filter.last,
        ..TailOptions::default()
    };
    let filter = args.filter.filter();
    // A person watching sees each line at once; a pipe or file gets large writes.
    let stdout = io::stdout();
    let mut out: Box<dyn Write> = if terminal {
        Box::new(LineWriter::new(stdout.lock()))
    } else {
        Box::new(BufWriter::with_capacity(1 << 18, stdout.lock()))
    };
    let mut reporter = Reporter::default();
    if args.follow {
        install_stop_handlers();
    }
    tail::run(
        &args.input,
        &filter,
        &opts,
        args.follow.then_some(&STOP),
        &mut out,
        &mut |note| reporter.note(note),
    )?;
    Ok(reporter.outcome())
}

fn run_stats(args: &StatsArgs) -> Result<Outcome, Failure> {
    let format = if args.json { Format::Json } else { args.format };
    let query = Query {
        filter: args.filter.filter(),
        group: args.by.clone(),
        last: args.filter.last,
    };
    let mut reporter = Reporter::default();
    let mut note = |n| reporter.note(n);
    let mut out = BufWriter::new(io::stdout().lock());
    if let Some(sides) = &args.compare {
        let (a, b, labels) = compare_sides(args, sides, &query)?;
        let a_stats = stats::Stats::read(&a.0, &a.1, &mut note)?;
        let b_stats = stats::Stats::read(&b.0, &b.1, &mut note)?;
        let rows = stats::compare(&a_stats, &b_stats);
        let rows = &rows[..args.top.unwrap_or(rows.len()).min(rows.len())];
        match format {
            Format::Json => stats::write_json(&mut out, rows)?,
            Format::Csv => stats::compare::write_csv(&mut out, rows)?,
            Format::Table => stats::compare::write_table(
                &mut out,
                rows,
                &args.by.heading(),
                [&labels[0], &labels[1]],
                [a_stats.spans(), b_stats.spans()],
            )?,
        }
        return Ok(reporter.outcome());
    }
    let stats = stats::Stats::read(&args.input.sources()?, &query, &mut note)?;
    let rows = stats.rows(args.sort, args.top);
    match format {
        Format::Json => stats::write_json(&mut out, &rows)?,
        Format::Csv => stats::write_csv(&mut out, &rows)?,
        Format::Table => stats::write_table(&mut out, &rows, &stats)?,
    }
    Ok(reporter.outcome())
}

/// Why a comparison cannot read stdin on both sides.
const READ_STDIN_TWICE: &str = "--compare reads each side's inputs apart, and stdin (-) can be \
     read only once: save it to a file and compare that";

/// One side of a comparison: its inputs and its query.
type Side = (Vec<input::Source>, Query);

/// The two sides of `--compare A B`: two time windows of the PATHs, or two inputs.
fn compare_sides(
    args: &StatsArgs,
    sides: &[String],
    query: &Query,
) -> Result<(Side, Side, [String; 2]), Failure> {
    let now = timestamp::now_nanos();
    // `../old` holds `..` too: a side naming a file, folder or glob is an input.
    let windows: Vec<_> = sides
        .iter()
        .map(|s| {
            if input::names_input(s) {
                None
            } else {
                filter::Window::parse(s, now)
            }
        })
        .collect();
    let labels = [sides[0].clone(), sides[1].clone()];
    match (&windows[0], &windows[1]) {
        (Some(a), Some(b)) => {
            let bad = |e: &String| Failure::Usage(format!("--compare: {e}"));
            let (a, b) = (
                a.clone().map_err(|e| bad(&e))?,
                b.clone().map_err(|e| bad(&e))?,
            );
            let sources = args.input.sources()?;
            if sources.contains(&input::Source::Stdin) {
                return Err(Failure::Usage(READ_STDIN_TWICE.to_owned()));
            }
            let side = |w| Query {
                filter: query.filter.clone().within(w),
                ..query.clone()
            };
            Ok(((sources.clone(), side(a)), (sources, side(b)), labels))
        }
        (None, None) if args.input.paths.is_empty() => {
            let inputs = |path: &String| InputArgs {
                paths: vec![path.clone()],
            };
            let a = inputs(&sides[0]).sources()?;
            let b = inputs(&sides[1]).sources()?;
            if a.contains(&input::Source::Stdin) && b.contains(&input::Source::Stdin) {
                return Err(Failure::Usage(READ_STDIN_TWICE.to_owned()));
            }
            Ok(((a, query.clone()), (b, query.clone()), labels))
        }
        (None, None) => Err(Failure::Usage(
            "--compare A B takes two inputs, or two time windows (2h..1h 1h..) of the PATHs; \
             not both inputs and PATHs"
                .to_owned(),
        )),
        _ => Err(Failure::Usage(
            "--compare A B: give two inputs or two time windows SINCE..UNTIL, not one of each"
                .to_owned(),
        )),
    }
}
