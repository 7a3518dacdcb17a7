//! `pretrainlab`: simulate, predict and check two-stage pre-training models.
//!
//! The binary parses arguments, calls the library and prints; the science lives in
//! the `pretrainlab` crate.

mod dynamics;
mod dynamics_figures;
mod experiments;
mod gmm_figures;
mod params;
mod presets;
mod progress;
mod render;
mod ssl_figures;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use pretrainlab::compare::{Check, Simulation, check};
use pretrainlab::engine::{RunResult, RunSpec};
use pretrainlab::linalg::Sampler;
use pretrainlab::models::{self, DynModel};
use pretrainlab::rng::experiment_key;

/// Simulation and asymptotic theory of self-supervised pre-training followed by a
/// frozen-representation least-squares head.
///
/// `simulate` runs the real two-stage pipeline over many Monte Carlo trials,
/// `predict` computes the limiting law of n(R − σ²) from the model, and `check`
/// compares the two and gives a verdict. The training-dynamics models (`yang-ssl`,
/// `factorization`, `diagonal`) use the same commands, with trajectories over seeds.
/// `run`, `validate` and `reproduce` turn these into experiments with sweeps, resumable
/// results, figures and an HTML report.
#[derive(Parser, Debug)]
#[command(name = "pretrainlab", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the models with their parameters, defaults and meaning.
    Models {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Compute the limit law of n(R − σ²) from the model (no simulation).
    Predict(RunArgs),
    /// Run the two-stage pipeline over Monte Carlo trials and summarise the risk parts.
    Simulate(RunArgs),
    /// Simulate and predict at the same (m, n), compare them and give a verdict.
    Check(RunArgs),
    /// Run an experiment file (sweeps, results store, figures, report.html); a rerun resumes.
    Run(ExperimentArgs),
    /// Check an experiment file without running it.
    Validate {
        /// The experiment file (TOML).
        file: PathBuf,
        /// Validate with the file's `[quick]` overrides applied.
        #[arg(long)]
        quick: bool,
    },
    /// Run a built-in preset (a paper figure or a demo); `--list` lists them.
    Reproduce(ReproduceArgs),
}

/// Settings shared by `run` and `reproduce`.
#[derive(Args, Debug)]
struct ExperimentSettings {
    /// Results folder (default: the file's `output`, else `results/<name>`; with
    /// `-quick` appended under `--quick`).
    #[arg(long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Discard finished units and earlier results instead of resuming.
    #[arg(long)]
    fresh: bool,
    /// Smaller run: apply the experiment's `[quick]` overrides (fewer trials).
    #[arg(long)]
    quick: bool,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// No progress output on stderr.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct ExperimentArgs {
    /// The experiment file (TOML).
    file: PathBuf,
    #[command(flatten)]
    settings: ExperimentSettings,
}

#[derive(Args, Debug)]
struct ReproduceArgs {
    /// The preset's name (see `--list`).
    #[arg(required_unless_present = "list")]
    name: Option<String>,
    /// List the presets, one line each.
    #[arg(long)]
    list: bool,
    #[command(flatten)]
    settings: ExperimentSettings,
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Aligned text tables for people.
    Table,
    /// One JSON object on stdout for programs.
    Json,
}

/// How the sample covariances are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SamplerArg {
    /// Draw the sample covariances from their Wishart laws (Bartlett): O(d³) per trial whatever m and n are.
    Wishart,
    /// Draw the m and n samples themselves: O((m + n) d²) per trial.
    Raw,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Model name (see `pretrainlab models`).
    model: String,
    /// Set a model parameter, KEY=VALUE with VALUE a TOML value, e.g. `--set k=3` or
    /// `--set strengths=[4,0.25]`. Repeatable; applied after `--config`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// TOML file of model parameters (a flat table, e.g. `d = 5` and `strengths = [4, 0.25]`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Pre-training sample size m (default 20000; not for dynamics models).
    #[arg(long)]
    m: Option<usize>,
    /// Downstream sample size n (default 10000; not for dynamics models).
    #[arg(long)]
    n: Option<usize>,
    /// Number of Monte Carlo trials (simulate, check); for dynamics models the number of
    /// seeds (default 2000, or the model's own default for dynamics models).
    #[arg(long)]
    trials: Option<u64>,
    /// Master seed; trial t uses its own stream derived from (seed, model, t).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Sampler for the sufficient statistics (default wishart; not for dynamics models).
    #[arg(long, value_enum)]
    sampler: Option<SamplerArg>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also write `trials.csv` (one row per trial) and `result.json` into this folder.
    #[arg(long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// No progress output on stderr.
    #[arg(long)]
    quiet: bool,
}

