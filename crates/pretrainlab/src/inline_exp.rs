//! `eˣ` written out so that the compiler inlines it and vectorises the loops that call it
//! (libm's `exp` is an opaque call). Used by the softmax kernels of the mixture model and
//! of the attention model.
//!
//! The reduction `x = n ln 2 + r`, `|r| ≤ ½ ln 2`, with `ln 2` split in two (Cody &
//! Waite; fdlibm's constants), the degree-13 Taylor polynomial of `eʳ` (remainder
//! `|r|¹⁴/14! < 4·10⁻¹⁸`) in Estrin's scheme (pairs, then the powers `r², r⁴, r⁸`: a short
//! dependency chain), and `2ⁿ` from its exponent bits. Only additions, multiplications
//! and integer operations on the bits are used (no fused multiply–add), so a build for
//! AVX2 gives the bits of the portable one. Within 2 units in the last place of
//! `f64::exp` (tested).

/// `log₂ e`.
const LOG2_E: f64 = std::f64::consts::LOG2_E;
/// `ln 2` split in a high part with trailing zero bits (`n·LN2_HI` is exact for
/// `|n| < 2¹¹`) and the remainder.
const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
/// `1.5·2⁵²`: adding it rounds to the nearest integer and leaves it in the low bits.
const ROUND: f64 = 6_755_399_441_055_744.0;
/// The range of [`exp_in_range`]: `2ⁿ` stays a normal number.
pub const MIN_ARG: f64 = -708.0;
pub const MAX_ARG: f64 = 709.0;
/// `1/j!` for `j = 0, …, 13`.
const TAYLOR: [f64; 14] = [
    1.0,
    1.0,
    0.5,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5_040.0,
    1.0 / 40_320.0,
    1.0 / 362_880.0,
    1.0 / 3_628_800.0,
    1.0 / 39_916_800.0,
    1.0 / 479_001_600.0,
    1.0 / 6_227_020_800.0,
];

/// `eˣ` for `x ∈ [MIN_ARG, MAX_ARG]`, without a branch (outside, the result is wrong;
/// a NaN stays NaN).
#[inline(always)]
pub fn exp_in_range(x: f64) -> f64 {
    let t = x * LOG2_E + ROUND;
    let n = t - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let c = &TAYLOR;
    let (r2, pair) = (r * r, |k: usize| c[k] + c[k + 1] * r);
    let r4 = r2 * r2;
    let q0 = pair(0) + pair(2) * r2;
    let q1 = pair(4) + pair(6) * r2;
    let q2 = pair(8) + pair(10) * r2;
    let q3 = pair(12);
    let er = (q0 + q1 * r4) + (q2 + q3 * r4) * (r4 * r4);
    // The low bits of `t` hold `n` (two's complement, |n| ≤ 1023).
    let k = t.to_bits().wrapping_sub(ROUND.to_bits());
    er * f64::from_bits(k.wrapping_add(1023) << 52)
}

/// `eˣ`: [`exp_in_range`] inside its range, `f64::exp` outside.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    if (MIN_ARG..=MAX_ARG).contains(&x) {
        exp_in_range(x)
    } else {
        x.exp()
    }
}

/// `eˣ` for `x ≤ 0` with arguments below `MIN_ARG` raised to it, without a branch: for a
/// softmax, a term so far below the largest is zero to double precision anyway. A NaN
/// stays NaN.
#[inline(always)]
pub fn exp_nonpositive(x: f64) -> f64 {
    exp_in_range(if x < MIN_ARG { MIN_ARG } else { x })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Within 2 ulp of `f64::exp` on a dense grid of `[−708, 709]` (every 10⁻³, every
    /// 10⁻⁶ on `[−1, 1]`) and around the reduction's rounding boundaries `(k + ½) ln 2`;
    /// `f64::exp` itself outside the range (0 and ∞ at the extremes).
    #[test]
    fn exp_is_within_two_ulp_of_the_standard_library() {
        let ulp = |v: f64| v.next_up() - v;
        let mut worst = 0.0f64;
        let mut check = |x: f64| {
            let (a, b) = (exp(x), x.exp());
            let err = (a - b).abs() / ulp(b);
            worst = worst.max(err);
            assert!(err <= 2.0, "x = {x}: {a} vs {b} ({err} ulp)");
        };
        for i in -708_000..=709_000 {
            check(i as f64 * 1e-3);
        }
        for i in -1_000_000..=1_000_000 {
            check(i as f64 * 1e-6);
        }
        for k in -1021..1022 {
            let x = (k as f64 + 0.5) * std::f64::consts::LN_2;
            for x in [x.next_down(), x, x.next_up(), x - 1e-12, x + 1e-12] {
                if (MIN_ARG..=MAX_ARG).contains(&x) {
                    check(x);
                }
            }
        }
        assert!(worst > 0.0);
        for x in [-1000.0, -745.5, -708.5, 709.5, 710.0, f64::NEG_INFINITY] {
            assert_eq!(exp(x).to_bits(), x.exp().to_bits(), "x = {x}");
        }
        assert_eq!(exp(-1000.0), 0.0);
        assert_eq!(exp(710.0), f64::INFINITY);
    }

    /// The softmax form: exact at 0, clamped below, NaN kept.
    #[test]
    fn exp_nonpositive_clamps_and_keeps_nan() {
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(-800.0), exp_in_range(MIN_ARG));
        assert!(exp_nonpositive(-800.0) <= MIN_ARG.exp() * (1.0 + 1e-15));
        assert!(exp_nonpositive(f64::NAN).is_nan());
        assert!(exp_nonpositive(f64::NEG_INFINITY) >= 0.0);
        assert_eq!(exp_nonpositive(-3.0).to_bits(), exp(-3.0).to_bits());
    }
}
