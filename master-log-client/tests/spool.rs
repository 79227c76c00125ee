//! The durable spool against a real loopback server: outages, a killed process, a full
//! disk, a corrupt segment, two clients on one folder.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use master_log_client::{Client, ClientBuilder, ClientStats, Error, Event};
use support::Server;

/// Deadline for the client to deliver a backlog once the server is back: the longest
/// backoff (10 s) plus the replay itself, with room for a loaded CI machine.
const RECOVERY: Duration = Duration::from_secs(60);

fn builder(endpoint: &str, spool: &Path) -> ClientBuilder {
    Client::builder()
        .environment(|_| None)
        .api_key("test-key")
        .endpoint(endpoint)
        .backpressure(false)
        .batch_size(20)
        .flush_interval(Duration::from_millis(200))
        .timeout(Duration::from_secs(2))
        .spool_dir(spool)
}

/// An address nothing listens on (until a test starts a server there).
fn dead_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// How many times each body arrived, over all the servers given.
fn arrivals(servers: &[&Server]) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for body in servers.iter().flat_map(|s| s.received_bodies()) {
        *seen.entry(body).or_insert(0) += 1;
    }
    seen
}

/// Events that arrived more than once.
fn duplicates(seen: &HashMap<String, usize>) -> usize {
    seen.values().map(|n| n - 1).sum()
}

fn assert_all_arrived(seen: &HashMap<String, usize>, prefix: &str, n: usize) {
    let missing: Vec<_> = (0..n)
        .map(|i| format!("{prefix}-{i}"))
        .filter(|b| !seen.contains_key(b))
        .collect();
    assert!(
        missing.is_empty(),
        "{} lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

// The issue asks for a 2-minute outage with a producer running. It takes 2 minutes of wall
// time but little CPU (50 events/s), and runs beside the other tests of this binary.
// regression: issue #14
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_a_two_minute_outage_loses_nothing_and_the_spool_stays_under_its_cap() {
    const BEFORE: usize = 250;
    const DURING: usize = 6_000; // 120 s at one event per 20 ms
    const AFTER: usize = 250;
    const TOTAL: usize = BEFORE + DURING + AFTER;
    const CAP: u64 = 8 << 20;
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(vec![]);
    let addr = first.addr();
    let client = builder(&first.url(), dir.path())
        .spool_max_bytes(CAP)
        .build()
        .unwrap();
    let mut first = Some(first);
    let mut before = Vec::new();
    let mut second = None;
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    let mut peak_bytes = 0;
    for i in 0..TOTAL {
        ticks.tick().await;
        if i == BEFORE {
            // Stopping the server is the outage: connections refused from here on.
            before = first.take().unwrap().stop();
        }
        if i == BEFORE + DURING {
            second = Some(Server::start_at(addr, vec![]));
        }
        client
            .log(Event::info(format!("outage-{i}")))
            .await
            .unwrap();
        peak_bytes = peak_bytes.max(client.stats().spool_bytes);
    }
    let second = second.unwrap();
    let missing = (TOTAL - before.len()) as u64;
    assert!(
        second.wait_for_events(missing, RECOVERY).await,
        "only {} + {} of {TOTAL} events arrived",
        before.len(),
        second.events_received()
    );
    let report = client.shutdown(Duration::from_secs(10)).await.unwrap();
    let mut seen = arrivals(&[&second]);
    for body in before {
        *seen.entry(body).or_insert(0) += 1;
    }
    assert_all_arrived(&seen, "outage", TOTAL);
    let stats = client.stats();
    assert_eq!(stats.spool_lost_events, 0, "{stats:?}");
    assert_eq!(stats.dropped_full, 0);
    assert_eq!(stats.failed_events, 0, "{report:?}");
    assert!(stats.spooled_events >= DURING as u64 / 2, "{stats:?}");
    assert!(peak_bytes > 0 && peak_bytes <= CAP, "{peak_bytes}");
    // A copy needs a request whose answer was lost: at most the batch in flight when the
    // server went away.
    assert!(duplicates(&seen) <= 20, "{} duplicates", duplicates(&seen));
}

/// Set in the child process of the SIGKILL test: its spool folder and endpoint.
const CHILD_DIR_ENV: &str = "SPOOL_TEST_CHILD_DIR";
const CHILD_ENDPOINT_ENV: &str = "SPOOL_TEST_CHILD_ENDPOINT";
const CHILD_EVENTS: usize = 400;

/// The producing process of the SIGKILL test, run by it as a child: logs to a server that
/// is down, flushes (so every event is spooled), says so, and waits to be killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as a child process by issue_14_a_killed_process_loses_nothing_spooled"]
async fn spool_child_process() {
    let dir = PathBuf::from(std::env::var(CHILD_DIR_ENV).unwrap());
    let endpoint = std::env::var(CHILD_ENDPOINT_ENV).unwrap();
    let client = builder(&endpoint, &dir).build().unwrap();
    for i in 0..CHILD_EVENTS {
        client
            .log(Event::info(format!("killed-{i}")))
            .await
            .unwrap();
    }
    let report = client.flush(Duration::from_secs(30)).await.unwrap();
    println!("SPOOLED {}", report.spooled_events);
    // Until killed; a parent that died closes stdin, which ends this too.
    let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await;
}

// regression: issue #14
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_a_killed_process_loses_nothing_spooled() {
    let dir = tempfile::tempdir().unwrap();
    let addr = dead_addr();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["spool_child_process", "--exact", "--ignored", "--nocapture"])
        .env(CHILD_DIR_ENV, dir.path())
        .env(CHILD_ENDPOINT_ENV, format!("http://{addr}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let spooled = tokio::task::spawn_blocking(move || {
        stdout
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("SPOOLED ").map(str::to_owned))
    })
    .await
    .unwrap();
    // Another process holds the folder: refused, not shared.
    let endpoint = format!("http://{addr}");
    let refused = builder(&endpoint, dir.path()).build();
    assert!(matches!(refused, Err(Error::SpoolLocked(_))), "{refused:?}");
    // SIGKILL: no destructor, no flush, no unlock; the kernel drops the lock.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        spooled.as_deref(),
        Some("400"),
        "the child did not spool everything"
    );

    let server = Server::start_at(addr, vec![]);
    let client = builder(&server.url(), dir.path()).build().unwrap();
    assert!(
        server.wait_for_events(CHILD_EVENTS as u64, RECOVERY).await,
        "only {} of {CHILD_EVENTS} arrived",
        server.events_received()
    );
    client.shutdown(Duration::from_secs(10)).await.unwrap();
    let seen = arrivals(&[&server]);
    assert_all_arrived(&seen, "killed", CHILD_EVENTS);
    // Nothing reached a server before the kill, so no answer was lost and nothing repeats.
    assert_eq!(duplicates(&seen), 0);
    let stats = client.stats();
    assert_eq!(stats.spool_replayed_events, CHILD_EVENTS as u64);
    assert_eq!(stats.spool_pending_events, 0);
    assert_eq!(stats.spool_lost_events, 0);
}

