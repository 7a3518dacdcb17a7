//! `pretrainlab`: simulate, predict and check the models of pretrainlab.
//!
//! The binary parses arguments, calls the library and prints; the science lives in
//! the `pretrainlab` crate, experiments in `pretrainlab-experiment`.

mod commands;
mod experiments;
mod params;
mod presets;
mod progress;
mod slurm;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Simulation and asymptotic theory of pre-training models.
///
/// Every model (`pretrainlab models` lists them) goes through the same commands:
/// `simulate` runs its trials (Monte Carlo trials of a two-stage model, or one training
/// trajectory per seed of a dynamics model), `predict` computes what the theory says
/// (quantities, predicted means, limit laws, references, curves), and `check` compares the
/// two under the model's criteria and gives a verdict. `run`, `validate` and `reproduce`
/// turn these into experiments with sweeps, resumable results, figures and an HTML report.
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
    /// Compute the model's prediction from its theory (no simulation).
    Predict(RunArgs),
    /// Run the model's trials and summarise each metric.
    Simulate(RunArgs),
    /// Simulate and predict, compare them under the model's criteria and give a verdict.
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
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Run a built-in preset (a paper figure or a demo); `--list` lists them.
    Reproduce(ReproduceArgs),
    /// Check every claim of the papers that the models declare, in one run: each claim's
    /// instance is checked through the runner and store (it resumes), and `audit.html`,
    /// `audit.json` and `audit.csv` list each claim with the paper's value, the generic
    /// computation, the simulation ± s.e. and the verdict (confirmed, contradicted with
    /// the distance in s.e., or not testable here). Default folder: results/audit
    /// (results/audit-quick with --quick).
    Audit(AuditArgs),
    /// Run an experiment file or a preset on a Slurm cluster: writes an sbatch script into
    /// the results folder and submits a job array whose task I runs `--shard I/N`, then an
    /// assembly job (`--dependency=afterany`) that runs whatever is missing and writes the
    /// tables. Run it again to submit only what is missing; `--dry-run` prints the scripts.
    Slurm(slurm::SlurmArgs),
    /// Where a run stands: units done and missing per point, failed trials, throughput and
    /// an estimate of the time left, read from a results folder (an experiment, a preset's
    /// parts or an audit's instances) while shards run or after; writes nothing.
    Status {
        /// The results folder.
        dir: PathBuf,
    },
    /// Split a budget between unlabeled and labeled samples (two-stage models): the
    /// optimal (m, n) from the theory's constants, the downstream-only alternative and
    /// whether pre-training pays.
    Plan(PlanArgs),
}

