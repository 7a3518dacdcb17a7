//! `predict | simulate | check` for the training-dynamics models of
//! `pretrainlab::dynamics` (picked when the model name is in its catalogue).
//!
//! Same flags as the two-stage models, except `--m`, `--n` and `--sampler`, which do not
//! apply and are rejected (exit code 2). `--trials` is the number of seeds.
//!
//! JSON: `predict` → `{model, <quantity>: value, …, curves}`; `simulate` → `{model, trials,
//! seed, completed, failed, failure_examples, <metric>: {mean, se, q05, q25, q50, q75,
//! q95}, …}`; `check` → `{prediction, simulation, criteria, verdict, reasons}`.

use std::fmt::Write;

use anyhow::{Context, Result};
use pretrainlab::dynamics::{
    self, DynCheck, DynDynamics, DynPrediction, DynSimulation, RunOutcome,
};
use serde_json::{Map, Value, json};

use crate::{Format, RunArgs, atomic_write, input_error, params, progress};

/// Parses parameters, rejects flags that do not apply, sets the thread pool, builds the model.
fn setup(args: &RunArgs) -> Result<(Box<DynDynamics>, u64)> {
    for (flag, given) in [
        ("m", args.m.is_some()),
        ("n", args.n.is_some()),
        ("sampler", args.sampler.is_some()),
    ] {
        if given {
            return Err(input_error(format!(
                "invalid `{flag}`: --{flag} does not apply to the training-dynamics model `{}`; set its parameters with --set KEY=VALUE (see `pretrainlab models`)",
                args.model
            )));
        }
    }
    let table = params::collect(args.config.as_deref(), &args.set).map_err(input_error)?;
    let model = dynamics::build(&args.model, toml::Value::Table(table))?;
    let trials = args.trials.unwrap_or_else(|| model.default_seeds());
    if trials == 0 {
        return Err(input_error("invalid `trials`: must be ≥ 1, got 0"));
    }
    if let Some(t) = args.threads {
        if t == 0 {
            return Err(input_error("invalid `threads`: must be ≥ 1, got 0"));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .context("setting up the thread pool")?;
    }
    Ok((model, trials))
}

fn prediction_json(p: &DynPrediction) -> Value {
    let mut m = Map::new();
    m.insert("model".into(), json!(p.model));
    for (k, v) in &p.quantities {
        m.insert(k.clone(), json!(v));
    }
    let curves: Map<String, Value> = p
        .curves
        .iter()
        .map(|c| (c.name.clone(), json!({"t": c.t, "y": c.y})))
        .collect();
    m.insert("curves".into(), Value::Object(curves));
    Value::Object(m)
}

fn simulation_json(s: &DynSimulation) -> Value {
    let mut m = Map::new();
    m.insert("model".into(), json!(s.model));
    m.insert("trials".into(), json!(s.trials));
    m.insert("seed".into(), json!(s.seed));
    m.insert("completed".into(), json!(s.completed));
    m.insert("failed".into(), json!(s.failed));
    m.insert("failure_examples".into(), json!(s.failure_examples));
    for (k, v) in &s.metrics {
        m.insert(k.clone(), json!(v));
    }
    Value::Object(m)
}

fn check_json(c: &DynCheck) -> Value {
    json!({
        "prediction": prediction_json(&c.prediction),
        "simulation": simulation_json(&c.simulation),
        "criteria": c.criteria,
        "verdict": if c.pass { "pass" } else { "fail" },
        "reasons": c.criteria.iter().filter(|c| !c.pass).map(|c| format!("{}: {}", c.name, c.statement)).collect::<Vec<_>>(),
    })
}

fn render_prediction(p: &DynPrediction) -> String {
    let mut s = format!("model {} (prediction)\n", p.model);
    for (k, v) in &p.quantities {
        let _ = writeln!(s, "  {k:<28} {v:.6e}");
    }
    for c in &p.curves {
        let _ = writeln!(s, "  curve {} ({} points)", c.name, c.t.len());
    }
    s
}

fn render_simulation(sim: &DynSimulation) -> String {
    let mut s = format!(
        "model {}   {} seeds ({} completed, {} failed), seed {}\n",
        sim.model, sim.trials, sim.completed, sim.failed, sim.seed
    );
    for e in &sim.failure_examples {
        let _ = writeln!(s, "  failed: {e}");
    }
    let _ = writeln!(
        s,
        "  {:<26} {:>12} {:>10} {:>11} {:>11} {:>11} {:>11} {:>11}",
        "metric", "mean", "s.e.", "q05", "q25", "q50", "q75", "q95"
    );
    for (k, x) in &sim.metrics {
        let _ = writeln!(
            s,
            "  {:<26} {:>12.5e} {:>10.2e} {:>11.4e} {:>11.4e} {:>11.4e} {:>11.4e} {:>11.4e}",
            k, x.mean, x.se, x.q05, x.q25, x.q50, x.q75, x.q95
        );
    }
    s
}

fn render_check(c: &DynCheck) -> String {
    let mut s = render_prediction(&c.prediction);
    s.push_str(&render_simulation(&c.simulation));
    let _ = writeln!(s, "criteria:");
    for cr in &c.criteria {
        let pred = cr.predicted.map_or("—".into(), |v| format!("{v:.5e}"));
        let se = cr.se.map_or(String::new(), |v| format!(" ± {v:.2e}"));
        let _ = writeln!(
            s,
            "  [{}] {:<24} predicted {pred:>12}  measured {:.5e}{se}\n         {}",
            if cr.pass { "pass" } else { "FAIL" },
            cr.name,
            cr.measured,
            cr.statement
        );
    }
    let _ = writeln!(s, "verdict: {}", if c.pass { "pass" } else { "fail" });
    s
}

fn emit(args: &RunArgs, value: &Value, table: impl FnOnce() -> String) -> Result<()> {
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(value)?),
        Format::Table => print!("{}", table()),
    }
    Ok(())
}

