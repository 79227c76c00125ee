//! A log-bucketed histogram of durations with a fixed cap on its size.
//!
//! Each power of two between [`MIN_TRACKED_MS`] (about 1 ns) and [`MAX_TRACKED_MS`] (about
//! 557 years) is split into 64 equal buckets: 4,096 buckets in all. A histogram holds only
//! the buckets it has seen (a sorted list) until it has seen [`DENSE_AFTER`] of them, then
//! switches to an array spanning its smallest to largest bucket; either way it never holds
//! more than 4,096 counters (32 KiB), whatever the input.
//!
//! # Accuracy
//!
//! A percentile is the nearest-rank value (the smallest recorded value with at least p% of
//! values at or below it), reported as its bucket's midpoint, clamped to the exact min and
//! max: within 1/128 (0.8%) of the exact value for durations from 1 ns to 557 years. Values
//! below 1 ns count as 0; a percentile that falls above 557 years reports the exact max.

/// Sub-buckets per power of two, as a power of two: 2^6 = 64 buckets, relative width 1/64.
const SUB_BUCKET_BITS: u32 = 6;
/// Smallest power of two tracked: 2^-20 ms ≈ 0.95 ns; below counts as 0.
const MIN_EXPONENT: i32 = -20;
/// Powers of two tracked: 2^-20 up to 2^44 ms (about 557 years).
const EXPONENTS: i32 = 64;
/// Total buckets: 64 powers of two × 64 sub-buckets.
const BUCKETS: usize = (EXPONENTS as usize) << SUB_BUCKET_BITS;
/// Smallest duration in a bucket, in ms; below it a value counts as 0.
pub(crate) const MIN_TRACKED_MS: f64 = power_of_two(MIN_EXPONENT);
/// Largest duration in a bucket, in ms; above it a value is only counted (and in `max`).
pub(crate) const MAX_TRACKED_MS: f64 = power_of_two(MIN_EXPONENT + EXPONENTS);
/// A histogram switches from its sorted list to an array after this many distinct buckets.
const DENSE_AFTER: usize = 128;

/// 2^e as an `f64`, for a normal exponent.
const fn power_of_two(e: i32) -> f64 {
    f64::from_bits(((1023 + e) as u64) << 52)
}

/// Where a histogram keeps its counts.
#[derive(Debug, Clone)]
enum Buckets {
    /// `(bucket, count)`, sorted by bucket.
    Sparse(Vec<(u16, u64)>),
    /// Counts of buckets `first..first + counts.len()`.
    Dense { first: u16, counts: Vec<u64> },
}

/// Streaming histogram of non-negative durations; see the module docs for its accuracy.
#[derive(Debug, Clone)]
pub(crate) struct Histogram {
    buckets: Buckets,
    /// Values below [`MIN_TRACKED_MS`].
    zeros: u64,
    /// Values above [`MAX_TRACKED_MS`].
    huge: u64,
    total: u64,
    min: f64,
    max: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: Buckets::Sparse(Vec::new()),
            zeros: 0,
            huge: 0,
            total: 0,
            min: 0.0,
            max: 0.0,
        }
    }
}

/// The bucket of a value within the tracked range.
fn bucket_of(v: f64) -> u16 {
    let bits = v.to_bits() >> (52 - SUB_BUCKET_BITS);
    let min_bits = MIN_TRACKED_MS.to_bits() >> (52 - SUB_BUCKET_BITS);
    ((bits - min_bits) as usize).min(BUCKETS - 1) as u16
}

/// The midpoint of a bucket.
fn midpoint(bucket: u16) -> f64 {
    let min_bits = MIN_TRACKED_MS.to_bits() >> (52 - SUB_BUCKET_BITS);
    let key = min_bits + u64::from(bucket);
    let lo = f64::from_bits(key << (52 - SUB_BUCKET_BITS));
    let hi = f64::from_bits((key + 1) << (52 - SUB_BUCKET_BITS));
    lo + (hi - lo) / 2.0
}

impl Histogram {
    /// Records one value; NaN and negative values count as 0, infinity as `f64::MAX`.
    pub(crate) fn record(&mut self, v: f64) {
        let v = if v.is_nan() || v < 0.0 {
            0.0
        } else {
            v.min(f64::MAX)
        };
        if self.total == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.total += 1;
        if v < MIN_TRACKED_MS {
            self.zeros += 1;
        } else if v >= MAX_TRACKED_MS {
            self.huge += 1;
        } else {
            self.add(bucket_of(v), 1);
        }
    }

    fn add(&mut self, bucket: u16, n: u64) {
        match &mut self.buckets {
            Buckets::Sparse(list) => {
                match list.binary_search_by_key(&bucket, |&(b, _)| b) {
                    Ok(i) => list[i].1 += n,
                    Err(i) => list.insert(i, (bucket, n)),
                }
                if list.len() > DENSE_AFTER {
                    let first = list[0].0;
                    let last = list[list.len() - 1].0;
                    let mut counts = vec![0; usize::from(last - first) + 1];
                    for &(b, c) in list.iter() {
                        counts[usize::from(b - first)] = c;
                    }
                    self.buckets = Buckets::Dense { first, counts };
                }
            }
            Buckets::Dense { first, counts } => {
                if bucket < *first {
                    let grow = usize::from(*first - bucket);
                    counts.splice(0..0, std::iter::repeat_n(0, grow));
                    *first = bucket;
                } else if usize::from(bucket - *first) >= counts.len() {
                    counts.resize(usize::from(bucket - *first) + 1, 0);
                }
                counts[usize::from(bucket - *first)] += n;
            }
        }
    }

