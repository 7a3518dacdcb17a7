//! Running experiment files from the command line: output folder, thread pool, Ctrl-C,
//! progress and the closing summary. The work itself is `pretrainlab_experiment::run`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use pretrainlab::budget::Limits;
use pretrainlab_experiment::{Experiment, Outcome, RunOptions, StoreError};

use crate::progress::ExperimentProgress;
use crate::{ExperimentSettings, input_error};

/// Settings an experiment or preset runs with, from the command line.
#[derive(Clone, Debug)]
pub struct RunContext {
    /// Smaller defaults (fewer trials): the experiment file's `[quick]` table.
    pub quick: bool,
    /// Worker threads (`None`: all cores). The pool is already set up when a run starts.
    pub threads: Option<usize>,
    /// No progress output on stderr.
    pub quiet: bool,
    /// Discard earlier results instead of resuming.
    pub fresh: bool,
    /// The most memory and work one point's run may take.
    pub limits: Limits,
    /// `--shard I/N`: this shard's units only, no assembly.
    pub shard: Option<pretrainlab_experiment::store::Shard>,
}

/// Set by Ctrl-C; the run stops after the unit in flight.
pub(crate) static STOP: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C handler once: the first Ctrl-C asks the run to stop after the
/// unit in flight, a second one exits at once.
pub fn install_interrupt_handler() {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
    let handler = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: stopping after the unit in flight (Ctrl-C again to quit now)");
    });
    if let Err(e) = handler {
        eprintln!("warning: Ctrl-C will not stop cleanly: {e}");
    }
}

/// An experiment that was interrupted: exit code 130 after the message.
#[derive(Debug)]
pub struct Interrupted(pub String);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}

/// `pretrainlab run FILE`.
pub fn run_file(file: &Path, settings: &ExperimentSettings) -> Result<()> {
    let origin = file.display().to_string();
    let text = std::fs::read_to_string(file)
        .map_err(|e| input_error(format!("cannot read {origin}: {e}")))?;
    let ctx = context(settings)?;
    let mut hint = format!("pretrainlab run {origin}");
    if ctx.quick {
        hint.push_str(" --quick");
    }
    if let Some(dir) = &settings.output {
        hint.push_str(&format!(" --output {}", dir.display()));
    }
    run_text(&text, &origin, settings.output.as_deref(), &ctx, &hint)
}

/// `pretrainlab status DIR`.
pub fn status(dir: &Path) -> Result<()> {
    let folders = pretrainlab_experiment::status::status(dir)
        .map_err(|e| store_error(e, "the folder given"))?;
    for f in &folders {
        print!("{}", pretrainlab_experiment::text::folder_status(f));
    }
    Ok(())
}

/// `pretrainlab validate FILE`: parses the file, builds every point's model and checks
/// the resource limits.
pub fn validate(file: &Path, quick: bool, limits: &Limits) -> Result<()> {
    let origin = file.display().to_string();
    let text = std::fs::read_to_string(file)
        .map_err(|e| input_error(format!("cannot read {origin}: {e}")))?;
    let exp = parse(&text, &origin, quick)?;
    pretrainlab_experiment::admit(&exp, limits)
        .map_err(|e| store_error(e, &format!("`output` of {origin}")))
        .with_context(|| format!("validating {origin}"))?;
    print!("{origin}: {}", exp.describe());
    Ok(())
}

/// The preset context of `run`/`reproduce`; also sets up the thread pool.
pub fn context(settings: &ExperimentSettings) -> Result<RunContext> {
    crate::set_threads(settings.threads)?;
    Ok(RunContext {
        quick: settings.quick,
        threads: settings.threads,
        quiet: settings.quiet,
        fresh: settings.fresh,
        limits: settings.limits.limits(),
        shard: settings.shard,
    })
}

/// Parses experiment text, with errors prefixed by `origin` (a file path or preset name).
pub fn parse(text: &str, origin: &str, quick: bool) -> Result<Experiment> {
    pretrainlab_experiment::parse(text, quick).map_err(|e| input_error(format!("{origin}: {e}")))
}

