//! Adaptive explicit Runge–Kutta integration: Dormand–Prince 5(4) ("DOPRI5").
//!
//! The method is the embedded pair of Dormand & Prince (1980) with the coefficients of
//! Hairer, Nørsett & Wanner, *Solving ODEs I*, Table 5.2 (II.5): a 5th-order solution is
//! propagated (local extrapolation) and the difference to the embedded 4th-order one
//! estimates the local error. The step is accepted when
//!
//! `err = sqrt( (1/N) Σᵢ (eᵢ / (atol + rtol·max(|yᵢ|, |ŷᵢ|)))² ) ≤ 1`
//!
//! and the next step is `h·min(5, max(0.2, 0.9·err^{-1/5}))` (no growth right after a
//! rejection). The initial step follows Hairer's heuristic (II.4). Buffers are allocated
//! once in [`Dopri5::new`]; a step allocates nothing.

use crate::{Error, Result};

/// A first-order system `y' = f(t, y)` of fixed dimension. `rhs` takes `&mut self` so a
/// system can keep scratch buffers and allocate nothing per evaluation.
pub trait OdeSystem {
    fn dim(&self) -> usize;
    fn rhs(&mut self, t: f64, y: &[f64], dydt: &mut [f64]);
}

/// Why an integration stopped before its end time.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OdeError {
    #[error("the solution became non-finite at t = {t}")]
    NonFinite { t: f64 },
    #[error("step size underflow at t = {t} (h = {h:e}); the problem is too stiff or blows up")]
    StepTooSmall { t: f64, h: f64 },
    #[error("more than {max_steps} steps before reaching t = {t_end} (stopped at t = {t})")]
    MaxSteps { t: f64, t_end: f64, max_steps: u64 },
}

/// Counters of one integrator's work since it was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct OdeStats {
    pub accepted: u64,
    pub rejected: u64,
    pub rhs_evals: u64,
}

// Dormand–Prince 5(4) tableau.
const C2: f64 = 1.0 / 5.0;
const C3: f64 = 3.0 / 10.0;
const C4: f64 = 4.0 / 5.0;
const C5: f64 = 8.0 / 9.0;
const A21: f64 = 1.0 / 5.0;
const A31: f64 = 3.0 / 40.0;
const A32: f64 = 9.0 / 40.0;
const A41: f64 = 44.0 / 45.0;
const A42: f64 = -56.0 / 15.0;
const A43: f64 = 32.0 / 9.0;
const A51: f64 = 19372.0 / 6561.0;
const A52: f64 = -25360.0 / 2187.0;
const A53: f64 = 64448.0 / 6561.0;
const A54: f64 = -212.0 / 729.0;
const A61: f64 = 9017.0 / 3168.0;
const A62: f64 = -355.0 / 33.0;
const A63: f64 = 46732.0 / 5247.0;
const A64: f64 = 49.0 / 176.0;
const A65: f64 = -5103.0 / 18656.0;
const A71: f64 = 35.0 / 384.0;
const A73: f64 = 500.0 / 1113.0;
const A74: f64 = 125.0 / 192.0;
const A75: f64 = -2187.0 / 6784.0;
const A76: f64 = 11.0 / 84.0;
// e = b(5th) − b̂(4th).
const E1: f64 = 71.0 / 57600.0;
const E3: f64 = -71.0 / 16695.0;
const E4: f64 = 71.0 / 1920.0;
const E5: f64 = -17253.0 / 339200.0;
const E6: f64 = 22.0 / 525.0;
const E7: f64 = -1.0 / 40.0;

/// The DOPRI5 integrator with its tolerances and work buffers.
#[derive(Clone, Debug)]
pub struct Dopri5 {
    rtol: f64,
    atol: f64,
    /// Most accepted + rejected steps per call of [`Dopri5::integrate`].
    pub max_steps: u64,
    /// The next step size to try (carried over between calls; 0 = choose one).
    h: f64,
    k: [Vec<f64>; 7],
    y_stage: Vec<f64>,
    y_new: Vec<f64>,
    stats: OdeStats,
}