/// An error caused by the user's input: exit code 2.
#[derive(Debug)]
struct InputError(String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

impl RunArgs {
    fn m(&self) -> usize {
        self.m.unwrap_or(20_000)
    }
    fn n(&self) -> usize {
        self.n.unwrap_or(10_000)
    }
    fn trials(&self) -> u64 {
        self.trials.unwrap_or(2_000)
    }
}

fn input_error(e: impl std::fmt::Display) -> anyhow::Error {
    InputError(e.to_string()).into()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<experiments::Interrupted>().is_some() => {
            eprintln!("{e}");
            ExitCode::from(130)
        }
        Err(e) => {
            let input = e.downcast_ref::<InputError>().is_some()
                || matches!(
                    e.downcast_ref::<pretrainlab::Error>(),
                    Some(pretrainlab::Error::InvalidParameter { .. })
                );
            eprintln!("error: {e:#}");
            ExitCode::from(if input { 2 } else { 1 })
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Models { format } => {
            let mut cat = models::catalogue();
            cat.extend(pretrainlab::dynamics::catalogue());
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&cat)?),
                Format::Table => print!("{}", render::catalogue(&cat)),
            }
            Ok(())
        }
        Command::Predict(args) if pretrainlab::dynamics::is_dynamics(&args.model) => {
            dynamics::predict(&args)
        }
        Command::Simulate(args) if pretrainlab::dynamics::is_dynamics(&args.model) => {
            dynamics::simulate(&args)
        }
        Command::Check(args) if pretrainlab::dynamics::is_dynamics(&args.model) => {
            dynamics::check(&args)
        }
        Command::Predict(args) => {
            let model = setup(&args)?;
            let theory = model.theory()?;
            let pred = theory.at(args.m(), args.n());
            emit(&args, &pred, || render::prediction(&pred))
        }
        Command::Simulate(args) => {
            let model = setup(&args)?;
            let (spec, result) = simulate(&args, model.as_ref())?;
            let sim = summarise(model.as_ref(), &spec, &result)?;
            write_outputs(&args, model.as_ref(), &result, &sim)?;
            emit(&args, &sim, || render::simulation(&sim))
        }
        Command::Check(args) => {
            let model = setup(&args)?;
            let theory = model.theory()?;
            let (spec, result) = simulate(&args, model.as_ref())?;
            let sim = summarise(model.as_ref(), &spec, &result)?;
            let report: Check = check(&theory, sim, &result);
            write_outputs(&args, model.as_ref(), &result, &report)?;
            emit(&args, &report, || render::check(&report))
        }
        Command::Run(args) => {
            let origin = args.file.display().to_string();
            let text = std::fs::read_to_string(&args.file)
                .map_err(|e| input_error(format!("cannot read {origin}: {e}")))?;
            let ctx = context(&args.settings, PathBuf::new())?;
            let mut hint = format!("pretrainlab run {origin}");
            if ctx.quick {
                hint.push_str(" --quick");
            }
            if let Some(dir) = &args.settings.output {
                hint.push_str(&format!(" --output {}", dir.display()));
            }
            experiments::run_text(&text, &origin, args.settings.output.as_deref(), &ctx, &hint)
        }
        Command::Validate { file, quick } => {
            let origin = file.display().to_string();
            let text = std::fs::read_to_string(&file)
                .map_err(|e| input_error(format!("cannot read {origin}: {e}")))?;
            let exp = experiments::parse(&text, &origin, quick)?;
            print!("{origin}: {}", experiments::describe(&exp));
            Ok(())
        }
        Command::Reproduce(args) => {
            if args.list {
                print!("{}", presets::list());
                return Ok(());
            }
            let name = args.name.as_deref().unwrap_or_default();
            let preset = presets::find(name).ok_or_else(|| {
                input_error(format!(
                    "unknown preset `{name}`; `pretrainlab reproduce --list` lists them"
                ))
            })?;
            let output = args.settings.output.clone().unwrap_or_else(|| {
                experiments::quick_folder(
                    &PathBuf::from("results").join(preset.name),
                    args.settings.quick,
                )
            });
            let ctx = context(&args.settings, output.clone())?;
            match preset.kind {
                presets::PresetKind::Experiment(text) => {
                    let mut hint = format!("pretrainlab reproduce {}", preset.name);
                    if ctx.quick {
                        hint.push_str(" --quick");
                    }
                    if args.settings.output.is_some() {
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
                presets::PresetKind::Custom(f) => f(&ctx),
            }
        }
    }
}

