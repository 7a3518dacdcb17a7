//! Human-readable tables.

use std::fmt::Write;

use pretrainlab::compare::{Check, Simulation};
use pretrainlab::params::ModelInfo;
use pretrainlab::stats::Summary;
use pretrainlab::theory::Prediction;

pub fn catalogue(models: &[ModelInfo]) -> String {
    let mut s = String::new();
    for m in models {
        let _ = writeln!(s, "{}: {}\n  source: {}", m.name, m.summary, m.source);
        for p in &m.params {
            let _ = writeln!(
                s,
                "  {:<12} default {:<36} {}",
                p.name, p.default, p.meaning
            );
        }
        s.push('\n');
    }
    s
}

fn opt(x: Option<f64>) -> String {
    x.map_or("—".to_string(), |v| format!("{v:.6}"))
}

pub fn prediction(p: &Prediction) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "model {}   m = {}, n = {}, α = m/n = {:.4}",
        p.model, p.m, p.n, p.alpha
    );
    let _ = writeln!(s, "  σ²                         {:.6}", p.sigma2);
    let _ = writeln!(s, "  d_eff                      {}", p.d_eff);
    let _ = writeln!(
        s,
        "  σ² d_eff                   {:.6}",
        p.sigma2 * p.d_eff as f64
    );
    let se = if p.interaction_mean_se > 0.0 {
        format!(" ± {:.2e}", p.interaction_mean_se)
    } else {
        String::new()
    };
    let _ = writeln!(
        s,
        "  E‖L(Z)‖² (generic)         {:.6}{se}",
        p.interaction_mean
    );
    let _ = writeln!(
        s,
        "  E‖L(Z)‖² (paper's closed form) {}",
        opt(p.paper_interaction_mean)
    );
    for r in &p.references {
        let _ = writeln!(s, "  {}: {:.6}", r.label, r.value);
    }
    if let Some(x) = &p.extra_limit {
        let _ = writeln!(s, "  limit mean of {:<15} {:.6}", x.label, x.value);
    }
    let _ = writeln!(
        s,
        "  sd ‖L(Z)‖²                 {:.6}",
        p.interaction_var.sqrt()
    );
    let q = p.interaction_quantiles;
    let _ = writeln!(
        s,
        "  ‖L(Z)‖² quantiles 5/25/50/75/95%: {:.4} {:.4} {:.4} {:.4} {:.4}",
        q[0], q[1], q[2], q[3], q[4]
    );
    let w: Vec<String> = p
        .interaction_weights
        .iter()
        .take(8)
        .map(|w| format!("{w:.5}"))
        .collect();
    let more = if p.interaction_weights.len() > 8 {
        format!(" … ({} in all)", p.interaction_weights.len())
    } else {
        String::new()
    };
    let _ = writeln!(s, "  χ² weights                 [{}]{more}", w.join(", "));
    let _ = writeln!(
        s,
        "  α0 (crossover vs downstream-only, d_base = {}) {}",
        p.d_base,
        opt(p.alpha0)
    );
    let _ = writeln!(
        s,
        "  limit mean σ² d_eff + E‖L(Z)‖²/α = {:.6}",
        p.limit_mean
    );
    s
}

fn summary_row(s: &mut String, name: &str, x: &Summary) {
    let _ = writeln!(
        s,
        "  {:<14} {:>12.5} {:>10.5} {:>11.5} {:>11.5} {:>11.5} {:>11.5} {:>11.5}",
        name, x.mean, x.se, x.q05, x.q25, x.q50, x.q75, x.q95
    );
}

pub fn simulation(sim: &Simulation) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "model {}   m = {}, n = {}, {} trials ({} completed, {} failed), seed {}",
        sim.model, sim.m, sim.n, sim.trials, sim.completed, sim.failed, sim.seed
    );
    for e in &sim.failure_examples {
        let _ = writeln!(s, "  failed: {e}");
    }
    let _ = writeln!(
        s,
        "  {:<14} {:>12} {:>10} {:>11} {:>11} {:>11} {:>11} {:>11}",
        "quantity", "mean", "s.e.", "q05", "q25", "q50", "q75", "q95"
    );
    summary_row(&mut s, "n(R−σ²)", &sim.scaled_excess);
    summary_row(&mut s, "n·Var", &sim.n_var);
    summary_row(&mut s, "n·Leak", &sim.n_leak);
    summary_row(&mut s, "n·Rep", &sim.n_rep);
    summary_row(&mut s, "m·Rep", &sim.m_rep);
    if let (Some(name), Some(x)) = (&sim.extra_name, &sim.extra) {
        summary_row(&mut s, name, x);
    }
    s
}

pub fn check(c: &Check) -> String {
    let mut s = prediction(&c.prediction);
    s.push('\n');
    s.push_str(&simulation(&c.simulation));
    let _ = writeln!(
        s,
        "\n  {:<14} {:>12} {:>10} {:>12} {:>8}  judged",
        "mean of", "simulated", "s.e.", "limit", "z"
    );
    for m in &c.means {
        let _ = writeln!(
            s,
            "  {:<14} {:>12.5} {:>10.5} {:>12.5} {:>+8.2}  {}",
            m.quantity,
            m.simulated,
            m.se,
            m.limit,
            m.z,
            if m.decisive { "yes" } else { "no" }
        );
    }
    let _ = writeln!(
        s,
        "\n  {:<6} {:>12} {:>12} {:>14} {:>14}",
        "level", "m·Rep sim", "‖L(Z)‖²", "n(R−σ²) sim", "limit law"
    );
    for q in &c.quantiles {
        let _ = writeln!(
            s,
            "  {:<6.2} {:>12.5} {:>12.5} {:>14.5} {:>14.5}",
            q.level,
            q.m_rep_simulated,
            q.m_rep_predicted,
            q.scaled_excess_simulated,
            q.scaled_excess_predicted
        );
    }
    let _ = writeln!(
        s,
        "\n  KS(m·Rep vs ‖L(Z)‖² law) = {:.4} (p = {:.3}); KS(n(R−σ²) vs limit) = {:.4}",
        c.ks, c.ks_p_value, c.ks_scaled_excess
    );
    for r in &c.reasons {
        let _ = writeln!(s, "  - {r}");
    }
    let _ = writeln!(s, "verdict: {}", c.verdict);
    s
}
