//! `attention-tokens`: Wu, Shevchenko, Oymak & Mondelli, "Attention with Trained Embeddings
//! Provably Selects Important Tokens" (arXiv 2505.17282).
//!
//! One experiment (`presets/attention-tokens.toml`): the tiered planted-token instance for
//! Gaussian and orthonormal `E₀`, each point checked. [`post`] draws under `paper/`:
//! - `alignment_vs_alpha`: `⟨ΔE_s, v⟩` against the average signed frequency `α_s` of every
//!   token (the first trials of each point) with the line `(η/2)α`;
//! - `cos_vs_norm`: `1 − cos(p, p_mm)` against `‖p‖` (means over trials, log-log), with the
//!   `1/‖p‖²` law drawn through the half-way point;
//! - `attention_mass`: the mean softmax mass on the optimal token against the step on `p`;
//! - `paths.csv` (the mean paths) and `tokens.csv` (the scatter).

use std::fmt::Write as _;

use pretrainlab_experiment::PointResult;
use pretrainlab_report::{Figure, Series, Style};

use crate::{Context, Out, PaperError, Part, Preset};

const TEXT: &str = include_str!("../presets/attention-tokens.toml");

/// Trials of each point drawn in the scatter.
const SCATTER_TRIALS: usize = 5;

pub fn preset() -> Preset {
    Preset {
        name: "attention-tokens",
        summary: "attention with trained embeddings selects important tokens (Wu et al., arXiv 2505.17282): one step on E aligns tokens by signed frequency, p converges to the max-margin selection",
        parts: &[Part {
            folder: "",
            text: TEXT,
        }],
        post: Some(post),
    }
}

fn post_error(message: impl Into<String>) -> PaperError {
    PaperError::Post(message.into())
}

/// The point's `init` coordinate, for labels.
fn init(p: &PointResult) -> String {
    p.coords
        .iter()
        .find(|(k, _)| k == "init")
        .and_then(|(_, v)| v.as_str())
        .unwrap_or("gaussian")
        .to_string()
}

/// The mean over completed trials of each point of trace `name`.
fn mean_trace(p: &PointResult, name: &str) -> Option<Vec<f64>> {
    let n = p.trials.completed();
    let first = p.trials.trace(0, name)?;
    let mut acc = vec![0.0; first.len()];
    for i in 0..n {
        for (a, x) in acc.iter_mut().zip(p.trials.trace(i, name)?) {
            *a += x / n as f64;
        }
    }
    Some(acc)
}

fn series(label: String, x: Vec<f64>, y: Vec<f64>, style: Style) -> Series {
    Series {
        label,
        x,
        y,
        err: None,
        style,
    }
}

