//! The softmax of the mixture's EM and features, over blocks of points at once.
//!
//! A block holds `b` points' logits `aᵢⱼ` column-major in a `b × K` slice (component
//! `i` in `a[i·b..(i+1)·b]`), so every loop runs over contiguous points and the compiler
//! vectorises it; on x86-64 CPUs with AVX2 the same code is compiled a second time for
//! AVX2 and chosen at run time. Only additions, multiplications, comparisons and integer
//! operations on the bits are used (no fused multiply–add), so both versions give the
//! same bits (the exponential is `crate::inline_exp`).

use faer::MatRef;

use crate::inline_exp::exp_nonpositive;

/// Row-wise softmax of the `b × K` block `a` (see the module docs) after subtracting
/// `offset[i]` from column `i`: `aᵢⱼ ← exp(aᵢⱼ − offsetᵢ − maxⱼ)/sumⱼ`, with
/// `maxⱼ = maxᵢ (aᵢⱼ − offsetᵢ)` and `sumⱼ = Σᵢ exp(aᵢⱼ − offsetᵢ − maxⱼ)` written into
/// `max` and `sum` (length `b`), so that `log Σᵢ exp(aᵢⱼ − offsetᵢ) = maxⱼ + ln sumⱼ`.
pub fn softmax_rows(a: &mut [f64], offset: &[f64], max: &mut [f64], sum: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::linalg::avx2() {
            // SAFETY: the CPU supports AVX2 (checked above).
            unsafe { softmax_rows_avx2(a, offset, max, sum) };
            return;
        }
    }
    softmax_rows_generic(a, offset, max, sum);
}

/// [`softmax_rows_generic`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn softmax_rows_avx2(a: &mut [f64], offset: &[f64], max: &mut [f64], sum: &mut [f64]) {
    softmax_rows_generic(a, offset, max, sum);
}

#[inline(always)]
fn softmax_rows_generic(a: &mut [f64], offset: &[f64], max: &mut [f64], sum: &mut [f64]) {
    let b = max.len();
    let k = offset.len();
    assert!(
        a.len() == b * k && sum.len() == b,
        "softmax_rows: block shape"
    );
    max.fill(f64::NEG_INFINITY);
    for (col, &off) in a.chunks_exact_mut(b).zip(offset) {
        for (v, m) in col.iter_mut().zip(max.iter_mut()) {
            *v -= off;
            *m = if *v > *m { *v } else { *m };
        }
    }
    sum.fill(0.0);
    for col in a.chunks_exact_mut(b) {
        for ((v, &m), s) in col.iter_mut().zip(max.iter()).zip(sum.iter_mut()) {
            let e = exp_nonpositive(*v - m);
            *v = e;
            *s += e;
        }
    }
    for col in a.chunks_exact_mut(b) {
        for (v, &s) in col.iter_mut().zip(sum.iter()) {
            *v /= s;
        }
    }
}

/// `out ← x W` for a block `x` (b × c, a point per row, column-major) and a small `w`
/// (c × K): `K·c` scaled additions of contiguous columns. For the products whose inner
/// dimension (`r⋆` or `2r⋆`) is too small for a general matrix product to pay.
pub fn block_product(x: &[f64], w: MatRef<'_, f64>, out: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::linalg::avx2() {
            // SAFETY: the CPU supports AVX2 (checked above).
            unsafe { block_product_avx2(x, w, out) };
            return;
        }
    }
    block_product_generic(x, w, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn block_product_avx2(x: &[f64], w: MatRef<'_, f64>, out: &mut [f64]) {
    block_product_generic(x, w, out);
}

#[inline(always)]
fn block_product_generic(x: &[f64], w: MatRef<'_, f64>, out: &mut [f64]) {
    let (c, k) = (w.nrows(), w.ncols());
    let b = out.len() / k.max(1);
    assert!(
        out.len() == b * k && x.len() == b * c,
        "block_product: shapes"
    );
    for (i, o) in out.chunks_exact_mut(b).enumerate() {
        o.fill(0.0);
        for (a, xa) in x.chunks_exact(b).enumerate() {
            let wa = w[(a, i)];
            for (v, xv) in o.iter_mut().zip(xa) {
                *v += xv * wa;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block softmax against a direct per-row computation with `f64::exp`, including
    /// rows with very different scales; the max/sum outputs give the log-sum-exp.
    #[test]
    fn block_softmax_matches_direct_rows() {
        let (b, k) = (37, 5);
        let logit = |i: usize, j: usize| ((i * 7 + j * 13) % 11) as f64 * (j as f64 - 18.0) * 0.9;
        let offset: Vec<f64> = (0..k).map(|i| 0.3 * i as f64 - 1.0).collect();
        let mut a: Vec<f64> = (0..k)
            .flat_map(|i| (0..b).map(move |j| logit(i, j)))
            .collect();
        let (mut max, mut sum) = (vec![0.0; b], vec![0.0; b]);
        softmax_rows(&mut a, &offset, &mut max, &mut sum);
        for j in 0..b {
            let row: Vec<f64> = (0..k).map(|i| logit(i, j) - offset[i]).collect();
            let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = row.iter().map(|v| (v - m).exp()).sum();
            assert!((max[j] + sum[j].ln() - (m + s.ln())).abs() <= 1e-13 * (1.0 + m.abs()));
            for i in 0..k {
                let want = (row[i] - m).exp() / s;
                assert!((a[i * b + j] - want).abs() <= 1e-15, "row {j} column {i}");
            }
        }
    }

    /// The block product against the direct sum, for a block whose length is not a
    /// multiple of the vector width.
    #[test]
    fn block_product_matches_direct_sums() {
        let (b, c, k) = (23, 4, 3);
        let x: Vec<f64> = (0..b * c)
            .map(|t| ((t * 5) % 13) as f64 * 0.37 - 2.0)
            .collect();
        let w = faer::Mat::from_fn(c, k, |a, i| ((a + 2 * i) % 5) as f64 * 0.5 - 1.0);
        let mut out = vec![f64::NAN; b * k];
        block_product(&x, w.as_ref(), &mut out);
        for i in 0..k {
            for j in 0..b {
                let want: f64 = (0..c).map(|a| x[a * b + j] * w[(a, i)]).sum();
                assert!((out[i * b + j] - want).abs() < 1e-13);
            }
        }
    }

    /// A NaN logit makes its row NaN through the row's sum, wherever it stands (callers
    /// reject non-finite results).
    #[test]
    fn nan_propagates() {
        let mut a = vec![f64::NAN, 1.0, 0.0, 2.0];
        let (mut max, mut sum) = (vec![0.0; 2], vec![0.0; 2]);
        softmax_rows(&mut a, &[0.0, 0.0], &mut max, &mut sum);
        assert!(a[0].is_nan() && a[2].is_nan());
        assert!(a[1].is_finite() && a[3].is_finite());
    }
}
