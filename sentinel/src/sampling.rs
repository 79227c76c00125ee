//! Sampling: decided once at a trace's root, inherited by every child.

use crate::context::random_unit;

/// Whether a new trace started with probability `p` is kept. `p >= 1` always
/// keeps (and draws no random number), `p <= 0` never does.
#[inline]
pub(crate) fn keep(p: f64) -> bool {
    if p >= 1.0 {
        true
    } else if p > 0.0 {
        random_unit() < p
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_are_exact() {
        assert!((0..1000).all(|_| keep(1.0)));
        assert!((0..1000).all(|_| !keep(0.0)));
        assert!((0..1000).all(|_| !keep(f64::NAN)));
    }

    #[test]
    fn half_keeps_about_half() {
        let kept = (0..100_000).filter(|_| keep(0.5)).count();
        // 10 standard deviations from 50,000.
        assert!((45_000..55_000).contains(&kept), "{kept}");
    }
}
