//! Rotation end to end: four threads write ~8 MB of traced calls into a
//! logger with 1 MiB segments, five kept, gzip; the folder is listed, and
//! every record left is read back through the `sentinel` CLI, which shows
//! that nothing was lost beyond the segments retention removed.
//!
//! ```text
//! cargo run -p examples --example rotation
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sentinel::rotation::Compression;
use sentinel::{AsyncLogger, SentinelConfig, Tags, trace};

const THREADS: u64 = 4;
const CALLS: u64 = 8_000;

#[trace(logger = logger)]
fn handle(logger: &AsyncLogger, order: u64) -> Result<u64, std::num::TryFromIntError> {
    u32::try_from(order).map(|o| u64::from(o) * 3)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("sentinel-rotation-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let live = dir.join("app.jsonl");
    let logger = AsyncLogger::new(
        SentinelConfig::new(&live)
            .rotate_bytes(1 << 20)
            .keep_segments(5)
            .compress(Compression::Gzip),
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

    // Every record the folder holds, through the CLI, in file order.
    let json = cli(&["tail", "--json"], &dir)?;
    let mut seqs: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for line in String::from_utf8(json)?.lines() {
        let record: serde_json::Value = serde_json::from_str(line)?;
        let tags = &record["tags"];
        if let (Some(t), Some(s)) = (tags["thread"].as_u64(), tags["seq"].as_u64()) {
            seqs.entry(t).or_default().push(s);
        }
    }
    let read: u64 = seqs.values().map(|v| v.len() as u64).sum();

    // Retention removes the oldest segments, so each thread's records left
    // must be exactly its newest ones, in order, with no gap or repeat.
    for thread in 0..THREADS {
        let got = seqs.get(&thread).map(Vec::as_slice).unwrap_or_default();
        let first = got.first().copied().unwrap_or(CALLS);
        let expected: Vec<u64> = (first..CALLS).collect();
        if got != expected {
            return Err(format!("thread {thread}: records missing or repeated").into());
        }
        println!(
            "thread {thread}: records {first}..{CALLS} present, all {} of them",
            got.len()
        );
    }
    let removed = stats.written - read;
    println!(
        "\nread back {read} of {} records; the other {removed} were in the {} oldest segments retention removed (keep 5)",
        stats.written, stats.segments_removed,
    );
    if stats.segments_removed == 0 && removed > 0 {
        return Err("records missing though retention removed nothing".into());
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
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