impl Dopri5 {
    /// An integrator for systems of dimension `dim` with relative and absolute
    /// tolerances `rtol, atol > 0`.
    pub fn new(dim: usize, rtol: f64, atol: f64) -> Result<Self> {
        if !(rtol.is_finite() && rtol > 0.0) {
            return Err(Error::invalid(
                "rtol",
                format!("must be a finite number > 0, got {rtol}"),
            ));
        }
        if !(atol.is_finite() && atol > 0.0) {
            return Err(Error::invalid(
                "atol",
                format!("must be a finite number > 0, got {atol}"),
            ));
        }
        Ok(Dopri5 {
            rtol,
            atol,
            max_steps: 1_000_000,
            h: 0.0,
            k: std::array::from_fn(|_| vec![0.0; dim]),
            y_stage: vec![0.0; dim],
            y_new: vec![0.0; dim],
            stats: OdeStats::default(),
        })
    }

    pub fn stats(&self) -> OdeStats {
        self.stats
    }

    /// Forgets the step size and the counters: the integrator then behaves as a fresh
    /// one of the same dimension and tolerances, without allocating.
    pub fn reset(&mut self) {
        self.h = 0.0;
        self.stats = OdeStats::default();
    }

    fn scale(&self, a: f64, b: f64) -> f64 {
        self.atol + self.rtol * a.abs().max(b.abs())
    }

    /// Hairer's starting step (Solving ODEs I, II.4), with `k[0] = f(t, y)` given.
    #[allow(clippy::needless_range_loop)] // several buffers indexed together
    fn initial_step<S: OdeSystem>(&mut self, sys: &mut S, t: f64, y: &[f64], span: f64) -> f64 {
        let n = y.len().max(1) as f64;
        let (mut d0, mut d1) = (0.0, 0.0);
        for (yi, fi) in y.iter().zip(&self.k[0]) {
            let sc = self.atol + self.rtol * yi.abs();
            d0 += (yi / sc).powi(2);
            d1 += (fi / sc).powi(2);
        }
        let (d0, d1) = ((d0 / n).sqrt(), (d1 / n).sqrt());
        let h0 = if d0 < 1e-5 || d1 < 1e-5 {
            1e-6
        } else {
            0.01 * d0 / d1
        }
        .min(span);
        for i in 0..y.len() {
            self.y_stage[i] = y[i] + h0 * self.k[0][i];
        }
        let (ys, k1) = (&self.y_stage, &mut self.k[1]);
        sys.rhs(t + h0, ys, k1);
        self.stats.rhs_evals += 1;
        let mut d2 = 0.0;
        for i in 0..y.len() {
            let sc = self.atol + self.rtol * y[i].abs();
            d2 += ((self.k[1][i] - self.k[0][i]) / sc).powi(2);
        }
        let d2 = (d2 / n).sqrt() / h0;
        let h1 = if d1.max(d2) <= 1e-15 {
            (h0 * 1e-3).max(1e-6)
        } else {
            (0.01 / d1.max(d2)).powf(0.2)
        };
        (100.0 * h0).min(h1).min(span)
    }

    /// Advances `y` from `t` to `t_end` (> `t`), landing exactly on `t_end`. On success
    /// `t == t_end`; on error `t, y` hold the last accepted state.
    #[allow(clippy::needless_range_loop)] // several buffers indexed together
    pub fn integrate<S: OdeSystem>(
        &mut self,
        sys: &mut S,
        t: &mut f64,
        y: &mut [f64],
        t_end: f64,
    ) -> std::result::Result<(), OdeError> {
        debug_assert_eq!(y.len(), sys.dim());
        if t_end <= *t {
            return Ok(());
        }
        let dim = y.len();
        sys.rhs(*t, y, &mut self.k[0]);
        self.stats.rhs_evals += 1;
        if self.k[0].iter().any(|v| !v.is_finite()) {
            return Err(OdeError::NonFinite { t: *t });
        }
        if self.h <= 0.0 {
            self.h = self.initial_step(sys, *t, y, t_end - *t);
        }
        let mut steps = 0u64;
        let mut just_rejected = false;
        loop {
            let remaining = t_end - *t;
            let last = self.h >= remaining;
            let h = if last { remaining } else { self.h };
            if h <= 16.0 * f64::EPSILON * t.abs().max(1.0) {
                return Err(OdeError::StepTooSmall { t: *t, h });
            }
            if steps >= self.max_steps {
                return Err(OdeError::MaxSteps {
                    t: *t,
                    t_end,
                    max_steps: self.max_steps,
                });
            }
            steps += 1;
            self.stage(sys, *t, y, h);
            // Error estimate.
            let mut err = 0.0;
            let k = &self.k;
            for i in 0..dim {
                let e = h
                    * (E1 * k[0][i]
                        + E3 * k[2][i]
                        + E4 * k[3][i]
                        + E5 * k[4][i]
                        + E6 * k[5][i]
                        + E7 * k[6][i]);
                let sc = self.scale(y[i], self.y_new[i]);
                err += (e / sc).powi(2);
            }
            let err = (err / dim.max(1) as f64).sqrt();
            if !err.is_finite() {
                // Treat as a failed step: shrink hard and retry.
                self.stats.rejected += 1;
                self.h = h * 0.1;
                just_rejected = true;
                continue;
            }
            let mut fac = 0.9 * err.max(1e-10).powf(-0.2);
            if err <= 1.0 {
                self.stats.accepted += 1;
                y.copy_from_slice(&self.y_new);
                // FSAL: k7 = f(t + h, y_new) is the next k1.
                self.k.swap(0, 6);
                *t = if last { t_end } else { *t + h };
                if just_rejected {
                    fac = fac.min(1.0);
                }
                just_rejected = false;
                // A step clipped to land on `t_end` leaves the proposed size for the next call.
                if !(last && self.h > h) {
                    self.h = h * fac.clamp(0.2, 5.0);
                }
                if last {
                    if y.iter().any(|v| !v.is_finite()) {
                        return Err(OdeError::NonFinite { t: *t });
                    }
                    return Ok(());
                }
            } else {
                self.stats.rejected += 1;
                self.h = h * fac.clamp(0.2, 1.0);
                just_rejected = true;
            }
        }
    }

