//! Small least-squares fits for reproducing published curve fits.
//!
//! [`linear_least_squares`] solves `min_c Σᵢ (yᵢ − Σⱼ cⱼ φⱼ(xᵢ))²` for given basis
//! functions and reports `R² = 1 − SS_res/SS_tot`. The three fits of Tinati & Tu's
//! Figure 2 are thin wrappers: a quadratic `aK² + bK + c`, a logarithm `a + b log d`
//! and a power law `Cβ^α` (fitted as a straight line in log–log coordinates, so its
//! `R²` is that of `log y`).

// Index loops mirror the formulas; `!(x > 0)` comparisons deliberately reject NaN.
#![allow(
    clippy::needless_range_loop,
    clippy::neg_cmp_op_on_partial_ord,
    clippy::type_complexity
)]

use faer::Mat;

use crate::linalg::pinv_psd;
use crate::{Error, Result};

/// Coefficients of a least-squares fit and its coefficient of determination.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Fit {
    /// One coefficient per basis function, in the order given.
    pub coefficients: Vec<f64>,
    /// `1 − SS_res/SS_tot` on the scale the fit was made on.
    pub r_squared: f64,
}

/// A straight line `y = a + b x` fitted by weighted least squares, each point weighted
/// by `1/se²`, with the standard errors of `a` and `b` from those weights.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Line {
    pub intercept: f64,
    pub intercept_se: f64,
    pub slope: f64,
    pub slope_se: f64,
}

