//! `pretrainlab slurm`: an experiment file or a preset as a Slurm job array of shards plus
//! an assembly job. Only translation: the shards, the store and the assembly are the
//! ones of `run --shard` and `run`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use clap::Args;

use crate::{LimitArgs, experiments, input_error};

#[derive(Args, Debug)]
pub struct SlurmArgs {
    /// The experiment file (TOML); or give `--preset`.
    #[arg(required_unless_present = "preset", conflicts_with = "preset")]
    file: Option<PathBuf>,
    /// A built-in preset instead of a file (`pretrainlab reproduce --list`).
    #[arg(long, value_name = "NAME")]
    preset: Option<String>,
    /// Array tasks (shards), 1 to 10000; fewer are submitted when fewer units are missing.
    #[arg(long, value_parser = crate::bounded::<1, 10_000, usize>)]
    tasks: usize,
    /// Results folder (default: as `run`/`reproduce`); it must be visible from the nodes.
    #[arg(long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// The experiment's `[quick]` overrides.
    #[arg(long)]
    quick: bool,
    /// Slurm partition (`--partition`).
    #[arg(long)]
    partition: Option<String>,
    /// Time limit of each task, e.g. `2:00:00` (`--time`).
    #[arg(long)]
    time: Option<String>,
    /// CPUs per task (`--cpus-per-task`); each task runs that many threads.
    #[arg(long, default_value_t = 1, value_parser = crate::bounded::<1, 1024, usize>)]
    cpus_per_task: usize,
    /// Memory per task, e.g. `4G` (`--mem`).
    #[arg(long)]
    mem: Option<String>,
    /// Account to charge (`--account`).
    #[arg(long)]
    account: Option<String>,
    /// Quality of service (`--qos`).
    #[arg(long)]
    qos: Option<String>,
    /// Another sbatch option for both jobs, e.g. `--sbatch-arg=--constraint=avx2`
    /// (repeatable).
    #[arg(long = "sbatch-arg", value_name = "OPTION", allow_hyphen_values = true)]
    sbatch_args: Vec<String>,
    /// Print the scripts and the sbatch commands; submit nothing, write nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

/// A path as one shell word.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The folder, the job name and the `pretrainlab` arguments (after the binary) of the
/// run; validates the file or preset first.
fn plan(args: &SlurmArgs) -> Result<(PathBuf, String, Vec<String>)> {
    let cwd = std::env::current_dir().context("the current folder")?;
    let absolute = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            cwd.join(p)
        }
    };
    let (folder, name, mut words) = if let Some(name) = &args.preset {
        let preset = pretrainlab_papers::find(name).ok_or_else(|| {
            input_error(format!(
                "unknown preset `{name}`; `pretrainlab reproduce --list` lists them"
            ))
        })?;
        pretrainlab_papers::parse(&preset, args.quick).map_err(input_error)?;
        let folder = args.output.clone().unwrap_or_else(|| {
            experiments::quick_folder(&PathBuf::from("results").join(preset.name), args.quick)
        });
        (
            folder,
            preset.name.to_string(),
            vec!["reproduce".to_string(), preset.name.to_string()],
        )
    } else {
        let file = args
            .file
            .as_ref()
            .expect("clap requires a file or --preset");
        let origin = file.display().to_string();
        let text = std::fs::read_to_string(file)
            .map_err(|e| input_error(format!("cannot read {origin}: {e}")))?;
        let e = experiments::parse(&text, &origin, args.quick)?;
        pretrainlab_experiment::admit(&e, &args.limits.limits())
            .map_err(|err| experiments::store_error(err, "--output"))?;
        let folder = args
            .output
            .clone()
            .unwrap_or_else(|| experiments::quick_folder(&e.output, args.quick));
        (
            folder,
            e.name.clone(),
            vec!["run".to_string(), absolute(file).display().to_string()],
        )
    };
    let folder = absolute(&folder);
    words.extend(["--output".into(), folder.display().to_string()]);
    if args.quick {
        words.push("--quick".into());
    }
    words.extend([
        "--max-memory".into(),
        args.limits.max_memory.to_string(),
        "--max-flops".into(),
        args.limits.max_flops.to_string(),
        "--quiet".into(),
    ]);
    Ok((folder, name, words))
}

/// Units of the folder still missing (all of them when nothing is stored yet).
fn missing_units(folder: &Path) -> Option<usize> {
    let found = pretrainlab_experiment::status::status(folder).ok()?;
    Some(found.iter().map(|f| f.units_total() - f.units_done()).sum())
}

