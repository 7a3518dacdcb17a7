//! Human-readable text tables of any model's catalogue entry, prediction, simulation and
//! check, as the command line prints them.

use std::fmt::Write;

use pretrainlab::criteria::{Check, Simulation};
use pretrainlab::model::Prediction;
use pretrainlab::params::ModelInfo;
use pretrainlab::stats::{LEVELS, Summary};
use pretrainlab_report::format_number;
use serde_json::Value;

/// Every model with its parameters, defaults and meaning.
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

/// A number in at most 12 characters: integers as such, moderate values with 6
/// decimals, very small or large ones in scientific notation.
fn num(x: f64) -> String {
    let a = x.abs();
    if x.fract() == 0.0 && a < 1e9 {
        format!("{x:.0}")
    } else if (1e-3..1e6).contains(&a) {
        format!("{x:.6}")
    } else {
        format!("{x:.5e}")
    }
}

/// A standard error: two significant digits, or `0` for an exact value.
fn se(x: f64) -> String {
    if x == 0.0 {
        "0".to_string()
    } else {
        format!("{x:.2e}")
    }
}

fn opt(x: Option<f64>) -> String {
    x.map_or("—".to_string(), num)
}

/// `k = v, …` of a model's labels (e.g. `m = 20000, n = 10000, sampler = wishart`).
fn labels(labels: &[(impl AsRef<str>, Value)]) -> String {
    labels
        .iter()
        .map(|(k, v)| {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            format!("{} = {v}", k.as_ref())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The prediction: quantities (± s.e.), predicted means, limit laws, references and curves.
pub fn prediction(p: &Prediction, model_labels: &[(&str, Value)]) -> String {
    let mut s = format!("model {} (prediction)", p.model);
    if !model_labels.is_empty() {
        let _ = write!(s, "   {}", labels(model_labels));
    }
    s.push('\n');
    let width = p
        .quantities
        .iter()
        .map(|q| q.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(24);
    for q in &p.quantities {
        let err = q.se.map_or(String::new(), |x| format!(" ± {}", se(x)));
        let _ = writeln!(s, "  {:<width$} {}{err}", q.name, num(q.value));
    }
    if !p.means.is_empty() {
        let _ = writeln!(
            s,
            "predicted means:\n  {:<24} {:>14} {:>10}  judged",
            "metric", "mean", "s.e."
        );
        for m in &p.means {
            let _ = writeln!(
                s,
                "  {:<24} {:>14} {:>10}  {}",
                m.metric,
                num(m.value),
                se(m.se),
                if m.decisive { "yes" } else { "no" }
            );
        }
    }
    if !p.laws.is_empty() {
        let _ = writeln!(s, "limit laws:");
    }
    for l in &p.laws {
        let q: Vec<String> = LEVELS.iter().map(|&lv| num(l.law.quantile(lv))).collect();
        let _ = writeln!(
            s,
            "  {}{}: {}\n    mean {}, sd {}, quantiles 5/25/50/75/95%: {}",
            l.metric,
            if l.decisive { " (judged)" } else { "" },
            l.law.describe(),
            num(l.law.mean()),
            num(l.law.variance().sqrt()),
            q.join(" ")
        );
    }
    if !p.references.is_empty() {
        let _ = writeln!(s, "references:");
    }
    for r in &p.references {
        let of =
            r.of.as_ref()
                .map_or(String::new(), |m| format!(" (of {m})"));
        let _ = writeln!(s, "  {}{of}: {}", r.label, num(r.value));
    }
    if !p.curves.is_empty() {
        let names: Vec<String> = p
            .curves
            .iter()
            .map(|c| format!("{} ({} points)", c.name, c.t.len()))
            .collect();
        let _ = writeln!(s, "curves: {}: {}", p.curves.len(), names.join(", "));
    }
    for w in &p.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    s
}

fn summary_row(s: &mut String, width: usize, name: &str, x: &Summary) {
    let _ = write!(s, "  {name:<width$} {:>14} {:>10}", num(x.mean), se(x.se));
    for q in x.quantiles() {
        let _ = write!(s, " {:>13}", num(q));
    }
    s.push('\n');
}

/// The simulation: counts, failures and one row of summaries per metric.
pub fn simulation(sim: &Simulation) -> String {
    let mut s = format!("model {}", sim.model);
    if !sim.labels.is_empty() {
        let _ = write!(s, "   {}", labels(&sim.labels));
    }
    let _ = writeln!(
        s,
        "\n  {} trials ({} completed, {} failed), seed {}",
        sim.trials, sim.completed, sim.failed, sim.seed
    );
    for e in &sim.failure_examples {
        let _ = writeln!(s, "  failed: {e}");
    }
    let width = sim
        .metrics
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        .max(14);
    let _ = write!(s, "  {:<width$} {:>14} {:>10}", "metric", "mean", "s.e.");
    for h in ["q05", "q25", "q50", "q75", "q95"] {
        let _ = write!(s, " {h:>13}");
    }
    s.push('\n');
    for (k, x) in &sim.metrics {
        summary_row(&mut s, width, k, x);
    }
    s
}

/// The check: prediction and simulation, means against predictions (z), each law's KS
/// distance and quantile table, the criteria and the verdict.
pub fn check(c: &Check) -> String {
    let mut s = prediction(&c.prediction, &[]);
    s.push('\n');
    s.push_str(&simulation(&c.simulation));
    if !c.means.is_empty() {
        let _ = writeln!(
            s,
            "\n  {:<24} {:>14} {:>10} {:>14} {:>8}  judged",
            "mean of", "simulated", "s.e.", "predicted", "z"
        );
    }
    for m in &c.means {
        let _ = writeln!(
            s,
            "  {:<24} {:>14} {:>10} {:>14} {:>+8.2}  {}",
            m.quantity,
            num(m.simulated),
            se(m.se),
            num(m.limit),
            m.z,
            if m.decisive { "yes" } else { "no" }
        );
    }
    for l in &c.laws {
        let _ = writeln!(
            s,
            "\n  {}: KS = {:.4} against its limit law over {} trials (p = {:.3}){}",
            l.metric,
            l.ks,
            l.samples,
            l.p_value,
            if l.decisive { "" } else { ", not judged" }
        );
        let _ = writeln!(
            s,
            "  {:<6} {:>14} {:>14}",
            "level", "simulated", "limit law"
        );
        for (level, sim, pred) in &l.quantiles {
            let _ = writeln!(s, "  {level:<6.2} {:>14} {:>14}", num(*sim), num(*pred));
        }
    }
    let _ = writeln!(s, "\ncriteria:");
    for cr in &c.criteria {
        let err = cr.se.map_or(String::new(), |v| format!(" ± {}", se(v)));
        let _ = writeln!(
            s,
            "  [{}] {:<24} predicted {:>14}  measured {}{err}\n         {}",
            if cr.pass { "pass" } else { "FAIL" },
            cr.name,
            opt(cr.predicted),
            num(cr.measured),
            cr.statement
        );
    }
    let _ = writeln!(s, "verdict: {}", c.verdict());
    s
}

/// An extrapolation: per decisive mean, the simulated and predicted means at each `m`,
/// the fitted limits and slopes, and the verdict on the extrapolated discrepancy.
pub fn extrapolation(x: &pretrainlab::extrapolate::Extrapolation) -> String {
    let mut s = String::new();
    for t in &x.trends {
        let _ = writeln!(s, "{}:", t.metric);
        let _ = writeln!(
            s,
            "  {:>10} {:>13} {:>13} {:>13}",
            "m", "simulated", "± s.e.", "predicted"
        );
        for (m, sim, se, pred) in &t.points {
            let _ = writeln!(
                s,
                "  {m:>10} {:>13} {:>13} {:>13}",
                num(*sim),
                num(*se),
                num(*pred)
            );
        }
        let _ = writeln!(
            s,
            "  limit m → ∞: simulated {} ± {}, theory {}; finite-size slope {} ± {} (per 1/m)",
            num(t.measured.intercept),
            num(t.measured.intercept_se),
            num(t.predicted_limit),
            num(t.measured.slope),
            num(t.measured.slope_se)
        );
        let verdict = if t.pass { "holds" } else { "FAILS" };
        let _ = writeln!(
            s,
            "  extrapolated discrepancy {} ± {} (z = {:.2}): {verdict}",
            num(t.discrepancy.intercept),
            num(t.discrepancy.intercept_se),
            t.z
        );
    }
    let _ = writeln!(s, "verdict: {}", if x.pass { "pass" } else { "fail" });
    s
}

/// A budget plan: the constants, the optimal split with its risk, the downstream-only
/// alternative, the verdict, and the simulated splits of `--verify` if any.
pub fn plan(
    model: &str,
    k: &pretrainlab::plan::Constants,
    p: &pretrainlab::plan::Plan,
    verified: &[pretrainlab::plan::Verified],
) -> String {
    let mut s = format!(
        "model {model}: A = σ² d_eff = {}, C = E‖L(Z)‖² = {}, σ² d_base = {}\n",
        num(k.variance),
        num(k.interaction),
        num(k.baseline)
    );
    let _ = writeln!(s, "budget {}", num(p.budget));
    let _ = writeln!(
        s,
        "  pre-train:       m = {:.0}, n = {:.0}, predicted excess risk {}",
        p.m,
        p.n,
        num(p.risk)
    );
    let _ = writeln!(
        s,
        "  downstream only: n = {:.0}, predicted excess risk {}",
        p.downstream_n,
        num(p.downstream_risk)
    );
    let verdict = if p.pretrain {
        "pre-train"
    } else {
        "don't pre-train"
    };
    let _ = writeln!(
        s,
        "verdict: {verdict} (downstream-only risk / pre-train risk = {:.3})",
        p.margin
    );
    if !verified.is_empty() {
        let _ = writeln!(
            s,
            "simulated on the budget line:\n  {:>6} {:>10} {:>10} {:>13} {:>13} {:>13}",
            "m/n ×", "m", "n", "predicted", "simulated", "± s.e."
        );
        for v in verified {
            let _ = writeln!(
                s,
                "  {:>6} {:>10} {:>10} {:>13} {:>13} {:>13}",
                v.factor,
                v.m,
                v.n,
                num(v.predicted),
                num(v.simulated),
                num(v.se)
            );
        }
    }
    s
}

/// The `audit` table: one line per claim (id, where, the paper's value, the generic
/// theory, the simulation ± s.e., the verdict with the distance in s.e.), then the counts.
pub fn audit_table(rows: &[pretrainlab::audit::ClaimRow]) -> String {
    use pretrainlab::audit::Verdict;
    let f = |x: Option<f64>| x.map_or_else(|| "—".to_string(), format_number);
    let width = rows.iter().map(|r| r.id.len()).max().unwrap_or(5).max(5);
    let mut out = format!(
        "{:<width$}  {:<38}  {:>12}  {:>12}  {:>24}  verdict\n",
        "claim", "where", "paper", "generic", "simulated ± s.e."
    );
    for r in rows {
        let sim = match (r.simulated, r.simulated_se) {
            (Some(m), Some(se)) => format!("{} ± {}", format_number(m), format_number(se)),
            _ => "—".into(),
        };
        let verdict = match (r.verdict, r.z) {
            (Verdict::Contradicted, Some(z)) => format!("contradicted ({:.1} s.e.)", z.abs()),
            (v, _) => v.as_str().to_string(),
        };
        let location: String = r.location.chars().take(38).collect();
        out.push_str(&format!(
            "{:<width$}  {:<38}  {:>12}  {:>12}  {:>24}  {verdict}\n",
            r.id,
            location,
            f(r.paper_value),
            f(r.generic),
            sim
        ));
    }
    let count = |v: Verdict| rows.iter().filter(|r| r.verdict == v).count();
    out.push_str(&format!(
        "{} claims: {} confirmed, {} contradicted, {} not testable here\n",
        rows.len(),
        count(Verdict::Confirmed),
        count(Verdict::Contradicted),
        count(Verdict::NotTestable)
    ));
    out
}

/// The `status` text of one results folder: units done and missing per point, failed
/// trials, throughput and an estimate of the time left.
pub fn folder_status(s: &crate::status::FolderStatus) -> String {
    let mut out = format!(
        "{} ({}): {} of {} units stored, manifest says {}\n",
        s.dir.display(),
        s.name,
        s.units_done(),
        s.units_total(),
        s.manifest_status
    );
    let width = s
        .points
        .iter()
        .map(|p| p.label.len())
        .max()
        .unwrap_or(5)
        .max(5);
    out.push_str(&format!(
        "  {:<width$}  {:>7}  {:>7}  {:>8}  {:>6}\n",
        "point", "done", "missing", "trials", "failed"
    ));
    for p in &s.points {
        out.push_str(&format!(
            "  {:<width$}  {:>7}  {:>7}  {:>8}  {:>6}\n",
            p.label,
            p.units_done,
            p.units_total - p.units_done,
            p.trials_done,
            p.failed
        ));
    }
    for bad in &s.bad_units {
        out.push_str(&format!("  not counted: {bad}\n"));
    }
    match (s.trials_per_second, s.eta_seconds()) {
        (Some(r), Some(eta)) if s.trials_missing > 0 => out.push_str(&format!(
            "  {} trials missing; {r:.1} trials/s so far, about {} left at that rate\n",
            s.trials_missing,
            duration(eta)
        )),
        (Some(r), _) => out.push_str(&format!("  {r:.1} trials/s\n")),
        _ if s.trials_missing > 0 => {
            out.push_str(&format!("  {} trials missing\n", s.trials_missing));
        }
        _ => {}
    }
    out
}

/// Seconds as `1 h 02 min`, `3 min 05 s` or `42 s`.
fn duration(secs: f64) -> String {
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::num;

    #[test]
    fn numbers_are_compact() {
        assert_eq!(num(2.0), "2");
        assert_eq!(num(9.75), "9.750000");
        assert_eq!(num(2.5e-4), "2.50000e-4");
        assert_eq!(num(-0.5), "-0.500000");
        assert_eq!(num(f64::NAN), "NaN");
    }
}
