//! Enqueue backpressure: the moving average of send time per log, and the pace that turns it
//! into pauses shared by every producer of one client.
//!
//! The pace is a virtual clock (a GCRA, as token-bucket rate limiters use): each accepted
//! enqueue takes the next slot, `seconds per log` after the previous one, and the caller
//! waits until its slot has passed. Because every handle of a client draws slots from the
//! same clock, 32 tasks logging at once together go at the server's rate, not 32 times it.
//! Tokio's timer has millisecond granularity, so a caller less than 1 ms ahead of its slot
//! does not sleep at all; a sleep that overruns is made up by the next callers, whose slots
//! are already due. After an idle spell the clock lags behind real time by at most
//! [`MAX_CREDIT`], so an idle client cannot save up a long burst.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Weight of the newest sample in the send-time moving average.
const SEND_RATE_SMOOTHING: f64 = 0.2;
/// How far ahead of its slot a caller may run without sleeping: one timer tick.
const SLACK: Duration = Duration::from_millis(1);
/// Longest lag of the pace behind real time, i.e. the largest burst an idle client allows.
pub(crate) const MAX_CREDIT: Duration = Duration::from_millis(10);

/// Exponential moving average of seconds per accepted log over successful batch sends.
///
/// The first measured sample replaces the configured seed outright (the original client
/// blended it in at weight 0.2, so a wrong 5 ms seed took dozens of batches to wash out).
#[derive(Debug)]
pub(crate) struct SendRate {
    bits: AtomicU64,
    measured: AtomicBool,
}

impl SendRate {
    pub(crate) fn new(seed: f64) -> Self {
        SendRate {
            bits: AtomicU64::new(seed.max(0.0).to_bits()),
            measured: AtomicBool::new(false),
        }
    }

    /// Current average, in seconds per log.
    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::Relaxed))
    }

    /// Folds in one successful send of `accepted` logs that took `elapsed`.
    ///
    /// Only the worker writes, so a plain load/store is enough.
    pub(crate) fn observe(&self, elapsed: Duration, accepted: u64) {
        if accepted == 0 {
            return;
        }
        let sample = elapsed.as_secs_f64() / accepted as f64;
        let current = self.get();
        let next = if !self.measured.swap(true, Ordering::Relaxed) || current <= 0.0 {
            sample
        } else {
            current * (1.0 - SEND_RATE_SMOOTHING) + sample * SEND_RATE_SMOOTHING
        };
        self.bits.store(next.to_bits(), Ordering::Relaxed);
    }
}

/// The client-wide pace: the end of the last slot handed out, in nanoseconds since `origin`.
#[derive(Debug)]
pub(crate) struct Pace {
    origin: Instant,
    next_ns: AtomicU64,
}

impl Pace {
    pub(crate) fn new() -> Self {
        Pace {
            origin: Instant::now(),
            next_ns: AtomicU64::new(0),
        }
    }

    /// Takes the next slot of length `per_log`; returns when the caller should resume, if
    /// that is more than a timer tick away. A slot never ends more than `max_wait` from now,
    /// so one pause is at most `max_wait`.
    pub(crate) fn reserve(&self, per_log: Duration, max_wait: Duration) -> Option<Instant> {
        let now = nanos(self.origin.elapsed());
        let per_log = nanos(per_log);
        let horizon = now.saturating_add(nanos(max_wait));
        let floor = now.saturating_sub(nanos(MAX_CREDIT));
        let mut cur = self.next_ns.load(Ordering::Relaxed);
        let end = loop {
            let end = cur.max(floor).saturating_add(per_log).min(horizon);
            match self
                .next_ns
                .compare_exchange_weak(cur, end, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break end,
                Err(actual) => cur = actual,
            }
        };
        (end > now.saturating_add(nanos(SLACK))).then(|| self.origin + Duration::from_nanos(end))
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_weights_new_samples_by_a_fifth_after_the_first() {
        let rate = SendRate::new(0.005);
        rate.observe(Duration::from_millis(20), 100); // sample 0.0002 replaces the seed
        assert!((rate.get() - 0.0002).abs() < 1e-12);
        rate.observe(Duration::from_millis(40), 100); // sample 0.0004
        assert!((rate.get() - (0.0002 * 0.8 + 0.0004 * 0.2)).abs() < 1e-12);
        rate.observe(Duration::from_millis(20), 0); // ignored
        assert!((rate.get() - 0.00024).abs() < 1e-12);
    }

    // regression: issue #14
    #[test]
    fn issue_14_the_first_sample_replaces_the_seed() {
        let rate = SendRate::new(0.005);
        rate.observe(Duration::from_millis(10), 100);
        assert!((rate.get() - 0.0001).abs() < 1e-12, "{}", rate.get());
    }

    #[test]
    fn ema_converges_to_the_observed_rate() {
        let rate = SendRate::new(0.005);
        rate.observe(Duration::from_millis(100), 100);
        for _ in 0..30 {
            rate.observe(Duration::from_millis(20), 100);
        }
        assert!((rate.get() - 0.0002).abs() < 0.00001, "{}", rate.get());
    }

    #[tokio::test(start_paused = true)]
    async fn sub_tick_slots_add_up_to_the_rate() {
        let pace = Pace::new();
        let per_log = Duration::from_micros(200);
        let start = Instant::now();
        let mut sleeps = 0;
        for _ in 0..1000 {
            if let Some(at) = pace.reserve(per_log, Duration::from_secs(1)) {
                tokio::time::sleep_until(at).await;
                sleeps += 1;
            }
        }
        // 1000 × 0.2 ms, less at most one tick of slack; in whole-tick sleeps, not 1000.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(199) && took <= Duration::from_millis(200),
            "{took:?}"
        );
        assert!(sleeps < 250, "{sleeps}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_client_may_burst_only_up_to_the_credit() {
        let pace = Pace::new();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let per_log = Duration::from_micros(200);
        let free = (0..100)
            .take_while(|_| pace.reserve(per_log, Duration::from_secs(1)).is_none())
            .count();
        // 10 ms of credit plus 1 ms of slack: 55 slots of 0.2 ms.
        assert_eq!(free, 55);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_never_exceeds_max_wait() {
        let pace = Pace::new();
        let start = Instant::now();
        for _ in 0..5 {
            let at = pace
                .reserve(Duration::from_secs(5), Duration::from_millis(10))
                .unwrap();
            assert!(at - Instant::now() <= Duration::from_millis(10));
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
