//! End-to-end tests of experiment files: presets, the results store, resume after a kill,
//! thread independence, changed files, malformed files, Ctrl-C and the HTML report.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pretrainlab"))
}

fn pretrainlab(args: &[&str]) -> Output {
    bin().args(args).output().expect("binary runs")
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

/// A fresh scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pretrainlab-exp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// An experiment with 40 units of 20 trials that takes a few seconds with the raw sampler.
const SLOW: &str = r#"
name = "slow"
model = "factor"
actions = ["check"]
sampler = "raw"
n = 2000
trials = 400
chunk = 20
seed = 3

[params]
d = 5
k = 2

[sweep.axes]
alpha = { list = [1, 4] }
"#;

/// The result files that must be identical between runs.
const RESULT_FILES: [&str; 5] = [
    "trials.csv",
    "trials.parquet",
    "points.csv",
    "points.parquet",
    "summary.json",
];

fn assert_same_results(a: &Path, b: &Path) {
    for f in RESULT_FILES {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(
            x == y,
            "{f} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

fn units(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("units")).map_or(0, |d| {
        d.filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".txt"))
        })
        .count()
    })
}

/// Waits until `dir` holds at least `k` finished units; false on timeout or if the child exited.
fn wait_for_units(child: &mut std::process::Child, dir: &Path, k: usize) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if units(dir) >= k {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn reproduce_lists_presets_and_the_quick_demo_writes_everything() {
    let list = ok(&["reproduce", "--list"]);
    assert!(list.contains("factor-demo"), "{list}");
    assert!(
        list.lines().all(|l| l.split_whitespace().count() > 2),
        "{list}"
    );

    let dir = scratch("demo");
    let start = Instant::now();
    let out = ok(&[
        "reproduce",
        "factor-demo",
        "--quick",
        "--quiet",
        "--output",
        s(&dir),
    ]);
    let secs = start.elapsed().as_secs_f64();
    assert!(secs < 60.0, "the quick demo took {secs:.1} s");
    for f in [
        "trials.csv",
        "trials.parquet",
        "points.csv",
        "points.parquet",
        "manifest.json",
        "summary.json",
        "report.html",
        "figures/sweep.svg",
        "figures/sweep.png",
        "figures/cdf.svg",
        "figures/cdf.png",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing; stdout: {out}");
    }
    for table in ["trials.csv", "points.csv"] {
        let text = std::fs::read_to_string(dir.join(table)).unwrap();
        let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
        for (i, h) in header.iter().enumerate() {
            assert!(!header[..i].contains(h), "{table}: column {h} twice");
        }
    }
    let png = std::fs::read(dir.join("figures/sweep.png")).unwrap();
    assert_eq!(&png[..4], b"\x89PNG");

    // The Parquet files open with a Rust Parquet reader and agree with the CSV.
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let csv = std::fs::read_to_string(dir.join("trials.csv")).unwrap();
    let reader =
        SerializedFileReader::new(std::fs::File::open(dir.join("trials.parquet")).unwrap())
            .unwrap();
    let rows = reader.metadata().file_metadata().num_rows() as usize;
    assert_eq!(rows, csv.lines().count() - 1);
    assert_eq!(rows, 5 * 400, "5 points of 400 trials under --quick");
    let first = reader.get_row_iter(None).unwrap().next().unwrap().unwrap();
    let csv_first: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    let scaled = first
        .get_column_iter()
        .find(|(n, _)| n.as_str() == "scaled_excess")
        .map(|(_, v)| v.to_string())
        .unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "scaled_excess").unwrap();
    assert_eq!(
        scaled.parse::<f64>().unwrap().to_bits(),
        csv_first[col].parse::<f64>().unwrap().to_bits()
    );

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["status"], "finished");
    assert_eq!(manifest["seed"], 1);
    assert!(manifest["pretrainlab_version"].is_string());
    assert!(manifest["config"]["points"].as_array().unwrap().len() == 5);
}

