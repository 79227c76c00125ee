//! The `sentinel` command: parses arguments and runs one subcommand, each in
//! its own file or folder beside this one (`tail`, `stats.rs`, `export`, `report`).
//! Records are read through the library's one decoder, [`sentinel::format`];
//! `spans.rs` turns them into linked spans for `export` and `report`.

mod export;
mod lines;
mod spans;
mod stats;
mod tail;

use std::fs::File;
use std::io::{self, BufReader, BufWriter, IsTerminal, LineWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use stats::{SortKey, Stats};
use tail::TailOptions;

/// How often `tail -f` looks for new data when the file is idle.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// Sentinel: utilities for inspecting JSONL trace logs.
#[derive(Debug, Parser)]
#[command(name = "sentinel", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Pretty-print a Sentinel JSONL file.
    Tail(TailArgs),
    /// Summarise span durations per name: counts, errors, p50/p95/p99 (within 1%), max, total.
    Stats(StatsArgs),
    /// Convert spans for Perfetto/chrome://tracing, OpenTelemetry (OTLP/JSON) or flame graphs.
    Export(export::ExportArgs),
}

#[derive(Debug, Args)]
struct TailArgs {
    /// Path to the JSONL log file.
    #[arg(value_name = "PATH")]
    path: PathBuf,
    /// Follow the file as it grows (like tail -f); survives truncation and rotation.
    #[arg(short, long)]
    follow: bool,
    /// Render each trace as a tree (buffers per trace_id until the root arrives).
    #[arg(long)]
    tree: bool,
    /// Disable ANSI color codes (also off when NO_COLOR is set or stdout is not a terminal).
    #[arg(long, action = ArgAction::SetTrue)]
    no_color: bool,
}

#[derive(Debug, Args)]
struct StatsArgs {
    /// Path to the JSONL log file.
    #[arg(value_name = "PATH")]
    path: PathBuf,
    /// Sort rows by this column, largest first.
    #[arg(long, value_enum, default_value_t = SortArg::Total, value_name = "KEY")]
    sort: SortArg,
    /// Show only the first N rows.
    #[arg(long, value_name = "N")]
    top: Option<usize>,
    /// Print a JSON array instead of a table. Percentiles are within 1% (log histogram).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SortArg {
    Total,
    P99,
    Count,
    Errors,
}

impl From<SortArg> for SortKey {
    fn from(arg: SortArg) -> Self {
        match arg {
            SortArg::Total => SortKey::Total,
            SortArg::P99 => SortKey::P99,
            SortArg::Count => SortKey::Count,
            SortArg::Errors => SortKey::Errors,
        }
    }
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
    let after = subcommand_options(&cmd);
    let matches = cmd.after_help(after).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // Subcommands over one path report errors under it; the others name the input themselves.
    let (path, result) = match cli.command {
        Command::Tail(args) => (Some(args.path.clone()), run_tail(&args)),
        Command::Stats(args) => (Some(args.path.clone()), run_stats(&args)),
        Command::Export(args) => (None, export::run(&args)),
    };
    match (result, path) {
        (Ok(()), _) => ExitCode::SUCCESS,
        // Whoever read our output (`| head`) has gone: nothing left to do.
        (Err(e), _) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        (Err(e), Some(path)) if e.kind() == io::ErrorKind::NotFound => {
            eprintln!("sentinel: {}: no such file", path.display());
            ExitCode::FAILURE
        }
        (Err(e), Some(path)) => {
            eprintln!("sentinel: {}: {e}", path.display());
            ExitCode::FAILURE
        }
        (Err(e), None) => {
            eprintln!("sentinel: {e}");
            ExitCode::FAILURE
        }
    }
}

fn open(path: &Path) -> io::Result<File> {
    let file = File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(io::Error::other("is a directory"));
    }
    Ok(file)
}

fn run_tail(args: &TailArgs) -> io::Result<()> {
    let file = open(&args.path)?;
    let stdout = io::stdout();
    let terminal = stdout.is_terminal();
    let opts = TailOptions {
        tree: args.tree,
        color: tail::resolve_color(
            args.no_color,
            std::env::var_os("NO_COLOR").as_deref(),
            terminal,
        ),
        ..TailOptions::default()
    };
    // A person watching sees each line at once; a pipe or file gets large writes.
    let mut out: Box<dyn Write> = if terminal {
        Box::new(LineWriter::new(stdout.lock()))
    } else {
        Box::new(BufWriter::with_capacity(1 << 18, stdout.lock()))
    };
    let summary = if args.follow {
        install_stop_handlers();
        tail::follow(file, &args.path, &mut out, &opts, &STOP, FOLLOW_POLL)?
    } else {
        tail::tail(BufReader::with_capacity(1 << 20, file), &mut out, &opts)?
    };
    if summary.oversized > 0 {
        eprintln!(
            "sentinel: {}: skipped {} line(s) longer than {} bytes",
            args.path.display(),
            summary.oversized,
            opts.max_line_bytes
        );
    }
    Ok(())
}

fn run_stats(args: &StatsArgs) -> io::Result<()> {
    let file = open(&args.path)?;
    let stats = Stats::from_reader(BufReader::with_capacity(1 << 20, file))?;
    let rows = stats.rows(args.sort.into(), args.top);
    let mut out = BufWriter::new(io::stdout().lock());
    if args.json {
        stats::write_json(&mut out, &rows)
    } else {
        stats::write_table(&mut out, &rows, &stats)
    }
}
