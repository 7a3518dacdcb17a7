//! `models`, `predict`, `simulate` and `check`: one path for every model, whatever its
//! family. Parameters (`--config`, `--set`, and `--m`, `--n`, `--sampler` as shorthands)
//! make one table; the registry builds the model from it and rejects what the model does
//! not take; the runner runs its trials; `pretrainlab::criteria` summarises and checks them.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use pretrainlab::criteria::{self, Simulation};
use pretrainlab::model::{DynModel, Prediction};
use pretrainlab::registry;
use pretrainlab::runner::{self, Trials};
use serde_json::Value;

use pretrainlab_experiment::text as render;

use crate::{Format, RunArgs, SamplerArg, atomic_write, input_error, params, progress};

/// `pretrainlab models`: the registry's catalogue.
pub fn models(format: Format) -> Result<()> {
    let cat = registry::catalogue();
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&cat)?),
        Format::Table => print!("{}", render::catalogue(&cat)),
    }
    Ok(())
}

/// The parameter table of a run: `--config`, then `--set`, then the shorthands.
fn table(args: &RunArgs) -> Result<toml::Table> {
    let mut table = params::collect(args.config.as_deref(), &args.set).map_err(input_error)?;
    for (key, value) in [("m", args.m), ("n", args.n)] {
        if let Some(v) = value {
            let v = i64::try_from(v)
                .map_err(|_| input_error(format!("invalid `{key}`: {v} is too large")))?;
            table.insert(key.into(), toml::Value::Integer(v));
        }
    }
    if let Some(s) = args.sampler {
        let name = match s {
            SamplerArg::Wishart => "wishart",
            SamplerArg::Raw => "raw",
            SamplerArg::Projected => "projected",
        };
        table.insert("sampler".into(), toml::Value::String(name.into()));
    }
    Ok(table)
}

/// Sets the thread pool and builds the model from its parameters.
fn build(args: &RunArgs) -> Result<Box<dyn DynModel>> {
    let table = table(args)?;
    crate::set_threads(args.threads)?;
    Ok(registry::build(&args.model, table)?)
}

/// The model's prediction. One that overflows is the input's fault: the error names the
/// parameters the user gave.
fn predicted(args: &RunArgs, model: &dyn DynModel) -> Result<Prediction> {
    model.predict().map_err(|e| match e {
        pretrainlab::Error::NotFinite { .. } => {
            input_error(format!("invalid `{}`: {e}", given(args)))
        }
        other => other.into(),
    })
}

/// The parameters the user gave, for errors that only the combination explains.
fn given(args: &RunArgs) -> String {
    let keys: Vec<String> = table(args)
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    if keys.is_empty() {
        "parameters".into()
    } else {
        keys.join("`, `")
    }
}

/// The number of trials (`--trials`, else the model's default).
fn trial_count(args: &RunArgs, model: &dyn DynModel) -> u64 {
    args.trials.unwrap_or_else(|| model.default_trials())
}

/// Refuses a run of `trials` trials (0: a prediction alone) over the resource limits.
fn admit(args: &RunArgs, model: &dyn DynModel, trials: u64) -> Result<()> {
    pretrainlab::budget::admit_model(model, trials, &args.limits.limits()).map_err(input_error)
}

/// Runs the trials of `model` with a progress bar.
fn run_trials(args: &RunArgs, model: &dyn DynModel) -> Result<Trials> {
    let count = trial_count(args, model);
    let bar = progress::Progress::new(count, "trials", args.quiet);
    let trials = runner::run(model, args.seed, 0..count, &|k| bar.inc(k));
    bar.finish();
    Ok(trials)
}

/// `pretrainlab predict`.
pub fn predict(args: &RunArgs) -> Result<()> {
    let model = build(args)?;
    admit(args, model.as_ref(), 0)?;
    let p = predicted(args, model.as_ref())?;
    let json = criteria::prediction_json(&p);
    write_outputs(args, None, &json)?;
    emit(args, &json, || render::prediction(&p, &model.labels()))
}

/// `pretrainlab simulate`.
pub fn simulate(args: &RunArgs) -> Result<()> {
    let model = build(args)?;
    admit(args, model.as_ref(), trial_count(args, model.as_ref()))?;
    let trials = run_trials(args, model.as_ref())?;
    if trials.completed() == 0 {
        let first = trials
            .failures
            .first()
            .map_or("unknown", |(_, e)| e.as_str());
        return Err(input_error(format!(
            "invalid `{}`: all {} trials failed; first reason: {first}",
            given(args),
            trials.attempted()
        )));
    }
    let sim = Simulation::of(model.as_ref(), args.seed, &trials);
    let json = sim.to_json();
    write_outputs(args, Some(&trials), &json)?;
    emit(args, &json, || render::simulation(&sim))
}

