//! Enqueue backpressure: the moving average of send time per log, and the pacer that turns
//! sub-millisecond pauses into whole-millisecond sleeps.
//!
//! After each accepted enqueue the caller owes a pause equal to the current average seconds
//! per accepted log (capped at `max_enqueue_sleep`). Tokio's timer has millisecond
//! granularity, so sleeping 0.2 ms per call would really sleep 1 ms or more. Instead, pauses
//! are added to a per-client debt and paid in whole milliseconds once the debt reaches 1 ms;
//! when a sleep overruns, the overrun is credited against later pauses. Over many calls the
//! producer's rate converges to the observed send rate.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Weight of the newest sample in the send-time moving average.
const SEND_RATE_SMOOTHING: f64 = 0.2;
const MS: i64 = 1_000_000;
/// Longest overrun credited against future pauses, so a long stall cannot buy a burst.
const MAX_CREDIT_NS: i64 = 10 * MS;

/// Exponential moving average of seconds per accepted log over successful batch sends.
#[derive(Debug)]
pub(crate) struct SendRate {
    bits: AtomicU64,
}

impl SendRate {
    pub(crate) fn new(seed: f64) -> Self {
        SendRate {
            bits: AtomicU64::new(seed.max(0.0).to_bits()),
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
        let next = if current <= 0.0 {
            sample
        } else {
            current * (1.0 - SEND_RATE_SMOOTHING) + sample * SEND_RATE_SMOOTHING
        };
        self.bits.store(next.to_bits(), Ordering::Relaxed);
    }
}

/// Per-client sleep debt, in nanoseconds; negative values are credit from overrun sleeps.
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    debt_ns: AtomicI64,
}

impl Pacer {
    /// Adds `pause` to the debt; returns the whole milliseconds the caller must sleep now.
    pub(crate) fn charge(&self, pause: Duration) -> Option<Duration> {
        let add = i64::try_from(pause.as_nanos()).unwrap_or(i64::MAX / 2);
        let mut cur = self.debt_ns.load(Ordering::Relaxed);
        loop {
            let total = cur.saturating_add(add);
            let pay = if total >= MS { total - total % MS } else { 0 };
            match self.debt_ns.compare_exchange_weak(
                cur,
                total - pay,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) if pay > 0 => return Some(Duration::from_nanos(pay as u64)),
                Ok(_) => return None,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Credits the part of a sleep that ran longer than `planned`.
    pub(crate) fn settle(&self, planned: Duration, actual: Duration) {
        let over = actual.saturating_sub(planned);
        let over = i64::try_from(over.as_nanos())
            .unwrap_or(i64::MAX)
            .min(MAX_CREDIT_NS);
        if over > 0 {
            let _ = self
                .debt_ns
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                    Some((d - over).max(-MAX_CREDIT_NS))
                });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_weights_new_samples_by_a_fifth() {
        let rate = SendRate::new(0.005);
        rate.observe(Duration::from_millis(20), 100); // sample 0.0002
        assert!((rate.get() - (0.005 * 0.8 + 0.0002 * 0.2)).abs() < 1e-12);
        rate.observe(Duration::from_millis(20), 0); // ignored
        assert!((rate.get() - 0.00404).abs() < 1e-12);
    }

    #[test]
    fn ema_converges_to_the_observed_rate() {
        let rate = SendRate::new(0.005);
        for _ in 0..60 {
            rate.observe(Duration::from_millis(20), 100);
        }
        assert!((rate.get() - 0.0002).abs() < 0.00001, "{}", rate.get());
    }

    #[test]
    fn zero_seed_takes_the_first_sample() {
        let rate = SendRate::new(0.0);
        rate.observe(Duration::from_millis(10), 10);
        assert!((rate.get() - 0.001).abs() < 1e-12);
    }

    #[test]
    fn pacer_pays_whole_milliseconds() {
        let pacer = Pacer::default();
        let pause = Duration::from_micros(200);
        let paid: Vec<Option<Duration>> = (0..10).map(|_| pacer.charge(pause)).collect();
        let sleeps: Vec<_> = paid.iter().flatten().collect();
        assert_eq!(
            sleeps,
            [&Duration::from_millis(1), &Duration::from_millis(1)]
        );
        assert_eq!(paid.iter().position(Option::is_some), Some(4));
    }

    #[test]
    fn pacer_credits_overrun_sleeps() {
        let pacer = Pacer::default();
        let pause = Duration::from_micros(250);
        for _ in 0..3 {
            assert_eq!(pacer.charge(pause), None);
        }
        // Debt is 0.75 ms; a 1 ms sleep that took 2 ms leaves 0.25 ms of credit.
        pacer.settle(Duration::from_millis(1), Duration::from_millis(2));
        for _ in 0..4 {
            assert_eq!(pacer.charge(pause), None);
        }
        assert_eq!(pacer.charge(pause), Some(Duration::from_millis(1)));
    }

    #[test]
    fn pacer_caps_credit() {
        let pacer = Pacer::default();
        pacer.settle(Duration::ZERO, Duration::from_secs(5));
        assert_eq!(
            pacer.charge(Duration::from_millis(11)),
            Some(Duration::from_millis(1))
        );
    }

    #[test]
    fn large_pauses_are_paid_at_once() {
        let pacer = Pacer::default();
        assert_eq!(
            pacer.charge(Duration::from_micros(2500)),
            Some(Duration::from_millis(2))
        );
    }
}
