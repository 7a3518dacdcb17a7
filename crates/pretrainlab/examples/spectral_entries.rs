//! Per-entry variances of `√m (M̂)₁₂` for the linear spectral model, simulated against
//! the generic prediction `Σ_ab (M_a)_ij V_ab (M_b)_ij` and the paper's claim (H.7),
//! `Var((Z₁₂)_ij) = 2(1 + τ + λ_i²)/(a_i b_j)`.
//!
//! Run: `cargo run --release -p pretrainlab --example spectral_entries -- [d k m trials]`
//! (default `4 2 20000 2000`, Corollary 6.3's instance).

use pretrainlab::models::TwoStageModel;
use pretrainlab::models::spectral::{SpectralModel, SpectralParams};
use pretrainlab::rng::{experiment_key, trial_rng};
use rayon::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let get = |i: usize, default: usize| args.get(i).copied().unwrap_or(default);
    let (d, k, m, trials) = (get(0, 4), get(1, 2), get(2, 20_000), get(3, 2000));
    let model = SpectralModel::new(SpectralParams {
        d,
        k,
        ..SpectralParams::default()
    })?;
    let (m_star, _) = model.truth();
    let key = experiment_key("spectral-entries");
    let draws: Vec<Vec<f64>> = (0..trials as u64)
        .into_par_iter()
        .map_init(
            || model.workspace(),
            |ws, t| {
                let mut rng = trial_rng(1, key, t);
                let a = model.pretrain(&mut rng, m, ws).ok()?;
                let mh = a.transpose() * a;
                Some(
                    (0..k)
                        .flat_map(|i| (k..d).map(move |j| (i, j)))
                        .map(|(i, j)| (m as f64).sqrt() * (mh[(i, j)] - m_star[(i, j)]))
                        .collect(),
                )
            },
        )
        .flatten()
        .collect();
    let predicted = model.entry_variances()?;
    let tau: f64 = (1..=k).map(|i| 1.0 / (i * i) as f64).sum();
    println!(
        "d = {d}, k = {k}, m = {m}, {} of {trials} trials converged",
        draws.len()
    );
    println!("entry   simulated Var ± s.e.   generic   paper (H.7)");
    let n = draws.len() as f64;
    for (col, (i, j)) in (0..k).flat_map(|i| (k..d).map(move |j| (i, j))).enumerate() {
        let xs: Vec<f64> = draws.iter().map(|r| r[col]).collect();
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let se = var * (2.0 / (n - 1.0)).sqrt();
        let lambda = 1.0 / (i + 1) as f64;
        let paper = 2.0 * (1.0 + tau + lambda * lambda);
        println!(
            "({},{})   {var:9.3} ± {se:6.3}      {:8.3}   {paper:8.3}",
            i + 1,
            j + 1,
            predicted[(i, j)]
        );
    }
    Ok(())
}