/// Weighted least squares of `y = a + b x` with known standard errors `se` of the `y`
/// (all > 0): with `S = Σw`, `Sx = Σwx`, `Sy = Σwy`, `Sxx = Σwx²`, `Sxy = Σwxy`,
/// `w = 1/se²` and `Δ = S·Sxx − Sx²`, `a = (Sxx·Sy − Sx·Sxy)/Δ`, `b = (S·Sxy − Sx·Sy)/Δ`,
/// `Var a = Sxx/Δ`, `Var b = S/Δ`. Needs two distinct `x`.
pub fn weighted_line(x: &[f64], y: &[f64], se: &[f64]) -> Result<Line> {
    if x.len() != y.len() || x.len() != se.len() || x.len() < 2 {
        return Err(Error::invalid(
            "y",
            "needs at least two points with an s.e. each",
        ));
    }
    if se.iter().any(|s| !(*s > 0.0 && s.is_finite())) {
        return Err(Error::Numerical(
            "a standard error is not a finite number > 0".into(),
        ));
    }
    let (mut s, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for ((&x, &y), &e) in x.iter().zip(y).zip(se) {
        let w = 1.0 / (e * e);
        s += w;
        sx += w * x;
        sy += w * y;
        sxx += w * x * x;
        sxy += w * x * y;
    }
    let delta = s * sxx - sx * sx;
    if !(delta > 0.0) {
        return Err(Error::Numerical(
            "the points do not have two distinct x".into(),
        ));
    }
    Ok(Line {
        intercept: (sxx * sy - sx * sxy) / delta,
        intercept_se: (sxx / delta).sqrt(),
        slope: (s * sxy - sx * sy) / delta,
        slope_se: (s / delta).sqrt(),
    })
}

/// Least squares on basis functions `basis[j](x)`. Needs at least as many finite points
/// as basis functions.
pub fn linear_least_squares(x: &[f64], y: &[f64], basis: &[&dyn Fn(f64) -> f64]) -> Result<Fit> {
    if x.len() != y.len() {
        return Err(Error::invalid("y", "must have as many values as x"));
    }
    let q = basis.len();
    if x.len() < q || q == 0 {
        return Err(Error::invalid(
            "x",
            format!(
                "needs at least {q} points for {q} coefficients, got {}",
                x.len()
            ),
        ));
    }
    if x.iter().chain(y).any(|v| !v.is_finite()) {
        return Err(Error::invalid("y", "values must be finite"));
    }
    let a = Mat::from_fn(x.len(), q, |i, j| basis[j](x[i]));
    let yv = Mat::from_fn(y.len(), 1, |i, _| y[i]);
    let coef = pinv_psd((a.transpose() * &a).as_ref())? * (a.transpose() * &yv);
    let fitted = &a * &coef;
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let ss_tot: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    let ss_res: f64 = (0..y.len()).map(|i| (y[i] - fitted[(i, 0)]).powi(2)).sum();
    Ok(Fit {
        coefficients: (0..q).map(|j| coef[(j, 0)]).collect(),
        r_squared: if ss_tot > 0.0 {
            1.0 - ss_res / ss_tot
        } else {
            1.0
        },
    })
}

/// `y ≈ a x² + b x + c`; coefficients `[a, b, c]`.
pub fn quadratic(x: &[f64], y: &[f64]) -> Result<Fit> {
    linear_least_squares(x, y, &[&|v| v * v, &|v| v, &|_| 1.0])
}

/// `y ≈ a + b ln x` (`x > 0`); coefficients `[a, b]`.
pub fn logarithmic(x: &[f64], y: &[f64]) -> Result<Fit> {
    if x.iter().any(|&v| !(v > 0.0)) {
        return Err(Error::invalid("x", "must be > 0 for a logarithmic fit"));
    }
    linear_least_squares(x, y, &[&|_| 1.0, &|v| v.ln()])
}

/// `y ≈ C x^α` (`x, y > 0`), fitted as `ln y = ln C + α ln x`; coefficients `[C, α]`,
/// `R²` of `ln y`.
pub fn power_law(x: &[f64], y: &[f64]) -> Result<Fit> {
    if x.iter().chain(y).any(|&v| !(v > 0.0)) {
        return Err(Error::invalid(
            "y",
            "x and y must be > 0 for a power-law fit",
        ));
    }
    let lx: Vec<f64> = x.iter().map(|v| v.ln()).collect();
    let ly: Vec<f64> = y.iter().map(|v| v.ln()).collect();
    let f = linear_least_squares(&lx, &ly, &[&|_| 1.0, &|v| v])?;
    Ok(Fit {
        coefficients: vec![f.coefficients[0].exp(), f.coefficients[1]],
        r_squared: f.r_squared,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact points recover the line; the intercept's s.e. matches the textbook formula
    /// for equal errors, `σ √(Σx² / (N Σ(x − x̄)²))`.
    #[test]
    fn weighted_line_recovers_a_line_and_its_errors() {
        let x = [1.0, 0.5, 0.25];
        let y: Vec<f64> = x.iter().map(|x| 2.0 - 3.0 * x).collect();
        let l = weighted_line(&x, &y, &[0.1; 3]).unwrap();
        assert!((l.intercept - 2.0).abs() < 1e-12 && (l.slope + 3.0).abs() < 1e-12);
        let mean = x.iter().sum::<f64>() / 3.0;
        let sxx: f64 = x.iter().map(|v| (v - mean).powi(2)).sum();
        let x2: f64 = x.iter().map(|v| v * v).sum();
        let want = 0.1 * (x2 / (3.0 * sxx)).sqrt();
        assert!((l.intercept_se - want).abs() < 1e-12);
        assert!(weighted_line(&[1.0, 1.0], &[0.0, 1.0], &[1.0, 1.0]).is_err());
    }

    /// Exact data are recovered with R² = 1; noisy data give R² < 1.
    #[test]
    fn fits_recover_known_curves() {
        let x: Vec<f64> = (1..=12).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|k| -0.3 * k * k + 2.0 * k + 0.5).collect();
        let f = quadratic(&x, &y).unwrap();
        for (c, e) in f.coefficients.iter().zip([-0.3, 2.0, 0.5]) {
            assert!((c - e).abs() < 1e-9, "{c} vs {e}");
        }
        assert!((f.r_squared - 1.0).abs() < 1e-12);
        let y: Vec<f64> = x.iter().map(|d| 0.01 + 0.004 * d.ln()).collect();
        let f = logarithmic(&x, &y).unwrap();
        assert!(
            (f.coefficients[0] - 0.01).abs() < 1e-12 && (f.coefficients[1] - 0.004).abs() < 1e-12
        );
        let y: Vec<f64> = x.iter().map(|b| 18.0 * b.powf(-2.5)).collect();
        let f = power_law(&x, &y).unwrap();
        assert!((f.coefficients[0] - 18.0).abs() < 1e-9 && (f.coefficients[1] + 2.5).abs() < 1e-12);
        let noisy: Vec<f64> = y
            .iter()
            .enumerate()
            .map(|(i, v)| v * if i % 2 == 0 { 1.3 } else { 0.7 })
            .collect();
        assert!(power_law(&x, &noisy).unwrap().r_squared < 0.999);
        assert!(matches!(
            power_law(&[1.0, -1.0], &[1.0, 1.0]),
            Err(Error::InvalidParameter { .. })
        ));
    }
}