    /// The six new stages of one step of size `h` from `(t, y)`, with `k[0] = f(t, y)`;
    /// leaves the 5th-order solution in `y_new` and `f(t + h, y_new)` in `k[6]`.
    #[allow(clippy::needless_range_loop)] // several buffers indexed together
    fn stage<S: OdeSystem>(&mut self, sys: &mut S, t: f64, y: &[f64], h: f64) {
        let dim = y.len();
        let rows: [(&[f64], f64); 6] = [
            (&[A21], C2),
            (&[A31, A32], C3),
            (&[A41, A42, A43], C4),
            (&[A51, A52, A53, A54], C5),
            (&[A61, A62, A63, A64, A65], 1.0),
            (&[A71, 0.0, A73, A74, A75, A76], 1.0),
        ];
        for (s, (a, c)) in rows.iter().enumerate() {
            for i in 0..dim {
                let mut acc = 0.0;
                for (j, aj) in a.iter().enumerate() {
                    acc += aj * self.k[j][i];
                }
                self.y_stage[i] = y[i] + h * acc;
            }
            if s == 5 {
                self.y_new.copy_from_slice(&self.y_stage);
            }
            let (ys, ks) = (&self.y_stage, &mut self.k[s + 1]);
            sys.rhs(t + c * h, ys, ks);
            self.stats.rhs_evals += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Linear(f64);
    impl OdeSystem for Linear {
        fn dim(&self) -> usize {
            1
        }
        fn rhs(&mut self, _t: f64, y: &[f64], d: &mut [f64]) {
            d[0] = self.0 * y[0];
        }
    }

    /// Harmonic oscillator y'' = −ω² y written as a first-order system.
    struct Oscillator(f64);
    impl OdeSystem for Oscillator {
        fn dim(&self) -> usize {
            2
        }
        fn rhs(&mut self, _t: f64, y: &[f64], d: &mut [f64]) {
            d[0] = y[1];
            d[1] = -self.0 * self.0 * y[0];
        }
    }

    /// The scalar Riccati equation s' = −2s², s(t) = 1/(1/s₀ + 2t): the slow mode of the
    /// factorization flow.
    struct Riccati;
    impl OdeSystem for Riccati {
        fn dim(&self) -> usize {
            1
        }
        fn rhs(&mut self, _t: f64, y: &[f64], d: &mut [f64]) {
            d[0] = -2.0 * y[0] * y[0];
        }
    }

    /// Time-dependent: y' = cos t, y = sin t.
    struct Forced;
    impl OdeSystem for Forced {
        fn dim(&self) -> usize {
            1
        }
        fn rhs(&mut self, t: f64, _y: &[f64], d: &mut [f64]) {
            d[0] = t.cos();
        }
    }

    #[test]
    fn oscillator_matches_its_closed_form_at_tight_tolerance() {
        let mut ode = Dopri5::new(2, 1e-10, 1e-12).unwrap();
        let (mut t, mut y) = (0.0, [1.0, 0.0]);
        let w = 2.0;
        for k in 1..=20 {
            let t1 = k as f64 * 0.5;
            ode.integrate(&mut Oscillator(w), &mut t, &mut y, t1)
                .unwrap();
            assert_eq!(t, t1);
            assert!((y[0] - (w * t1).cos()).abs() < 1e-8, "t={t1}: {}", y[0]);
            assert!((y[1] + w * (w * t1).sin()).abs() < 1e-8, "t={t1}: {}", y[1]);
        }
    }

    #[test]
    fn error_shrinks_with_the_tolerance() {
        let run = |tol: f64| {
            let mut ode = Dopri5::new(2, tol, tol).unwrap();
            let (mut t, mut y) = (0.0, [1.0, 0.0]);
            ode.integrate(&mut Oscillator(1.0), &mut t, &mut y, 10.0)
                .unwrap();
            ((y[0] - 10f64.cos()).abs(), ode.stats())
        };
        let (e_loose, s_loose) = run(1e-5);
        let (e_tight, s_tight) = run(1e-10);
        assert!(
            e_tight < 1e-8 && e_loose > 10.0 * e_tight,
            "{e_loose} {e_tight}"
        );
        // Fifth order: 1e5 tighter tolerance costs about 10^(5/5) = 10× more steps, not 1e5.
        let ratio = s_tight.accepted as f64 / s_loose.accepted as f64;
        assert!((4.0..40.0).contains(&ratio), "step ratio {ratio}");
    }

    #[test]
    fn slow_riccati_mode_and_decay_and_time_dependence() {
        let mut ode = Dopri5::new(1, 1e-10, 1e-14).unwrap();
        let (mut t, mut y) = (0.0, [3.0]);
        for &t1 in &[0.1, 1.0, 10.0, 100.0, 1000.0] {
            ode.integrate(&mut Riccati, &mut t, &mut y, t1).unwrap();
            let exact = 1.0 / (1.0 / 3.0 + 2.0 * t1);
            assert!(((y[0] - exact) / exact).abs() < 1e-8, "t={t1}");
        }
        let mut ode = Dopri5::new(1, 1e-10, 1e-14).unwrap();
        let (mut t, mut y) = (0.0, [1.0]);
        ode.integrate(&mut Linear(-3.0), &mut t, &mut y, 5.0)
            .unwrap();
        assert!(((y[0] - (-15f64).exp()) / (-15f64).exp()).abs() < 1e-7);
        let (mut t, mut y) = (0.0, [0.0]);
        let mut ode = Dopri5::new(1, 1e-10, 1e-12).unwrap();
        ode.integrate(&mut Forced, &mut t, &mut y, 7.0).unwrap();
        assert!((y[0] - 7f64.sin()).abs() < 1e-9);
    }

    /// After `reset`, a used integrator gives the bits of a fresh one.
    #[test]
    fn reset_gives_the_bits_of_a_fresh_integrator() {
        let run = |ode: &mut Dopri5| {
            let (mut t, mut y) = (0.0, [1.0, 0.0]);
            for t1 in [0.5, 2.0, 7.0] {
                ode.integrate(&mut Oscillator(3.0), &mut t, &mut y, t1)
                    .unwrap();
            }
            (y.map(f64::to_bits), ode.stats())
        };
        let mut used = Dopri5::new(2, 1e-9, 1e-11).unwrap();
        let first = run(&mut used);
        used.reset();
        assert_eq!(run(&mut used), first);
        assert_eq!(run(&mut Dopri5::new(2, 1e-9, 1e-11).unwrap()), first);
    }

    #[test]
    fn blow_up_is_an_error_not_a_panic() {
        // y' = y², y(0) = 1 blows up at t = 1.
        struct Blow;
        impl OdeSystem for Blow {
            fn dim(&self) -> usize {
                1
            }
            fn rhs(&mut self, _t: f64, y: &[f64], d: &mut [f64]) {
                d[0] = y[0] * y[0];
            }
        }
        let mut ode = Dopri5::new(1, 1e-8, 1e-10).unwrap();
        ode.max_steps = 100_000;
        let (mut t, mut y) = (0.0, [1.0]);
        let err = ode.integrate(&mut Blow, &mut t, &mut y, 2.0).unwrap_err();
        assert!(t < 1.001 && y[0].abs() > 1e6, "{err} at {t}");
        assert!(Dopri5::new(1, 0.0, 1e-9).is_err());
        assert!(Dopri5::new(1, 1e-9, -1.0).is_err());
        assert!(Dopri5::new(1, f64::NAN, 1e-9).is_err());
    }
}
