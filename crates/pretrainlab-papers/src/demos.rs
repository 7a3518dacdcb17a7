//! Presets that are experiment files only: sweeps of the factor, spectral and diagonal
//! models with the generic tables, figures and report.

use crate::{Part, Preset};

/// A one-part preset from an experiment file under `presets/`.
macro_rules! file_preset {
    ($name:literal, $summary:literal) => {
        Preset {
            name: $name,
            summary: $summary,
            parts: &[Part {
                folder: "",
                text: include_str!(concat!("../presets/", $name, ".toml")),
            }],
            post: None,
        }
    };
}

/// The experiment-file presets.
pub fn presets() -> Vec<Preset> {
    vec![
        file_preset!(
            "factor-demo",
            "quick demo (< 1 min): factor model checked at 5 values of α = m/n; CSV, Parquet, figures, report.html"
        ),
        file_preset!(
            "factor-alpha",
            "factor model: n(R − σ²) and E‖L(Z)‖² along α ∈ [1/4, 16], theory, the closed form of Cor. 6.4 (Tinati & Tu, arXiv 2603.27631) and simulation"
        ),
        file_preset!(
            "factor-noise",
            "factor model: the risk along the downstream noise σ² at α ∈ {1/2, 2}, where σ² d_eff moves the floor"
        ),
        file_preset!(
            "spectral-cor63",
            "spectral model at Corollary 6.3's (d,k) = (3,1), (4,2), (6,3) (Tinati & Tu, arXiv 2603.27631): generic law vs the paper's closed form, 2000 trials each"
        ),
        file_preset!(
            "spectral-alpha",
            "spectral model at (d,k) = (4,2): n(R − σ²) along α = m/n ∈ [1/2, 8], theory, the paper's closed form and simulation"
        ),
        file_preset!(
            "neural-collapse",
            "neural collapse in the LayerNorm unconstrained-features model (Súkeník, Lampert & Mondelli, arXiv 2505.15239): random starts reach the simplex ETF (CE) or orthonormal means (MSE) along λ"
        ),
        file_preset!(
            "diagonal-alpha",
            "diagonal networks PT → FT (arXiv 2602.20062) as an experiment file: GD's test MSE against the replica prediction along α = n/d, criteria per point"
        ),
    ]
}
