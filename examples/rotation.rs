//! Rotation end to end: four threads write ~8 MB of traced calls into a
//! logger with 1 MiB segments, five kept, gzip; the folder is listed. A
//! `before_removal` hook archives each segment retention removes (a hard
//! link beside the folder), so every record is read back through the
//! `sentinel` CLI, kept or removed: each one written is found exactly once,
//! and those missing from the folder are exactly those in the removed
//! segments.
//!
//! ```text
//! cargo run -p examples --example rotation
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sentinel::rotation::{Compression, RemovalHook, Segment};
use sentinel::{AsyncLogger, SentinelConfig, Tags, trace};

const THREADS: u64 = 4;
const CALLS: u64 = 8_000;

#[trace(logger = logger)]
fn handle(logger: &AsyncLogger, order: u64) -> Result<u64, std::num::TryFromIntError> {
    u32::try_from(order).map(|o| u64::from(o) * 3)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::temp_dir().join(format!("sentinel-rotation-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dir = root.join("logs");
    let archive = root.join("removed");
    std::fs::create_dir_all(&archive)?;
    let live = dir.join("app.jsonl");
    // Retention calls this with each segment it is about to remove: keep a
    // hard link to it (same file system, no copy), as an archiver would.
    let to_archive = archive.clone();
    let keep_copy: RemovalHook = Arc::new(move |segment: &Segment| {
        let name = segment.path.file_name().unwrap_or_default();
        std::fs::hard_link(&segment.path, to_archive.join(name))
    });
    let logger = AsyncLogger::new(
        SentinelConfig::new(&live)
            .rotate_bytes(1 << 20)
            .keep_segments(5)
            .compress(Compression::Gzip)
            .before_removal(keep_copy),
    )?;

    let start = Instant::now();
    std::thread::scope(|s| {
        for thread in 0..THREADS {
            let logger = &logger;
            s.spawn(move || {
                for seq in 0..CALLS {
                    let _tags = Tags::new().with("thread", thread).with("seq", seq).enter();
                    let _ = handle(logger, seq);
                }
            });
        }
    });
    // Shutdown waits for the last compression and retention pass too.
    assert!(logger.shutdown_blocking(Duration::from_secs(30)));
    let stats = logger.stats();
    println!(
        "wrote {} records in {:.2?}: {} rotations, {} segments compressed, {} removed by retention, {} errors",
        stats.written,
        start.elapsed(),
        stats.rotations,
        stats.segments_compressed,
        stats.segments_removed,
        stats.rotation_errors,
    );

    println!("\n{}:", dir.display());
    let mut names: Vec<_> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    names.sort();
    for name in &names {
        let len = std::fs::metadata(dir.join(name))?.len();
        println!("  {len:>9}  {}", name.to_string_lossy());
    }

    println!("\n$ sentinel stats {}", dir.display());
    print!("{}", String::from_utf8(cli(&["stats"], &dir)?)?);

    // Every record the folder holds, and every record of the segments
    // retention removed, through the CLI, in file order.
    let kept = records_by_thread(&cli(&["tail", "--json"], &dir)?)?;
    let removed = records_by_thread(&cli(&["tail", "--json"], &archive)?)?;
    let archived = std::fs::read_dir(&archive)?.count() as u64;
    if archived != stats.segments_removed {
        return Err(format!(
            "{archived} segments archived but {} removed",
            stats.segments_removed
        )
        .into());
    }

    // Each thread's records: the removed ones, then the kept ones, are
    // exactly 0..CALLS, each once and in order. So nothing is missing from
    // the folder but what the removed segments held, and those were the
    // oldest.
    for thread in 0..THREADS {
        let gone = removed.get(&thread).map(Vec::as_slice).unwrap_or_default();
        let left = kept.get(&thread).map(Vec::as_slice).unwrap_or_default();
        let all: Vec<u64> = gone.iter().chain(left).copied().collect();
        if all != (0..CALLS).collect::<Vec<_>>() {
            return Err(
                format!("thread {thread}: records missing, repeated or out of order").into(),
            );
        }
        println!(
            "thread {thread}: records 0..{} in removed segments, {}..{CALLS} kept",
            gone.len(),
            gone.len()
        );
    }
    let count = |m: &BTreeMap<u64, Vec<u64>>| m.values().map(|v| v.len() as u64).sum::<u64>();
    let (kept, removed) = (count(&kept), count(&removed));
    println!(
        "\nread back {kept} of {} records from the folder; the other {removed} are exactly the records of the {} segments retention removed (keep 5)",
        stats.written, stats.segments_removed,
    );
    if kept + removed != stats.written {
        return Err("the records read back do not add up to the records written".into());
    }
    std::fs::remove_dir_all(&root)?;
    Ok(())
}

/// `seq` tags of each `thread` tag, in the order of `json` (the CLI's
/// `tail --json` output).
fn records_by_thread(json: &[u8]) -> Result<BTreeMap<u64, Vec<u64>>, Box<dyn std::error::Error>> {
    let mut seqs: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for line in std::str::from_utf8(json)?.lines() {
        let record: serde_json::Value = serde_json::from_str(line)?;
        let tags = &record["tags"];
        if let (Some(t), Some(s)) = (tags["thread"].as_u64(), tags["seq"].as_u64()) {
            seqs.entry(t).or_default().push(s);
        }
    }
    Ok(seqs)
}

/// Runs the `sentinel` CLI on `dir` through the cargo that built this example
/// (so a fresh clone needs nothing installed) and returns its stdout.
fn cli(args: &[&str], dir: &Path) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let mut cmd = Command::new(cargo);
    // What `cargo run` set for this example would make the inner cargo
    // rebuild crates whose build scripts watch it.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
            ]
            .contains(&key.as_ref())
        {
            cmd.env_remove(key.as_ref());
        }
    }
    let out = cmd
        .args(["run", "-q", "-p", "sentinel", "--bin", "sentinel", "--"])
        .args(args)
        .arg(dir)
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "sentinel {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(out.stdout)
}
