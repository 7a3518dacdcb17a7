//! Built-in experiments for `pretrainlab reproduce NAME`.
//!
//! A preset is either an embedded experiment file ([`PresetKind::Experiment`]) or a
//! function that does its own work with the shared settings ([`PresetKind::Custom`]),
//! e.g. a paper figure that needs more than a sweep. Add a preset by adding an entry to
//! [`all`]; experiment files live in `crates/pretrainlab-cli/presets/`.

use std::path::PathBuf;

use crate::experiments;
use crate::{ExperimentSettings, input_error};

/// Settings a preset runs with, from the command line.
#[derive(Clone, Debug)]
pub struct PresetContext {
    /// The results folder for this preset.
    pub output: PathBuf,
    /// Smaller defaults (fewer trials): the experiment file's `[quick]` table.
    pub quick: bool,
    /// Worker threads (`None`: all cores). The pool is already set up when a preset runs.
    pub threads: Option<usize>,
    /// No progress output on stderr.
    pub quiet: bool,
    /// Discard earlier results instead of resuming.
    pub fresh: bool,
}

/// What a preset is.
#[derive(Clone, Copy)]
pub enum PresetKind {
    /// An embedded experiment file (TOML), run like `pretrainlab run FILE`.
    Experiment(&'static str),
    /// A function with its own logic (for figures that need more than a sweep).
    Custom(fn(&PresetContext) -> anyhow::Result<()>),
}

/// A named preset with its one-line summary.
#[derive(Clone, Copy)]
pub struct Preset {
    pub name: &'static str,
    pub summary: &'static str,
    pub kind: PresetKind,
}

/// Every preset, in the order `reproduce --list` shows them.
pub fn all() -> Vec<Preset> {
    vec![
        Preset {
            name: "factor-demo",
            summary: "quick demo (< 1 min): factor model checked at 5 values of α = m/n; CSV, Parquet, figures, report.html",
            kind: PresetKind::Experiment(include_str!("../presets/factor-demo.toml")),
        },
        Preset {
            name: "factor-alpha",
            summary: "factor model: n(R − σ²) and E‖L(Z)‖² along α ∈ [1/4, 16], theory, paper's closed form (Cor. 6.4) and simulation",
            kind: PresetKind::Experiment(include_str!("../presets/factor-alpha.toml")),
        },
        Preset {
            name: "factor-noise",
            summary: "factor model: the risk along the downstream noise σ² at α ∈ {1/2, 2}, where σ² d_eff moves the floor",
            kind: PresetKind::Experiment(include_str!("../presets/factor-noise.toml")),
        },
        Preset {
            name: "tinati-tu-fig2",
            summary: "Gaussian mixture: E‖L(Z)‖² along K, d and β (Tinati & Tu, arXiv 2603.27631, Fig. 2), fits and the paper's digitised values",
            kind: PresetKind::Custom(crate::gmm_figures::fig2_preset),
        },
        Preset {
            name: "tinati-tu-fig3",
            summary: "Gaussian mixture: CDFs of n(R − σ²) and its parts against the limit, KS distances along n (Tinati & Tu, arXiv 2603.27631, Figs. 3–4)",
            kind: PresetKind::Custom(crate::gmm_figures::fig3_preset),
        },
        Preset {
            name: "factorization-cascade",
            summary: "matrix factorization flow (Mohammadi et al., arXiv 2411.15972): ‖S‖, ‖H‖, ‖P₁₁ − Λ₁‖, f − f⋆ vs t (log–log), r = 4 and r = r₁ = 2, with the check",
            kind: PresetKind::Custom(crate::dynamics_figures::factorization_cascade),
        },
        Preset {
            name: "diagonal-ptft",
            summary: "diagonal networks PT → FT (Anguita et al., arXiv 2602.20062): three-panel replica figure with Σq_k-interpolator and GD markers, four regimes",
            kind: PresetKind::Custom(crate::dynamics_figures::diagonal_panels),
        },
        Preset {
            name: "spectral-cor63",
            summary: "spectral model at Corollary 6.3's (d,k) = (3,1), (4,2), (6,3): generic law vs the paper's closed form, 2000 trials each",
            kind: PresetKind::Experiment(include_str!("../presets/spectral-cor63.toml")),
        },
        Preset {
            name: "spectral-alpha",
            summary: "spectral model at (d,k) = (4,2): n(R − σ²) along α = m/n ∈ [1/2, 8], theory, paper's closed form and simulation",
            kind: PresetKind::Experiment(include_str!("../presets/spectral-alpha.toml")),
        },
        Preset {
            name: "diagonal-alpha",
            summary: "diagonal networks PT → FT as an experiment file: GD's test MSE against the replica prediction along α = n/d, criteria per point",
            kind: PresetKind::Experiment(include_str!("../presets/diagonal-alpha.toml")),
        },
        Preset {
            name: "yang-ssl",
            summary: "nonlinear SSL vs SL (Yang et al., AAAI-23, arXiv 2401.03214): 20 seeds, the paper's claims checked, learning curves, final W, projection histograms",
            kind: PresetKind::Custom(crate::ssl_figures::preset),
        },
    ]
}

/// The preset called `name`.
pub fn find(name: &str) -> Option<Preset> {
    all().into_iter().find(|p| p.name == name)
}

/// `pretrainlab reproduce NAME`.
pub fn reproduce(name: &str, settings: &ExperimentSettings) -> anyhow::Result<()> {
    let preset = find(name).ok_or_else(|| {
        input_error(format!(
            "unknown preset `{name}`; `pretrainlab reproduce --list` lists them"
        ))
    })?;
    let output = settings.output.clone().unwrap_or_else(|| {
        experiments::quick_folder(&PathBuf::from("results").join(preset.name), settings.quick)
    });
    let ctx = experiments::context(settings, output.clone())?;
    match preset.kind {
        PresetKind::Experiment(text) => {
            let mut hint = format!("pretrainlab reproduce {}", preset.name);
            if ctx.quick {
                hint.push_str(" --quick");
            }
            if settings.output.is_some() {
                hint.push_str(&format!(" --output {}", output.display()));
            }
            experiments::run_text(
                text,
                &format!("preset {}", preset.name),
                Some(&ctx.output),
                &ctx,
                &hint,
            )
        }
        PresetKind::Custom(f) => f(&ctx),
    }
}

/// The `reproduce --list` text: one line per preset.
pub fn list() -> String {
    let presets = all();
    let width = presets.iter().map(|p| p.name.len()).max().unwrap_or(0);
    presets
        .iter()
        .map(|p| format!("{:<width$}  {}\n", p.name, p.summary))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_experiment_preset_is_a_valid_file() {
        for p in all() {
            if let PresetKind::Experiment(text) = p.kind {
                for quick in [false, true] {
                    let e = pretrainlab_experiment::parse(text, quick)
                        .unwrap_or_else(|e| panic!("preset {}: {e}", p.name));
                    assert_eq!(e.name, p.name, "a preset's file names it");
                }
            }
        }
        assert!(find("factor-demo").is_some());
        assert!(list().lines().count() == all().len());
    }
}