#[test]
fn a_killed_run_resumes_to_identical_files() {
    let dir = scratch("kill");
    let file = dir.join("slow.toml");
    std::fs::write(&file, SLOW).unwrap();
    let (whole, killed) = (dir.join("whole"), dir.join("killed"));

    ok(&[
        "run",
        s(&file),
        "--quiet",
        "--threads",
        "1",
        "--output",
        s(&whole),
    ]);

    let mut child = bin()
        .args([
            "run",
            s(&file),
            "--quiet",
            "--threads",
            "2",
            "--output",
            s(&killed),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reached = wait_for_units(&mut child, &killed, 3);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(reached, "the run did not store 3 units before ending");
    let stored = units(&killed);
    assert!(stored < 40, "the run finished before it could be killed");
    assert!(!killed.join("report.html").exists());

    let out = ok(&[
        "run",
        s(&file),
        "--quiet",
        "--threads",
        "2",
        "--output",
        s(&killed),
    ]);
    let reused: usize = out
        .split(" reused")
        .next()
        .and_then(|l| l.rsplit(", ").next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no reuse count in {out}"));
    assert_eq!(reused, stored, "{out}");
    assert_same_results(&whole, &killed);
}

#[test]
fn results_do_not_depend_on_threads() {
    let dir = scratch("threads");
    let file = dir.join("t.toml");
    std::fs::write(
        &file,
        SLOW.replace("trials = 400", "trials = 60")
            .replace("sampler = \"raw\"", "sampler = \"wishart\""),
    )
    .unwrap();
    let (one, two) = (dir.join("one"), dir.join("two"));
    ok(&[
        "run",
        s(&file),
        "--quiet",
        "--threads",
        "1",
        "--output",
        s(&one),
    ]);
    ok(&[
        "run",
        s(&file),
        "--quiet",
        "--threads",
        "2",
        "--output",
        s(&two),
    ]);
    assert_same_results(&one, &two);
}

#[test]
fn a_changed_file_is_an_error_unless_fresh() {
    let dir = scratch("changed");
    let file = dir.join("e.toml");
    let small = SLOW
        .replace("trials = 400", "trials = 40")
        .replace("sampler = \"raw\"", "sampler = \"wishart\"");
    std::fs::write(&file, &small).unwrap();
    let out_dir = dir.join("out");
    ok(&["run", s(&file), "--quiet", "--output", s(&out_dir)]);
    let again = ok(&["run", s(&file), "--quiet", "--output", s(&out_dir)]);
    assert!(again.contains("0 unit(s) run, 4 reused"), "{again}");

    std::fs::write(&file, small.replace("seed = 3", "seed = 4")).unwrap();
    let out = pretrainlab(&["run", s(&file), "--quiet", "--output", s(&out_dir)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("seed: 3 → 4") && err.contains("--fresh"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let fresh = ok(&[
        "run",
        s(&file),
        "--quiet",
        "--fresh",
        "--output",
        s(&out_dir),
    ]);
    assert!(fresh.contains("4 unit(s) run, 0 reused"), "{fresh}");

    // More trials extend the finished units instead of invalidating them.
    std::fs::write(
        &file,
        small
            .replace("seed = 3", "seed = 4")
            .replace("trials = 40", "trials = 60"),
    )
    .unwrap();
    let more = ok(&["run", s(&file), "--quiet", "--output", s(&out_dir)]);
    assert!(more.contains("2 unit(s) run, 4 reused"), "{more}");
}

#[test]
fn malformed_files_name_the_line_and_the_key() {
    let dir = scratch("malformed");
    let cases: &[(&str, &str, &str)] = &[
        (
            "alpha = { list = [1, 4] }",
            "alpha = { list = [1, 4] }\ncolour = { list = [1, 2] }",
            "line 17, `sweep.axes.colour`: unknown axis",
        ),
        (
            "alpha = { list = [1, 4] }",
            "alpha = { list = [] }",
            "line 16, `sweep.axes.alpha`: empty sweep",
        ),
        (
            "trials = 400",
            "trials = -5",
            "line 7, `trials`: must be ≥ 1, got -5",
        ),
        (
            "\nk = 2\n",
            "\nk = 2\nwidth = 3\n",
            "line 14, `params.width`: model `factor` has no parameter `width`",
        ),
        (
            "alpha = { list = [1, 4] }",
            "alpha = { list = [1, 4] }\nk = { list = [2, 9] }",
            "line 16, `k`: at point 1",
        ),
    ];
    for (i, (from, to, expected)) in cases.iter().enumerate() {
        let file = dir.join(format!("bad{i}.toml"));
        let text = SLOW
            .replace(from, to)
            .replace("k = 2\n", if to.contains("k = {") { "" } else { "k = 2\n" });
        std::fs::write(&file, text).unwrap();
        for args in [vec!["validate", s(&file)], vec!["run", s(&file), "--quiet"]] {
            let cmd = args[0];
            let out = pretrainlab(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd} case {i}: {err}");
            assert!(err.contains(expected), "{cmd} case {i}: {err}");
            assert!(
                err.contains(s(&file)),
                "{cmd} case {i} names the file: {err}"
            );
            assert_eq!(err.trim_end().lines().count(), 1, "{cmd} case {i}: {err}");
        }
    }
    let good = dir.join("good.toml");
    std::fs::write(&good, SLOW).unwrap();
    let out = ok(&["validate", s(&good)]);
    assert!(
        out.contains("2 point(s)") && out.contains("40 unit(s)"),
        "{out}"
    );
}

#[test]
fn ctrl_c_stops_after_the_unit_in_flight_and_says_how_to_resume() {
    let dir = scratch("ctrlc");
    let file = dir.join("slow.toml");
    std::fs::write(&file, SLOW).unwrap();
    let out_dir = dir.join("out");
    let mut child = bin()
        .args(["run", s(&file), "--threads", "1", "--output", s(&out_dir)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reached = wait_for_units(&mut child, &out_dir, 1);
    // The shell's built-in `kill`, so no procps package is needed.
    let status = Command::new("sh")
        .args(["-c", &format!("kill -INT {}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(reached, "no unit stored before the interrupt: {err}");
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("resume with `pretrainlab run"),
        "the message says how to resume: {err}"
    );
    let stored = units(&out_dir);
    assert!((1..40).contains(&stored), "{stored} units stored");
    let resumed = ok(&["run", s(&file), "--quiet", "--output", s(&out_dir)]);
    assert!(resumed.contains(&format!("{} reused", stored)), "{resumed}");
}

/// Opens the Parquet files in polars or pandas when Python has one of them, and checks
/// them against the CSV; says it skipped otherwise (the Rust reader test above always runs).
#[test]
fn parquet_opens_in_python_dataframes_when_available() {
    let dir = scratch("python");
    ok(&[
        "reproduce",
        "factor-demo",
        "--quick",
        "--quiet",
        "--output",
        s(&dir),
    ]);
    let script = r#"
import sys
d = sys.argv[1]
try:
    import polars as pl
    t, c, p = pl.read_parquet(d + "/trials.parquet"), pl.read_csv(d + "/trials.csv"), pl.read_parquet(d + "/points.parquet")
    same = (t["scaled_excess"] == c["scaled_excess"]).all()
    verdicts = p["verdict"].to_list()
except ImportError:
    import pandas as pd
    t, c, p = pd.read_parquet(d + "/trials.parquet"), pd.read_csv(d + "/trials.csv"), pd.read_parquet(d + "/points.parquet")
    same = bool((t["scaled_excess"] == c["scaled_excess"]).all())
    verdicts = list(p["verdict"])
print(len(t), same, len(verdicts), verdicts[0])
"#;
    let probe = Command::new("python3")
        .args(["-c", "import importlib.util as u, sys; sys.exit(0 if (u.find_spec('polars') or (u.find_spec('pandas') and u.find_spec('pyarrow'))) else 1)"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipped: neither polars nor pandas+pyarrow is installed for python3");
        return;
    }
    let out = Command::new("python3")
        .args(["-c", script, s(&dir)])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "2000 True 5 pass", "{stdout}");
}

/// Renders report.html in headless Chromium and checks that the page loads with its
/// figures. Skipped (with a message) where Chromium is not installed; `.ci/run` installs
/// Debian's `chromium` package.
#[test]
fn the_report_renders_in_headless_chromium() {
    let dir = scratch("chromium");
    ok(&[
        "reproduce",
        "factor-demo",
        "--quick",
        "--quiet",
        "--output",
        s(&dir),
    ]);
    let report = dir.join("report.html");
    let html = std::fs::read_to_string(&report).unwrap();
    assert_eq!(html.matches("<img class=\"fig\"").count(), 2);
    assert!(html.contains("data:image/png;base64,iVBOR"));
    assert!(html.contains("class=\"pass\""));

    let Some(browser) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    else {
        eprintln!("skipped: no chromium on PATH, the report was not rendered in a browser");
        return;
    };
    let profile = dir.join("profile");
    // coreutils' `timeout` keeps a hung browser from hanging the test run.
    let out = Command::new("timeout")
        .args([
            "120",
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=10000",
            &format!("--user-data-dir={}", s(&profile)),
            "--dump-dom",
            &format!("file://{}", s(&report)),
        ])
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("data-figures-loaded=\"2/2\""),
        "chromium did not load both figures: status {:?}, stderr {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A tiny training-dynamics experiment: the diagonal network checked at two values of its
/// α = n/d, 4 seeds in units of 2.
const DIAGONAL: &str = r#"
name = "diag"
model = "diagonal"
actions = ["check"]
trials = 4
chunk = 2
seed = 2
metric = "test_mse_gd"
predicted = "replica_test_mse"

[params]
d = 50
curve_points = 0

[sweep.axes]
alpha = { list = [0.3, 0.6] }
"#;

#[test]
fn a_dynamics_experiment_writes_everything_and_resumes_bit_for_bit() {
    let dir = scratch("dynamics");
    let file = dir.join("diag.toml");
    std::fs::write(&file, DIAGONAL).unwrap();
    let out_dir = dir.join("out");
    let out = ok(&["run", s(&file), "--output", s(&out_dir), "--quiet"]);
    assert!(out.contains("4 unit(s) run, 0 reused"), "{out}");
    assert!(
        out.contains("alpha=0.3") && out.contains("alpha=0.6"),
        "{out}"
    );
    for f in RESULT_FILES
        .iter()
        .chain(&["report.html", "manifest.json", "figures/sweep.png"])
    {
        assert!(out_dir.join(f).is_file(), "{f} missing");
    }
    let trials = std::fs::read_to_string(out_dir.join("trials.csv")).unwrap();
    assert!(
        trials.starts_with("point,trial,alpha,test_mse_gd,"),
        "{trials}"
    );
    assert_eq!(trials.lines().count(), 1 + 2 * 4, "{trials}");
    let points = std::fs::read_to_string(out_dir.join("points.csv")).unwrap();
    assert!(
        points.contains("replica_test_mse") && points.contains("test_mse_gd_se"),
        "{points}"
    );
    let report = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(
        report.contains("runs_completed") && report.contains("criteria passed"),
        "report lists the criteria and verdicts"
    );

    // A rerun reuses every unit; a lost unit is recomputed to the same bits.
    let first = dir.join("first");
    std::fs::create_dir_all(&first).unwrap();
    for f in RESULT_FILES {
        std::fs::copy(out_dir.join(f), first.join(f)).unwrap();
    }
    let out = ok(&["run", s(&file), "--output", s(&out_dir), "--quiet"]);
    assert!(out.contains("0 unit(s) run, 4 reused"), "{out}");
    assert_same_results(&first, &out_dir);
    std::fs::remove_file(out_dir.join("units").join("p00001-c00000.txt")).unwrap();
    let out = ok(&[
        "run",
        s(&file),
        "--output",
        s(&out_dir),
        "--quiet",
        "--threads",
        "1",
    ]);
    assert!(out.contains("1 unit(s) run, 3 reused"), "{out}");
    assert_same_results(&first, &out_dir);
}

#[test]
fn a_dynamics_file_rejects_sample_sizes_and_unknown_parameters() {
    let dir = scratch("dynamics-bad");
    let cases: &[(&str, &str, &str)] = &[
        (
            "seed = 2",
            "seed = 2\nm = 100",
            "line 8, `m`: model `diagonal` has no parameter `m`",
        ),
        (
            "seed = 2",
            "seed = 2\nsampler = \"raw\"",
            "line 8, `sampler`:",
        ),
        (
            "curve_points = 0",
            "curve_points = 0\nwidth = 3",
            "line 14, `params.width`: model `diagonal` has no parameter `width`",
        ),
        (
            "[0.3, 0.6]",
            "[0.3, 9.0]",
            "line 16, `alpha`: at point 1 (alpha=9)",
        ),
    ];
    for (i, (from, to, expected)) in cases.iter().enumerate() {
        let file = dir.join(format!("bad{i}.toml"));
        std::fs::write(&file, DIAGONAL.replacen(from, to, 1)).unwrap();
        let out = pretrainlab(&["validate", s(&file)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {i}: {err}");
        assert!(err.contains(expected), "case {i}: {err}");
    }
    let good = dir.join("good.toml");
    std::fs::write(&good, DIAGONAL).unwrap();
    let out = ok(&["validate", s(&good)]);
    assert!(
        out.contains("2 point(s)") && out.contains("4 unit(s)"),
        "{out}"
    );
}

/// Every CSV file under `dir`, by path relative to it.
fn csv_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.extension().is_some_and(|e| e == "csv") {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Runs `reproduce NAME --quick` whole; runs it again, kills it (SIGKILL) once `ready`
/// holds for its folder, and resumes it. Every CSV, the experiments' and the paper's,
/// must be byte-identical to the uninterrupted run's.
fn killed_preset_resumes_to_identical_csvs(name: &str, ready: &dyn Fn(&Path) -> bool) {
    let dir = scratch(&format!("preset-{name}"));
    let (whole, killed) = (dir.join("whole"), dir.join("killed"));
    let args = |out: &Path| {
        vec![
            "reproduce".to_string(),
            name.to_string(),
            "--quick".into(),
            "--quiet".into(),
            "--output".into(),
            s(out).to_string(),
        ]
    };
    let run = |out: &Path| {
        let a = args(out);
        ok(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    run(&whole);
    let mut child = bin()
        .args(args(&killed))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !ready(&killed) && start.elapsed() < Duration::from_secs(300) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{name} ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !killed.join("paper").exists(),
        "{name} finished before it was killed"
    );
    run(&killed);
    let files = csv_files(&whole);
    assert!(
        files.iter().any(|f| f.starts_with("paper")),
        "{name}: no paper CSVs: {files:?}"
    );
    assert_eq!(files, csv_files(&killed), "{name}: different CSV files");
    for f in files {
        let (a, b) = (
            std::fs::read(whole.join(&f)).unwrap(),
            std::fs::read(killed.join(&f)).unwrap(),
        );
        assert!(
            a == b,
            "{name}: {} differs after the kill and resume",
            f.display()
        );
    }
}

#[test]
fn a_killed_paper_preset_resumes_to_identical_csvs() {
    // Fig. 2 is three predict-only sweeps: killed once the first one is written.
    killed_preset_resumes_to_identical_csvs("tinati-tu-fig2", &|d| {
        d.join("K").join("points.csv").is_file()
    });
    // yang-ssl is one experiment over seeds: killed once a unit is stored.
    killed_preset_resumes_to_identical_csvs("yang-ssl", &|d| units(d) >= 1);
}