/// `runs.csv` (one row per completed seed, one column per metric) and `result.json`.
fn write_outputs(args: &RunArgs, runs: &[RunOutcome], value: &Value) -> Result<()> {
    let Some(dir) = &args.output else {
        return Ok(());
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let names: Vec<&str> = runs
        .first()
        .map(|r| r.metrics.iter().map(|(k, _)| k.as_str()).collect())
        .unwrap_or_default();
    let mut csv = format!("run,{}\n", names.join(","));
    for (i, r) in runs.iter().enumerate() {
        let row: Vec<String> = names
            .iter()
            .map(|k| r.metric(k).map_or(String::new(), |v| v.to_string()))
            .collect();
        let _ = writeln!(csv, "{i},{}", row.join(","));
    }
    atomic_write(&dir.join("runs.csv"), csv.as_bytes())?;
    atomic_write(
        &dir.join("result.json"),
        serde_json::to_string_pretty(value)?.as_bytes(),
    )
}

pub fn predict(args: &RunArgs) -> Result<()> {
    let (model, _) = setup(args)?;
    let p = model.predict()?;
    emit(args, &prediction_json(&p), || render_prediction(&p))
}

fn run(args: &RunArgs, model: &DynDynamics, trials: u64) -> (DynSimulation, Vec<RunOutcome>) {
    let bar = progress::Progress::new(trials, "seeds", args.quiet);
    let outcomes = dynamics::run_seeds(model, args.seed, trials, &|k| bar.inc(k));
    bar.finish();
    DynSimulation::of(model.name(), args.seed, outcomes)
}

pub fn simulate(args: &RunArgs) -> Result<()> {
    let (model, trials) = setup(args)?;
    let (sim, runs) = run(args, model.as_ref(), trials);
    if runs.is_empty() {
        anyhow::bail!(
            "all {trials} seeds failed; first reason: {}",
            sim.failure_examples
                .first()
                .map_or("unknown", |s| s.as_str())
        );
    }
    let value = simulation_json(&sim);
    write_outputs(args, &runs, &value)?;
    emit(args, &value, || render_simulation(&sim))
}

pub fn check(args: &RunArgs) -> Result<()> {
    let (model, trials) = setup(args)?;
    let bar = progress::Progress::new(trials, "seeds", args.quiet);
    let (report, runs) = dynamics::check(model.as_ref(), args.seed, trials, &|k| bar.inc(k))?;
    bar.finish();
    let value = check_json(&report);
    write_outputs(args, &runs, &value)?;
    emit(args, &value, || render_check(&report))
}