/// Writes the figures and the CSVs under `paper/`.
pub fn post(ctx: &Context<'_>) -> Result<Vec<String>, PaperError> {
    let points = ctx.part("")?;
    if points.iter().all(|p| p.trials.completed() == 0) {
        return Err(post_error("no point has completed trials"));
    }
    let mut scatter = Vec::new();
    let mut cos = Vec::new();
    let mut mass = Vec::new();
    let mut tokens_csv = String::from("init,trial,token,alpha,alignment\n");
    let mut paths_csv = String::from("init,step,p_norm,one_minus_cos,attention_mass\n");
    for p in points.iter().filter(|p| p.trials.completed() > 0) {
        let name = init(p);
        let eta = p
            .labels
            .iter()
            .find(|(k, _)| k == "eta")
            .and_then(|(_, v)| v.as_f64())
            .ok_or_else(|| post_error("a point has no `eta` label"))?;
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for i in 0..p.trials.completed().min(SCATTER_TRIALS) {
            let (Some(a), Some(g)) = (
                p.trials.trace(i, "alpha_tokens"),
                p.trials.trace(i, "alignment_tokens"),
            ) else {
                return Err(post_error("the trials have no per-token traces"));
            };
            for (s, (a, g)) in a.iter().zip(g).enumerate() {
                let _ = writeln!(tokens_csv, "{name},{i},{s},{a},{g}");
            }
            xs.extend_from_slice(a);
            ys.extend_from_slice(g);
        }
        let (lo, hi) = xs
            .iter()
            .fold((0.0f64, 0.0f64), |(l, h), &x| (l.min(x), h.max(x)));
        let shown = p.trials.completed().min(SCATTER_TRIALS);
        scatter.push(series(
            format!("{name} E₀: every token of {shown} trials"),
            xs,
            ys,
            Style::Points,
        ));
        scatter.push(series(
            format!("(η/2)α, η = {eta}"),
            vec![lo, hi],
            vec![eta / 2.0 * lo, eta / 2.0 * hi],
            Style::Line,
        ));
        let (Some(r), Some(c), Some(m)) = (
            mean_trace(p, "p_norm_path"),
            mean_trace(p, "cos_pmm_path"),
            mean_trace(p, "attention_mass_path"),
        ) else {
            return Err(post_error("the trials have no p paths"));
        };
        let steps = p
            .traces
            .iter()
            .find(|t| t.name == "p_norm_path")
            .map(|t| t.t.clone())
            .unwrap_or_default();
        let err: Vec<f64> = c.iter().map(|c| (1.0 - c).max(1e-300)).collect();
        for (((s, r), e), m) in steps.iter().zip(&r).zip(&err).zip(&m) {
            let _ = writeln!(paths_csv, "{name},{s},{r},{e},{m}");
        }
        let h = r.len() / 2;
        if h >= 1 {
            let law: Vec<f64> = r
                .iter()
                .map(|x| err[h - 1] * (r[h - 1] / x).powi(2))
                .collect();
            cos.push(series(
                format!("{name}: 1/‖p‖² law through the half-way point"),
                r.clone(),
                law,
                Style::Line,
            ));
        }
        cos.push(series(
            format!("{name} E₀: simulated (mean)"),
            r,
            err,
            Style::Points,
        ));
        mass.push(series(format!("{name} E₀"), steps, m, Style::Line));
    }
    let mut out = Out::new(ctx.dir);
    out.figure(
        &Figure {
            title: "One step on E: alignment against signed frequency".into(),
            x_label: "α_s".into(),
            y_label: "⟨ΔE_s, v⟩".into(),
            log_x: false,
            log_y: false,
            series: scatter,
        },
        "alignment_vs_alpha",
    )?;
    out.figure(
        &Figure {
            title: "Direction of p against its norm".into(),
            x_label: "‖p‖".into(),
            y_label: "1 − cos(p, p_mm)".into(),
            log_x: true,
            log_y: true,
            series: cos,
        },
        "cos_vs_norm",
    )?;
    out.figure(
        &Figure {
            title: "Attention on the optimal token".into(),
            x_label: "step on p".into(),
            y_label: "softmax mass on s*".into(),
            log_x: true,
            log_y: false,
            series: mass,
        },
        "attention_mass",
    )?;
    out.text("tokens.csv", &tokens_csv)?;
    out.text("paths.csv", &paths_csv)?;
    Ok(out.files())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quick preset end to end: the three figures and both CSVs are written; the
    /// mean token alignment of class-+ tier-1 tokens is positive and that of class −
    /// negative; 1 − cos falls along the path and the attention mass ends above 0.99.
    #[test]
    fn the_quick_preset_draws_the_three_figures() {
        let (dir, _, files) = crate::run_quick(&preset(), "attention");
        for f in ["alignment_vs_alpha", "cos_vs_norm", "attention_mass"] {
            assert!(files.contains(&format!("paper/{f}.svg")), "{files:?}");
        }
        let read = |name: &str| std::fs::read_to_string(dir.join("paper").join(name)).unwrap();
        let paths: Vec<Vec<String>> = read("paths.csv")
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect();
        for init in ["gaussian", "orthonormal"] {
            let rows: Vec<&Vec<String>> = paths.iter().filter(|r| r[0] == init).collect();
            let err = |r: &Vec<String>| r[3].parse::<f64>().unwrap();
            assert!(err(rows[rows.len() - 1]) < err(rows[1]), "{init}");
            assert!(
                rows[rows.len() - 1][4].parse::<f64>().unwrap() > 0.99,
                "{init}"
            );
        }
        let tokens = read("tokens.csv");
        let align = |token: &str| -> f64 {
            let vals: Vec<f64> = tokens
                .lines()
                .skip(1)
                .map(|l| l.split(',').collect::<Vec<_>>())
                .filter(|f| f[2] == token)
                .map(|f| f[4].parse().unwrap())
                .collect();
            vals.iter().sum::<f64>() / vals.len() as f64
        };
        // Token 0 is tier 1 class +, token 2 tier 1 class − (two tokens per class).
        assert!(align("0") > 0.5 && align("2") < -0.5);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