/// The preset context of `run`/`reproduce`; also sets up the thread pool.
fn context(settings: &ExperimentSettings, output: PathBuf) -> Result<presets::PresetContext> {
    if let Some(t) = settings.threads {
        if t == 0 {
            return Err(input_error("invalid `threads`: must be ≥ 1, got 0"));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .context("setting up the thread pool")?;
    }
    Ok(presets::PresetContext {
        output,
        quick: settings.quick,
        threads: settings.threads,
        quiet: settings.quiet,
        fresh: settings.fresh,
    })
}

/// Parses parameters, builds the model, validates the run size and sets the thread pool.
fn setup(args: &RunArgs) -> Result<Box<dyn DynModel>> {
    let table = params::collect(args.config.as_deref(), &args.set).map_err(input_error)?;
    let model = models::build(&args.model, toml::Value::Table(table))?;
    model.check_sizes(args.m(), args.n())?;
    if args.trials() == 0 {
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
    Ok(model)
}

fn simulate(args: &RunArgs, model: &dyn DynModel) -> Result<(RunSpec, RunResult)> {
    let spec = RunSpec {
        m: args.m(),
        n: args.n(),
        trials: args.trials(),
        seed: args.seed,
        experiment: experiment_key(model.name()),
        sampler: match args.sampler.unwrap_or(SamplerArg::Wishart) {
            SamplerArg::Wishart => Sampler::Wishart,
            SamplerArg::Raw => Sampler::Raw,
        },
    };
    let bar = progress::Progress::new(args.trials(), "trials", args.quiet);
    let result = model.run(&spec, 0..spec.trials, &|k| bar.inc(k));
    bar.finish();
    Ok((spec, result))
}

fn summarise(model: &dyn DynModel, spec: &RunSpec, result: &RunResult) -> Result<Simulation> {
    Simulation::of(model.name(), model.extra_name(), spec, result).ok_or_else(|| {
        anyhow::anyhow!(
            "all {} trials failed; first reason: {}",
            spec.trials,
            result
                .failures
                .first()
                .map_or("unknown", |(_, e)| e.as_str())
        )
    })
}

fn emit<T: serde::Serialize>(
    args: &RunArgs,
    value: &T,
    table: impl FnOnce() -> String,
) -> Result<()> {
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(value)?),
        Format::Table => print!("{}", table()),
    }
    Ok(())
}

fn write_outputs<T: serde::Serialize>(
    args: &RunArgs,
    model: &dyn DynModel,
    result: &RunResult,
    value: &T,
) -> Result<()> {
    let Some(dir) = &args.output else {
        return Ok(());
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut csv = String::from("trial,scaled_excess,n_var,n_leak,n_rep,m_rep");
    if let Some(name) = model.extra_name() {
        csv.push(',');
        csv.push_str(name);
    }
    csv.push('\n');
    for (t, r) in &result.records {
        csv.push_str(&format!(
            "{t},{},{},{},{},{}",
            r.scaled_excess, r.n_var, r.n_leak, r.n_rep, r.m_rep
        ));
        if let Some(x) = r.extra {
            csv.push_str(&format!(",{x}"));
        }
        csv.push('\n');
    }
    atomic_write(&dir.join("trials.csv"), csv.as_bytes())?;
    atomic_write(
        &dir.join("result.json"),
        serde_json::to_string_pretty(value)?.as_bytes(),
    )
}

/// Writes via a temporary file and a rename, so a reader never sees half a file.
fn atomic_write(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}