    /// Adds every value of `other`.
    pub(crate) fn merge(&mut self, other: &Histogram) {
        if other.total == 0 {
            return;
        }
        if self.total == 0 {
            *self = other.clone();
            return;
        }
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.total += other.total;
        self.zeros += other.zeros;
        self.huge += other.huge;
        for (bucket, count) in other.iter() {
            self.add(bucket, count);
        }
    }

    /// `(bucket, count)` of every non-empty bucket, in order.
    fn iter(&self) -> Box<dyn Iterator<Item = (u16, u64)> + '_> {
        match &self.buckets {
            Buckets::Sparse(list) => Box::new(list.iter().copied()),
            Buckets::Dense { first, counts } => Box::new(
                counts
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c > 0)
                    .map(move |(i, &c)| (*first + i as u16, c)),
            ),
        }
    }

    /// Number of values recorded.
    pub(crate) fn len(&self) -> u64 {
        self.total
    }

    /// The largest value recorded (exact); `None` when empty.
    pub(crate) fn max(&self) -> Option<f64> {
        (self.total > 0).then_some(self.max)
    }

    /// The nearest-rank `p`-th percentile (`0.0..=100.0`), within 1% of the exact value;
    /// `None` when empty.
    pub(crate) fn percentile(&self, p: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((p / 100.0 * self.total as f64).ceil() as u64).clamp(1, self.total);
        if rank == self.total {
            return Some(self.max);
        }
        let mut seen = self.zeros;
        if seen >= rank {
            return Some(self.min);
        }
        for (bucket, count) in self.iter() {
            seen += count;
            if seen >= rank {
                return Some(midpoint(bucket).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }

    /// Counters held, for the memory bound's test.
    #[cfg(test)]
    fn counters(&self) -> usize {
        match &self.buckets {
            Buckets::Sparse(list) => list.len(),
            Buckets::Dense { counts, .. } => counts.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact nearest-rank percentile, for comparison.
    fn exact(sorted: &[f64], p: f64) -> f64 {
        let rank = ((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    #[test]
    fn percentiles_are_within_one_percent() {
        // A skewed, wide-range sample: 1 µs up to ~10 minutes.
        let mut values: Vec<f64> = (0..20_000u64)
            .map(|i| 0.001 * 1.0007f64.powi(i as i32) + (i % 7) as f64 * 0.01)
            .collect();
        let mut h = Histogram::default();
        for &v in &values {
            h.record(v);
        }
        values.sort_by(f64::total_cmp);
        for p in [1.0, 10.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0] {
            let want = exact(&values, p);
            let got = h.percentile(p).unwrap();
            assert!(
                (got - want).abs() <= want * 0.01,
                "p{p}: got {got}, exact {want}"
            );
        }
        assert_eq!(h.percentile(100.0), Some(*values.last().unwrap()));
    }

    #[test]
    fn merged_halves_equal_the_whole() {
        let values: Vec<f64> = (1..5_000u32)
            .map(|i| f64::from(i).powf(1.7) / 10.0)
            .collect();
        let (mut whole, mut a, mut b) = (
            Histogram::default(),
            Histogram::default(),
            Histogram::default(),
        );
        for (i, &v) in values.iter().enumerate() {
            whole.record(v);
            if i % 3 == 0 { a.record(v) } else { b.record(v) }
        }
        a.merge(&b);
        for p in [50.0, 95.0, 99.0, 99.9] {
            assert_eq!(a.percentile(p), whole.percentile(p), "p{p}");
        }
        assert_eq!((a.len(), a.max()), (whole.len(), whole.max()));
    }

    #[test]
    fn hostile_ranges_stay_within_the_cap() {
        let mut h = Histogram::default();
        let (mut v, mut largest) = (1e-7, 0.0);
        while v < 1e308 {
            h.record(v);
            h.record(v * 1.01);
            largest = v * 1.01;
            v *= 1.5;
        }
        assert!(h.counters() <= BUCKETS, "{}", h.counters());
        assert_eq!(h.max(), Some(largest));
        assert_eq!(h.percentile(100.0), h.max());
        assert_eq!(h.percentile(0.0), Some(1e-7));
    }

    #[test]
    fn zero_and_single_values_are_exact() {
        let mut h = Histogram::default();
        assert_eq!(h.percentile(50.0), None);
        h.record(0.0);
        assert_eq!(h.percentile(50.0), Some(0.0));
        h.record(5.0);
        h.record(-1.0);
        assert_eq!(h.percentile(100.0), Some(5.0));
        assert_eq!(h.percentile(50.0), Some(0.0));
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn the_tracked_range_is_what_the_docs_say() {
        assert_eq!(MIN_TRACKED_MS, 2f64.powi(MIN_EXPONENT));
        assert_eq!(MAX_TRACKED_MS, 2f64.powi(MIN_EXPONENT + EXPONENTS));
        assert_eq!(
            usize::from(bucket_of(MAX_TRACKED_MS * 0.999_999)),
            BUCKETS - 1
        );
        assert_eq!(bucket_of(MIN_TRACKED_MS), 0);
    }
}
