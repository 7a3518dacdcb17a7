//! Summary statistics of Monte Carlo samples.

use serde::Serialize;

/// Mean, standard error of the mean and five quantiles of a sample.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub mean: f64,
    /// Standard error of the mean, `sd / sqrt(N)`.
    pub se: f64,
    pub q05: f64,
    pub q25: f64,
    pub q50: f64,
    pub q75: f64,
    pub q95: f64,
}

/// The quantile levels reported in every summary.
pub const LEVELS: [f64; 5] = [0.05, 0.25, 0.5, 0.75, 0.95];

impl Summary {
    /// Summarises a non-empty sample. Returns `None` for an empty one.
    pub fn of(sample: &[f64]) -> Option<Summary> {
        if sample.is_empty() {
            return None;
        }
        let n = sample.len() as f64;
        let mean = sample.iter().sum::<f64>() / n;
        let var = if sample.len() > 1 {
            sample.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        let mut sorted = sample.to_vec();
        sorted.sort_by(f64::total_cmp);
        let q = |p| quantile_sorted(&sorted, p);
        Some(Summary {
            mean,
            se: (var / n).sqrt(),
            q05: q(0.05),
            q25: q(0.25),
            q50: q(0.5),
            q75: q(0.75),
            q95: q(0.95),
        })
    }

    /// The quantiles in the order of [`LEVELS`].
    pub fn quantiles(&self) -> [f64; 5] {
        [self.q05, self.q25, self.q50, self.q75, self.q95]
    }
}

/// Empirical quantile of a sorted sample by linear interpolation between order
/// statistics (Hyndman–Fan type 7, NumPy's default).
pub fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The two-sample Kolmogorov–Smirnov distance `sup_x |F_a(x) − F_b(x)|` between the
/// empirical distribution functions of two samples (sorted internally; ties are
/// stepped over together).
pub fn ks_two_sample(a: &[f64], b: &[f64]) -> f64 {
    let sorted = |s: &[f64]| {
        let mut v = s.to_vec();
        v.sort_by(f64::total_cmp);
        v
    };
    let (a, b) = (sorted(a), sorted(b));
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / na - j as f64 / nb).abs());
    }
    d
}

/// The asymptotic critical value of [`ks_two_sample`] at level 0.001 for samples of sizes
/// `na` and `nb`: `c·√((na + nb)/(na·nb))` with `c = √(−ln(0.001/2)/2) ≈ 1.949`.
pub fn ks_two_sample_critical_001(na: usize, nb: usize) -> f64 {
    let c = (-(0.0005f64).ln() / 2.0).sqrt();
    c * ((na + nb) as f64 / (na as f64 * nb as f64)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed distances: disjoint samples are 1 apart, interleaved ones 1/n, and
    /// ties are stepped over together.
    #[test]
    fn two_sample_ks_by_hand() {
        assert_eq!(ks_two_sample(&[1.0, 2.0], &[3.0, 4.0]), 1.0);
        assert_eq!(ks_two_sample(&[1.0, 3.0], &[2.0, 4.0]), 0.5);
        assert_eq!(ks_two_sample(&[1.0, 2.0, 2.0], &[2.0, 2.0, 2.0]), 1.0 / 3.0);
        assert!((ks_two_sample_critical_001(100, 100) - 1.9495 * 0.02f64.sqrt()).abs() < 1e-3);
    }

    #[test]
    fn summary_matches_hand_computation() {
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0, 5.0]).unwrap();
        assert_eq!(s.mean, 3.0);
        assert!((s.se - (2.5f64 / 5.0).sqrt()).abs() < 1e-15);
        assert_eq!(s.q50, 3.0);
        assert_eq!(s.q25, 2.0);
        assert!((s.q05 - 1.2).abs() < 1e-15);
        assert!(Summary::of(&[]).is_none());
    }
}