#[derive(Args, Debug)]
struct PlanArgs {
    /// Model name (a two-stage model: factor, spectral, gmm).
    model: String,
    /// Set a model parameter, KEY=VALUE (TOML value). Repeatable; applied after `--config`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// TOML file of model parameters.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Total budget B = c_m·m + c_n·n to split.
    #[arg(long, value_parser = positive, required_unless_present = "target_risk")]
    budget: Option<f64>,
    /// Cost c_m of one unlabeled sample.
    #[arg(long, value_parser = positive)]
    cost_unlabeled: f64,
    /// Cost c_n of one labeled sample.
    #[arg(long, value_parser = positive)]
    cost_labeled: f64,
    /// Instead of a budget: the cheapest budget whose plan reaches this excess risk.
    #[arg(long, value_parser = positive, conflicts_with = "budget")]
    target_risk: Option<f64>,
    /// Also simulate the planned split and the splits with half and twice its m/n on the
    /// same budget, and show their simulated excess risks ± s.e.
    #[arg(long)]
    verify: bool,
    /// Trials per simulated split under `--verify`, 1 to 10⁸.
    #[arg(long, default_value_t = 2000, value_parser = bounded::<1, MAX_TRIALS, u64>)]
    trials: u64,
    /// Master seed of `--verify`.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = bounded::<0, { u64::MAX }, u64>)]
    seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also write into this folder `plan.json` and the figure `plan.svg`/`plan.png`
    /// (iso-risk contours in the (n, m) plane, the budget line and the optimum).
    #[arg(long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// No progress output on stderr.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Parses `--shard I/N`; clap names the flag in the error.
fn parse_shard(s: &str) -> Result<pretrainlab_experiment::store::Shard, String> {
    pretrainlab_experiment::store::Shard::parse(s)
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
    /// Worker threads, 1 to 1024 (default: all cores). Results do not depend on it.
    #[arg(long, allow_negative_numbers = true, value_parser = bounded::<1, 1024, usize>)]
    threads: Option<usize>,
    /// No progress output on stderr.
    #[arg(long)]
    quiet: bool,
    /// Compute only shard I of N (0 ≤ I < N): the units whose number j in the plan has
    /// j mod N = I and that are not stored yet, into the shared results folder, then stop.
    /// Shards of one folder may run at once, on machines that share it; a plain run
    /// afterwards writes the tables (running whatever is still missing).
    #[arg(long, value_name = "I/N", value_parser = parse_shard, conflicts_with = "fresh")]
    shard: Option<pretrainlab_experiment::store::Shard>,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Resource limits, checked before any work starts.
#[derive(Args, Debug, Clone, Copy)]
pub(crate) struct LimitArgs {
    /// Refuse runs whose estimated memory exceeds this many GiB (the prediction, the
    /// trials on every worker thread and the stored results).
    #[arg(long, value_name = "GIB", default_value_t = pretrainlab::budget::DEFAULT_MAX_BYTES / GIB, value_parser = positive)]
    pub(crate) max_memory: f64,
    /// Refuse runs whose estimated work exceeds this many floating-point operations
    /// (about 10⁹ per second per core).
    #[arg(long, value_name = "OPS", default_value_t = pretrainlab::budget::DEFAULT_MAX_FLOPS, value_parser = positive)]
    pub(crate) max_flops: f64,
}

const GIB: f64 = (1u64 << 30) as f64;

impl LimitArgs {
    pub(crate) fn limits(&self) -> pretrainlab::budget::Limits {
        pretrainlab::budget::Limits {
            max_bytes: self.max_memory * GIB,
            max_flops: self.max_flops,
        }
    }
}

/// Parses a finite number > 0.
fn positive(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| format!("must be a finite number > 0, got {s}"))
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

#[derive(Args, Debug)]
struct AuditArgs {
    /// Audit only this model's claims (repeatable; default: every model).
    #[arg(long = "model", value_name = "NAME")]
    models: Vec<String>,
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

/// How a two-stage model draws its sample covariances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SamplerArg {
    /// Draw the sample covariances from their Wishart laws (Bartlett): O(d³) per trial whatever m and n are.
    Wishart,
    /// Draw the m and n samples themselves: O((m + n) d²) per trial.
    Raw,
    /// factor only (its default): keep the pre-training Wishart as its Bartlett factor,
    /// take the top-k eigenpairs by block Krylov, draw the downstream statistics as a
    /// (k+1)-dimensional Wishart: exact in law, O(d²k) per trial.
    Projected,
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
    /// Shorthand for `--set m=M` (wins over it): the pre-training sample size of the
    /// two-stage models (default 20000). A model without a parameter `m` rejects it.
    #[arg(long, allow_negative_numbers = true, value_parser = bounded::<1, { u64::MAX }, u64>)]
    m: Option<u64>,
    /// Shorthand for `--set n=N` (wins over it): the downstream sample size of the
    /// two-stage models (default 10000). A model without a parameter `n` rejects it.
    #[arg(long, allow_negative_numbers = true, value_parser = bounded::<1, { u64::MAX }, u64>)]
    n: Option<u64>,
    /// Shorthand for `--set sampler="…"` (wins over it): how the `factor` and `spectral`
    /// models draw their sufficient statistics (default: projected for factor, wishart for
    /// spectral). Other models reject it.
    #[arg(long, value_enum)]
    sampler: Option<SamplerArg>,
    /// Number of trials (simulate, check): Monte Carlo trials, or seeds of a dynamics
    /// model, 1 to 10⁸ (default: the model's own, 2000 for the two-stage models).
    #[arg(long, allow_negative_numbers = true, value_parser = bounded::<1, MAX_TRIALS, u64>)]
    trials: Option<u64>,
    /// Master seed, an integer from 0 to 2⁶⁴ − 1; trial t uses its own stream derived
    /// from (seed, model, t).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = bounded::<0, { u64::MAX }, u64>)]
    seed: u64,
    /// Worker threads, 1 to 1024 (default: all cores). Results do not depend on it.
    #[arg(long, allow_negative_numbers = true, value_parser = bounded::<1, 1024, usize>)]
    threads: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also write into this folder `result.json` (the JSON output) and, for simulate and
    /// check, `trials.csv` (one row per completed trial: `trial`, then one column per metric).
    #[arg(long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// No progress output on stderr.
    #[arg(long)]
    quiet: bool,
    /// `check` only: repeat the check at (m, n), (2m, 2n) and (4m, 4n) and judge the
    /// decisive means on their extrapolation to m → ∞ (a weighted fit of the 1/m trend);
    /// the finite-size slope is reported. Models with sample sizes m and n only.
    #[arg(long)]
    extrapolate: bool,
    #[command(flatten)]
    limits: LimitArgs,
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

fn input_error(e: impl std::fmt::Display) -> anyhow::Error {
    InputError(e.to_string()).into()
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("error: {}", one_line_usage_error(&e));
            return ExitCode::from(2);
        }
    };
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

/// A command-line error in one line: a bad flag value as "invalid `--flag`: why", anything
/// else as clap's own first line, with a pointer to `--help`.
fn one_line_usage_error(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    let flag = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(a)) => a.split_whitespace().next().map(str::to_string),
        _ => None,
    };
    match (flag, std::error::Error::source(e)) {
        (Some(flag), Some(why)) => format!("invalid `{flag}`: {why}"),
        _ => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or_default();
            format!("{} (see --help)", first.trim_start_matches("error: "))
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Models { format } => commands::models(format),
        Command::Predict(args) => commands::predict(&args),
        Command::Simulate(args) => commands::simulate(&args),
        Command::Check(args) => commands::check(&args),
        Command::Run(args) => experiments::run_file(&args.file, &args.settings),
        Command::Validate {
            file,
            quick,
            limits,
        } => experiments::validate(&file, quick, &limits.limits()),
        Command::Plan(args) => commands::plan(&args),
        Command::Audit(args) => presets::audit(&args.models, &args.settings),
        Command::Status { dir } => experiments::status(&dir),
        Command::Slurm(args) => slurm::submit(&args),
        Command::Reproduce(args) => {
            if args.list {
                print!("{}", presets::list());
                return Ok(());
            }
            presets::reproduce(args.name.as_deref().unwrap_or_default(), &args.settings)
        }
    }
}

/// Most trials one command runs.
const MAX_TRIALS: u64 = 100_000_000;

/// Parses an integer flag in `LO..=HI`; clap names the flag in the error.
fn bounded<const LO: u64, const HI: u64, T: TryFrom<u64>>(s: &str) -> Result<T, String> {
    let range = if HI == u64::MAX {
        format!("an integer ≥ {LO}")
    } else {
        format!("an integer from {LO} to {HI}")
    };
    s.trim()
        .parse::<u64>()
        .ok()
        .filter(|v| (LO..=HI).contains(v))
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| format!("must be {range}, got {s}"))
}

/// Sets up the global thread pool (`None`: rayon's default, all cores).
fn set_threads(threads: Option<usize>) -> Result<()> {
    if let Some(t) = threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .context("setting up the thread pool")?;
    }
    Ok(())
}

/// Writes a file atomically (exclusive temporary sibling, then rename) under the folder
/// given with `--output`.
fn atomic_write(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    pretrainlab_experiment::store::atomic_write(path, bytes).context("--output")
}