/// The `#SBATCH` lines both jobs share.
fn header(args: &SlurmArgs, job: &str, log: &str) -> String {
    let mut h = format!(
        "#!/bin/bash\n#SBATCH --job-name={job}\n#SBATCH --cpus-per-task={}\n#SBATCH --output={log}\n",
        args.cpus_per_task
    );
    for (flag, value) in [
        ("partition", &args.partition),
        ("time", &args.time),
        ("mem", &args.mem),
        ("account", &args.account),
        ("qos", &args.qos),
    ] {
        if let Some(v) = value {
            h.push_str(&format!("#SBATCH --{flag}={v}\n"));
        }
    }
    for extra in &args.sbatch_args {
        h.push_str(&format!("#SBATCH {extra}\n"));
    }
    h
}

/// The array script (task I runs shard I/tasks) and the assembly script.
fn scripts(
    args: &SlurmArgs,
    folder: &Path,
    name: &str,
    words: &[String],
    tasks: usize,
) -> Result<(String, String)> {
    let binary = std::env::current_exe().context("the path of this pretrainlab binary")?;
    let command: Vec<String> = std::iter::once(binary.display().to_string())
        .chain(words.iter().cloned())
        .map(|w| quote(&w))
        .collect();
    let command = command.join(" ");
    let logs = folder.join("slurm");
    let threads = "--threads \"${SLURM_CPUS_PER_TASK:-1}\"";
    let array = format!(
        "{}#SBATCH --array=0-{}\n# Each task computes its shard of the units; `exec` so that scancel stops the tool itself.\nexec {command} --shard \"${{SLURM_ARRAY_TASK_ID}}/{tasks}\" {threads}\n",
        header(
            args,
            &format!("pretrainlab-{name}"),
            &logs.join("task-%A_%a.out").display().to_string()
        ),
        tasks - 1
    );
    let assemble = format!(
        "{}# Runs whatever the tasks left missing, then writes the tables, figures and report.\nexec {command} {threads}\n",
        header(
            args,
            &format!("pretrainlab-{name}-assemble"),
            &logs.join("assemble-%j.out").display().to_string()
        ),
    );
    Ok((array, assemble))
}

/// `sbatch --parsable [extra] SCRIPT`: the job id.
fn sbatch(extra: &[String], script: &Path) -> Result<String> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .args(extra)
        .arg(script)
        .output()
        .context("running sbatch (is Slurm's client installed and on the PATH?)")?;
    if !out.status.success() {
        anyhow::bail!(
            "sbatch {} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.trim().split(';').next().unwrap_or("").to_string())
}

/// `pretrainlab slurm`.
pub fn submit(args: &SlurmArgs) -> Result<()> {
    let (folder, name, words) = plan(args)?;
    let missing = missing_units(&folder);
    let tasks = match missing {
        Some(0) => 0,
        Some(m) => args.tasks.min(m),
        None => args.tasks,
    };
    let (array, assemble) = scripts(args, &folder, &name, &words, tasks.max(1))?;
    let slurm_dir = folder.join("slurm");
    let (array_path, assemble_path) = (
        slurm_dir.join("array.sbatch"),
        slurm_dir.join("assemble.sbatch"),
    );
    if args.dry_run {
        if tasks > 0 {
            println!("# {}\n{array}", array_path.display());
        }
        println!(
            "# {} (submitted with --dependency=afterany on the array)\n{assemble}",
            assemble_path.display()
        );
        return Ok(());
    }
    std::fs::create_dir_all(&slurm_dir)
        .with_context(|| format!("creating {}", slurm_dir.display()))?;
    crate::atomic_write(&array_path, array.as_bytes())?;
    crate::atomic_write(&assemble_path, assemble.as_bytes())?;
    let mut ids = Vec::new();
    let mut dependency = Vec::new();
    if tasks > 0 {
        let id = sbatch(&[], &array_path)?;
        dependency.push(format!("--dependency=afterany:{id}"));
        ids.push(id);
    }
    let assembly = sbatch(&dependency, &assemble_path)?;
    ids.push(assembly.clone());
    match missing {
        Some(0) => println!(
            "every unit of {} is stored: submitted only the assembly",
            folder.display()
        ),
        Some(m) => println!(
            "{m} unit(s) of {} missing: {tasks} task(s)",
            folder.display()
        ),
        None => println!("{}: a new run in {tasks} task(s)", folder.display()),
    }
    println!("jobs: {}", ids.join(" "));
    println!(
        "watch:  squeue -j {}   and   pretrainlab status {}",
        ids.join(","),
        folder.display()
    );
    println!(
        "finish: the assembly job writes the tables; if tasks failed or were cancelled, run the same `pretrainlab slurm` again (stored units are kept), or `{}` here",
        std::iter::once("pretrainlab".to_string())
            .chain(words.iter().filter(|w| *w != "--quiet").cloned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(())
}