/// Runs experiment text end to end. `resume_hint` is the command that resumes it.
pub fn run_text(
    text: &str,
    origin: &str,
    output: Option<&Path>,
    ctx: &RunContext,
    resume_hint: &str,
) -> Result<()> {
    let exp = parse(text, origin, ctx.quick)?;
    let dir: PathBuf =
        output.map_or_else(|| quick_folder(&exp.output, ctx.quick), Path::to_path_buf);
    install_interrupt_handler();
    let progress = ExperimentProgress::new(ctx.quiet);
    let start = Instant::now();
    let outcome = pretrainlab_experiment::run(
        &exp,
        &RunOptions {
            output: dir.clone(),
            fresh: ctx.fresh,
            stop: &STOP,
            progress: &progress,
            source: text.to_string(),
            limits: ctx.limits,
            shard: ctx.shard,
        },
    )
    .map_err(|e| {
        let setting = match output {
            Some(_) => "--output".to_string(),
            None => format!("`output` of {origin}"),
        };
        store_error(e, &setting)
    })
    .with_context(|| format!("running {origin}"))?;
    let secs = start.elapsed().as_secs_f64();
    match outcome {
        Outcome::Interrupted {
            units_done,
            units_total,
        } => Err(Interrupted(format!(
            "interrupted: {units_done} of {units_total} units are stored in {}; resume with `{resume_hint}`",
            dir.display()
        ))
        .into()),
        Outcome::Finished(f) => {
            print_finished(&exp.name, &f, secs, ctx.threads);
            Ok(())
        }
        Outcome::Shard {
            units_run,
            units_missing,
            units_total,
        } => {
            print_shard(ctx, units_run, units_missing, units_total, &dir, resume_hint);
            Ok(())
        }
    }
}

/// What a shard did, and how to assemble.
pub fn print_shard(
    ctx: &RunContext,
    units_run: usize,
    units_missing: usize,
    units_total: usize,
    dir: &Path,
    plain: &str,
) {
    let shard = ctx
        .shard
        .map_or(String::new(), |s| format!("{}/{}", s.index, s.count));
    println!(
        "shard {shard}: {units_run} unit(s) run; {units_missing} of {units_total} unit(s) of {} are still missing. When every shard has finished, `{plain}` writes the tables.",
        dir.display()
    );
}

/// A store error for the user: the ones the input caused (a changed file, a busy or
/// foreign folder, a link, a run over the limits) exit with code 2; an I/O failure names
/// the `setting` the folder came from.
pub fn store_error(e: StoreError, setting: &str) -> anyhow::Error {
    match e {
        StoreError::Changed { .. }
        | StoreError::Locked { .. }
        | StoreError::Link { .. }
        | StoreError::NotResults { .. }
        | StoreError::NoRun { .. }
        | StoreError::Budget { .. }
        | StoreError::UnknownName { .. } => input_error(e),
        StoreError::Model(pretrainlab::Error::InvalidParameter { .. }) => input_error(e),
        StoreError::Io { .. } => {
            anyhow::Error::new(e).context(format!("the results folder ({setting})"))
        }
        other => anyhow::Error::new(other),
    }
}

/// The closing summary of a finished experiment: counts, verdicts and files written.
pub fn print_finished(
    name: &str,
    f: &pretrainlab_experiment::Finished,
    secs: f64,
    threads: Option<usize>,
) {
    use std::io::Write;
    let threads = threads.map_or("all cores".to_string(), |t| format!("{t} thread(s)"));
    let mut text = format!(
        "{name}: {} point(s), {} unit(s) run, {} reused, {secs:.1} s on {threads}\n",
        f.points, f.units_run, f.units_reused
    );
    for (label, verdict) in &f.verdicts {
        text.push_str(&format!("  {verdict:<4}  {label}\n"));
    }
    text.push_str(&format!("wrote {}:\n", f.dir.display()));
    for file in &f.files {
        text.push_str(&format!("  {file}\n"));
    }
    // A closed pipe (e.g. `| head`) is not an error of the run.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// The default results folder: `--quick` runs go to `<folder>-quick`, so they never
/// collide with the full run's finished units.
pub fn quick_folder(dir: &Path, quick: bool) -> PathBuf {
    if !quick {
        return dir.to_path_buf();
    }
    let mut s = dir.as_os_str().to_owned();
    s.push("-quick");
    PathBuf::from(s)
}