/// Spools `n` events named `{prefix}-{i}` with the server down, and shuts the client down.
async fn spool_while_down(dir: &Path, prefix: &str, n: usize) -> ClientStats {
    let client = builder(&format!("http://{}", dead_addr()), dir)
        .build()
        .unwrap();
    for i in 0..n {
        client
            .log(Event::info(format!("{prefix}-{i}")))
            .await
            .unwrap();
    }
    let report = client.shutdown(Duration::from_secs(10)).await.unwrap();
    assert_eq!(report.spooled_events, n as u64);
    client.stats()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "spool"))
        .collect();
    paths.sort();
    paths
}

// regression: issue #14
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_a_corrupt_segment_replays_its_good_records_and_counts_the_bad_tail() {
    let dir = tempfile::tempdir().unwrap();
    spool_while_down(dir.path(), "corrupt", 100).await;
    let segment = segments(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    // Five batches of 20; flip a byte in the last one.
    let at = bytes.len() - 100;
    bytes[at] ^= 0x20;
    std::fs::write(&segment, &bytes).unwrap();

    let server = Server::start(vec![]);
    let client = builder(&server.url(), dir.path()).build().unwrap();
    assert!(server.wait_for_events(80, RECOVERY).await);
    client.shutdown(Duration::from_secs(10)).await.unwrap();
    let seen = arrivals(&[&server]);
    assert_all_arrived(&seen, "corrupt", 80);
    assert_eq!(seen.len(), 80);
    let stats = client.stats();
    assert_eq!(stats.spool_corrupt_records, 1, "{stats:?}");
    assert!(stats.spool_corrupt_bytes > 100, "{stats:?}");
    assert_eq!(stats.spool_replayed_events, 80);
}

// regression: issue #14
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_two_clients_on_one_folder_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://{}", dead_addr());
    let first = builder(&endpoint, dir.path()).build().unwrap();
    let err = builder(&endpoint, dir.path()).build().unwrap_err();
    assert!(
        matches!(&err, Error::SpoolLocked(p) if p == dir.path()),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("in use by another client"),
        "{err}"
    );
    first.shutdown(Duration::from_secs(5)).await.unwrap();
    // Released at shutdown.
    let again = builder(&endpoint, dir.path()).build().unwrap();
    again.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// A small tmpfs, unmounted on drop; `None` where mounting is not allowed (not root).
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

// regression: issue #14
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_a_full_disk_is_counted_loss_and_the_client_keeps_sending() {
    let Some(disk) = Tmpfs::mount("256k") else {
        // The same path is covered without a mount by the store's unit test
        // `a_failing_disk_counts_the_loss_and_recovers`.
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    const DOWN: usize = 2_000;
    const UP: usize = 100;
    let addr = dead_addr();
    let client = builder(&format!("http://{addr}"), disk.0.path())
        .build()
        .unwrap();
    for i in 0..DOWN {
        client.log(Event::info(format!("full-{i}"))).await.unwrap();
    }
    let report = client.flush(Duration::from_secs(30)).await.unwrap();
    let stats = client.stats();
    assert!(stats.spool_errors > 0, "{stats:?}");
    assert!(stats.spool_lost_events > 0, "{stats:?}");
    assert_eq!(
        stats.spool_pending_events + stats.spool_lost_events,
        DOWN as u64,
        "every event is on disk or counted lost: {stats:?} {report:?}"
    );

    // Once the server is back, what the spool holds arrives...
    let server = Server::start_at(addr, vec![]);
    let on_disk = stats.spool_pending_events;
    assert!(
        server.wait_for_events(on_disk, RECOVERY).await,
        "{} of {on_disk} arrived",
        server.events_received()
    );
    // ...and so does everything logged afterwards.
    for i in DOWN..DOWN + UP {
        client.log(Event::info(format!("full-{i}"))).await.unwrap();
    }
    assert!(
        server.wait_for_events(on_disk + UP as u64, RECOVERY).await,
        "{} of {} arrived",
        server.events_received(),
        on_disk + UP as u64
    );
    client.shutdown(Duration::from_secs(10)).await.unwrap();
    let seen = arrivals(&[&server]);
    assert_eq!(seen.len() as u64, on_disk + UP as u64);
    assert_eq!(duplicates(&seen), 0);
    assert_eq!(client.stats().spool_lost_events, stats.spool_lost_events);
    drop(disk);
}

// regression: issue #14
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_an_event_that_finds_the_queue_full_goes_to_the_spool() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(vec![]);
    // A slow server: the queue of two fills while a batch of one is in flight.
    server.set_default(support::Reply::ok().delay(Duration::from_millis(300)));
    let client = builder(&server.url(), dir.path())
        .batch_size(1)
        .max_queue_size(2)
        .drop_when_full(false)
        .queue_timeout(Duration::from_millis(20))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut spooled = 0;
    for i in 0..10 {
        let receipt = client
            .log(Event::info(format!("full-queue-{i}")))
            .await
            .unwrap();
        assert!(receipt.queued != receipt.spooled, "{receipt:?}");
        spooled += u64::from(receipt.spooled);
    }
    assert!(spooled > 0, "the queue never filled");
    assert!(server.wait_for_events(10, RECOVERY).await);
    client.shutdown(Duration::from_secs(10)).await.unwrap();
    let seen = arrivals(&[&server]);
    assert_all_arrived(&seen, "full-queue", 10);
    let stats = client.stats();
    assert_eq!(stats.dropped_full, 0);
    assert!(stats.spooled_events >= spooled, "{stats:?}");
}

// regression: issue #14
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_a_replayed_batch_is_the_same_request_so_its_copy_can_be_dropped() {
    let dir = tempfile::tempdir().unwrap();
    // The first answer comes after the client's timeout: the server stored the batch, the
    // client cannot know, spools it and sends it again.
    let server = Server::start(vec![support::Reply::ok().delay(Duration::from_secs(3))]);
    let client = builder(&server.url(), dir.path())
        .batch_size(5)
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    for i in 0..5 {
        client.log(Event::info(format!("copy-{i}"))).await.unwrap();
    }
    let report = client.flush(Duration::from_secs(10)).await.unwrap();
    assert_eq!(report.spooled_events, 5);
    assert_eq!(report.unknown_outcome_events, 5, "the copy is announced");
    let requests = server.wait_for(2).await;
    client.shutdown(Duration::from_secs(10)).await.unwrap();
    let (first, replay) = (&requests[0], &requests[1]);
    let key = first.header("idempotency-key").expect("an idempotency key");
    assert_eq!(replay.header("idempotency-key"), Some(key));
    let ids = |r: &support::Recorded| -> Vec<String> {
        r.logs()
            .iter()
            .map(|l| l["metadata"]["event_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(first), ids(replay));
    assert_eq!(first.body, replay.body);
    let seen = arrivals(&[&server]);
    assert_eq!(duplicates(&seen), 5);
    assert_eq!(client.stats().spool_replayed_events, 5);
}