/// `pretrainlab check`.
pub fn check(args: &RunArgs) -> Result<()> {
    if args.extrapolate {
        return extrapolate(args);
    }
    let model = build(args)?;
    admit(args, model.as_ref(), trial_count(args, model.as_ref()))?;
    let prediction = predicted(args, model.as_ref())?;
    let trials = run_trials(args, model.as_ref())?;
    let report = criteria::assess(model.as_ref(), prediction, args.seed, &trials);
    let json = report.to_json();
    write_outputs(args, Some(&trials), &json)?;
    emit(args, &json, || render::check(&report))
}

/// `pretrainlab plan`: the theory's constants from the model's prediction, then the split.
pub fn plan(args: &crate::PlanArgs) -> Result<()> {
    use pretrainlab::plan::{Constants, Costs, budget_for, plan, verify};
    let table = params::collect(args.config.as_deref(), &args.set).map_err(input_error)?;
    let model = registry::build(&args.model, table.clone())?;
    let constants = Constants::of(&model.predict()?)?;
    let costs = Costs {
        unlabeled: args.cost_unlabeled,
        labeled: args.cost_labeled,
    };
    let p = match (args.target_risk, args.budget) {
        (Some(r), _) => budget_for(&constants, &costs, r)?,
        (None, Some(b)) => plan(&constants, &costs, b)?,
        (None, None) => {
            return Err(input_error(
                "invalid `--budget`: give a budget or --target-risk",
            ));
        }
    };
    let verified = if args.verify {
        let factors = [0.5, 1.0, 2.0];
        let bar = progress::Progress::new(factors.len() as u64 * args.trials, "trials", args.quiet);
        let v = verify(
            &args.model,
            &table,
            &constants,
            &costs,
            &p,
            &factors,
            args.trials,
            args.seed,
            &args.limits.limits(),
            &|k| bar.inc(k),
        )?;
        bar.finish();
        v
    } else {
        Vec::new()
    };
    let json = serde_json::json!({
        "model": args.model, "constants": constants, "costs": costs, "plan": p, "verify": verified,
    });
    if let Some(dir) = &args.output {
        atomic_write(
            &dir.join("plan.json"),
            serde_json::to_string_pretty(&json)?.as_bytes(),
        )?;
        pretrainlab_experiment::figures::write_plan_figure(
            &constants,
            &costs,
            &p,
            &dir.join("plan"),
        )
        .context("--output")?;
    }
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&json)?),
        Format::Table => print!("{}", render::plan(&args.model, &constants, &p, &verified)),
    }
    Ok(())
}

/// `pretrainlab check --extrapolate`: the check at 1, 2 and 4 times the sizes.
fn extrapolate(args: &RunArgs) -> Result<()> {
    let table = table(args)?;
    crate::set_threads(args.threads)?;
    let base = registry::build(&args.model, table.clone())?;
    let trials = trial_count(args, base.as_ref());
    let scales = [1, 2, 4];
    let bar = progress::Progress::new(scales.len() as u64 * trials, "trials", args.quiet);
    let x = pretrainlab::extrapolate::extrapolate(
        &args.model,
        &table,
        args.seed,
        trials,
        &scales,
        &args.limits.limits(),
        &|k| bar.inc(k),
    )?;
    bar.finish();
    let json = x.to_json();
    write_outputs(args, None, &json)?;
    emit(args, &json, || render::extrapolation(&x))
}

fn emit(args: &RunArgs, json: &Value, table: impl FnOnce() -> String) -> Result<()> {
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(json)?),
        Format::Table => print!("{}", table()),
    }
    Ok(())
}

/// Under `--output DIR`: `trials.csv` (when there are trials) and `result.json`.
fn write_outputs(args: &RunArgs, trials: Option<&Trials>, json: &Value) -> Result<()> {
    let Some(dir) = &args.output else {
        return Ok(());
    };
    std::fs::create_dir_all(dir)
        .with_context(|| format!("--output: cannot create {}", dir.display()))?;
    if let Some(t) = trials {
        atomic_write(&dir.join("trials.csv"), trials_csv(t).as_bytes())?;
    }
    atomic_write(
        &Path::new(dir).join("result.json"),
        serde_json::to_string_pretty(json)?.as_bytes(),
    )
}

/// One row per completed trial: its id, then its metrics in schema order.
fn trials_csv(t: &Trials) -> String {
    let mut csv = format!("trial,{}\n", t.metrics.join(","));
    for (i, id) in t.ids.iter().enumerate() {
        let _ = write!(csv, "{id}");
        for v in &t.row(i)[..t.metrics.len()] {
            let _ = write!(csv, ",{v}");
        }
        csv.push('\n');
    }
    csv
}
