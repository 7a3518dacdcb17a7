//! `pretrainlab slurm` against a real single-node Slurm (brought up by `.ci/slurm-up`):
//! a sweep as a 4-task array plus assembly gives the bytes of a local run; a cancelled run
//! resubmitted completes to the same bytes; a paper preset runs through Slurm. Without a
//! running Slurm these tests say so loudly, and fail under CI (where `.ci/run` must have
//! brought it up).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn pretrainlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pretrainlab"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = pretrainlab(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pretrainlab-slurm-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Whether a Slurm controller answers; under CI its absence is a failure.
fn slurm_is_up() -> bool {
    let up = Command::new("scontrol")
        .arg("ping")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("UP"))
        .unwrap_or(false);
    if !up {
        let message =
            "SLURM IS NOT RUNNING: the Slurm tests did not run (start one with .ci/slurm-up)";
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("\n*** {message} ***\n");
    }
    up
}

/// The job ids `pretrainlab slurm` printed.
fn jobs(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("jobs: "))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Waits until none of `ids` is queued or running.
fn wait(ids: &[String], limit: Duration) {
    let start = Instant::now();
    loop {
        let out = Command::new("squeue")
            .args(["-h", "-j", &ids.join(",")])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).trim().is_empty() {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "jobs {ids:?} still queued after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn same_tables(a: &Path, b: &Path) {
    for table in ["points.csv", "trials.csv", "summary.json"] {
        assert_eq!(
            std::fs::read(a.join(table))
                .unwrap_or_else(|e| panic!("{}: {e}", a.join(table).display())),
            std::fs::read(b.join(table)).unwrap(),
            "{table}"
        );
    }
}

/// 2 points × 20 units; `trials` and `params` vary by test.
fn sweep(trials: u64, d: u64) -> String {
    format!(
        r#"
name = "slurm-sweep"
description = "factor along alpha on Slurm"
model = "factor"
actions = ["check"]
n = 2000
trials = {trials}
chunk = {}
seed = 1
[params]
d = {d}
k = 2
sampler = "raw"
[sweep]
[sweep.axes]
alpha = {{ list = [1.0, 2.0] }}
"#,
        trials / 20
    )
}

/// Acceptance: a 40-unit sweep as 4 tasks plus assembly gives tables byte-identical to
/// `pretrainlab run` on one machine.
#[test]
fn a_job_array_gives_the_bytes_of_a_local_run() {
    if !slurm_is_up() {
        return;
    }
    let dir = scratch("array");
    let file = dir.join("sweep.toml");
    std::fs::write(&file, sweep(400, 10)).unwrap();
    let (cluster, local) = (dir.join("cluster"), dir.join("local"));
    let out = ok(&["slurm", s(&file), "--tasks", "4", "--output", s(&cluster)]);
    let ids = jobs(&out);
    assert_eq!(ids.len(), 2, "{out}");
    wait(&ids, Duration::from_secs(300));
    ok(&["run", s(&file), "--output", s(&local), "--quiet"]);
    same_tables(&cluster, &local);
    assert_eq!(
        std::fs::read_dir(cluster.join("slurm"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("task-")
            })
            .count(),
        4
    );
    let status = ok(&["status", s(&cluster)]);
    assert!(status.contains("40 of 40 units stored"), "{status}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A run cancelled mid-way (the array and its assembly) keeps what it wrote; submitting
/// again runs only the missing units and completes to the bytes of a local run.
#[test]
fn a_cancelled_run_resubmitted_completes_identically() {
    if !slurm_is_up() {
        return;
    }
    let dir = scratch("cancel");
    let file = dir.join("sweep.toml");
    std::fs::write(&file, sweep(2000, 60)).unwrap();
    let (cluster, local) = (dir.join("cluster"), dir.join("local"));
    let out = ok(&["slurm", s(&file), "--tasks", "2", "--output", s(&cluster)]);
    let ids = jobs(&out);
    let units = cluster.join("units");
    let start = Instant::now();
    while std::fs::read_dir(&units).map(|d| d.count()).unwrap_or(0) < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no unit appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let cancel = Command::new("scancel").args(&ids).status().unwrap();
    assert!(cancel.success());
    wait(&ids, Duration::from_secs(60));
    let stored = std::fs::read_dir(&units).unwrap().count();
    assert!(
        stored < 40,
        "the cancel came too late to test anything ({stored} units)"
    );
    assert!(!cluster.join("points.csv").exists());
    let again = ok(&["slurm", s(&file), "--tasks", "2", "--output", s(&cluster)]);
    assert!(again.contains("missing"), "{again}");
    wait(&jobs(&again), Duration::from_secs(300));
    ok(&["run", s(&file), "--output", s(&local), "--quiet"]);
    same_tables(&cluster, &local);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A paper preset (`--quick`) through Slurm gives the files of a local `reproduce`.
#[test]
fn a_preset_runs_through_slurm() {
    if !slurm_is_up() {
        return;
    }
    let dir = scratch("preset");
    let (cluster, local) = (dir.join("cluster"), dir.join("local"));
    let out = ok(&[
        "slurm",
        "--preset",
        "factor-demo",
        "--quick",
        "--tasks",
        "3",
        "--output",
        s(&cluster),
    ]);
    wait(&jobs(&out), Duration::from_secs(300));
    ok(&[
        "reproduce",
        "factor-demo",
        "--quick",
        "--output",
        s(&local),
        "--quiet",
    ]);
    same_tables(&cluster, &local);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--dry-run` prints both scripts, with the shard of each task, and submits nothing.
#[test]
fn dry_run_prints_the_scripts() {
    let dir = scratch("dry");
    let file = dir.join("sweep.toml");
    std::fs::write(&file, sweep(400, 10)).unwrap();
    let out = ok(&[
        "slurm",
        s(&file),
        "--tasks",
        "4",
        "--output",
        s(&dir.join("out")),
        "--dry-run",
        "--partition",
        "short",
        "--sbatch-arg=--constraint=avx2",
    ]);
    assert!(
        out.contains("#SBATCH --array=0-3") && out.contains("--shard \"${SLURM_ARRAY_TASK_ID}/4\""),
        "{out}"
    );
    assert!(
        out.contains("#SBATCH --partition=short") && out.contains("#SBATCH --constraint=avx2"),
        "{out}"
    );
    assert!(out.contains("exec "), "{out}");
    assert!(!dir.join("out").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
