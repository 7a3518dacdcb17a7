//! End-to-end tests of the training-dynamics models through the `pretrainlab` command.

mod common;

use common::{json, pretrainlab};

/// Short factorization flow for fast CLI tests.
const SHORT: [&str; 4] = ["--set", "t_end=200", "--set", "t_fast=5"];

#[test]
fn bad_dynamics_input_gets_code_2_and_names_the_field() {
    let cases: &[(&[&str], &str)] = &[
        (&["predict", "factorization", "--set", "r=1"], "`r`"),
        (&["predict", "factorization", "--set", "t_end=0"], "`t_end`"),
        (
            &["predict", "factorization", "--set", "rtol=-1e-9"],
            "`rtol`",
        ),
        (
            &["predict", "factorization", "--set", "spectrum=[1,2]"],
            "`spectrum`",
        ),
        (&["predict", "factorization", "--set", "n=5"], "`spectrum`"),
        (
            &["predict", "factorization", "--set", "colour=1"],
            "`colour`",
        ),
        // `--m`, `--n`, `--sampler` are shorthands for parameters: a model without the
        // parameter rejects it; the factorization's own `n` (its size) takes `--n`.
        (&["simulate", "factorization", "--m", "100"], "`m`"),
        (&["check", "diagonal", "--n", "100"], "`n`"),
        (&["check", "factorization", "--n", "100"], "`spectrum`"),
        (&["simulate", "yang-ssl", "--sampler", "raw"], "`sampler`"),
        (
            &["simulate", "factorization", "--trials", "0"],
            "`--trials`",
        ),
        (&["predict", "diagonal", "--set", "lr=0"], "`lr`"),
        (&["predict", "diagonal", "--set", "lr=-0.1"], "`lr`"),
        (
            &[
                "predict",
                "diagonal",
                "--set",
                "rho_pt=0.1",
                "--set",
                "rho_ft=0.5",
                "--set",
                "omega=1",
            ],
            "`omega`",
        ),
        (
            &[
                "predict",
                "diagonal",
                "--set",
                "rho_pt=0.8",
                "--set",
                "rho_ft=0.5",
                "--set",
                "omega=0",
            ],
            "`omega`",
        ),
        (
            &["predict", "diagonal", "--set", "lambda_pt=2"],
            "`lambda_pt`",
        ),
        (&["predict", "diagonal", "--set", "d=3"], "`d`"),
        (
            &["predict", "diagonal", "--set", "pretrain=\"magic\""],
            "`pretrain`",
        ),
    ];
    for (args, field) in cases {
        let out = pretrainlab(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(field), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn models_lists_the_dynamics_models() {
    let v = json(&["models", "--format", "json"]);
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    for n in ["factor", "factorization", "diagonal"] {
        assert!(names.contains(&n), "{names:?}");
    }
}

#[test]
fn json_shapes_of_predict_simulate_check() {
    let p = json(&["predict", "factorization", "--format", "json"]);
    assert_eq!(p["model"], "factorization");
    assert_eq!(p["slow_modes_m"], 2.0);
    assert!(p["curves"]["s_norm_asymptote"]["t"].is_array());

    let mut args = vec!["simulate", "factorization", "--format", "json", "--quiet"];
    args.extend(SHORT);
    args.extend(["--trials", "3"]);
    let s = json(&args);
    assert_eq!(s["trials"], 3);
    for key in ["mean", "se", "q05", "q25", "q50", "q75", "q95"] {
        assert!(s["t2_excess_loss"][key].is_number(), "{key}: {s}");
    }

    assert_eq!(s["completed"], 3);
    assert_eq!(s["failure_examples"].as_array().unwrap().len(), 0);

    let c = json(&["check", "factorization", "--format", "json", "--quiet"]);
    assert_eq!(c["verdict"], "pass", "{c}");
    let criteria = c["criteria"].as_array().unwrap();
    assert!(criteria.len() >= 5);
    assert_eq!(c["reasons"].as_array().unwrap().len(), criteria.len());
    assert!(
        criteria.iter().any(|c| c["name"] == "runs_completed"),
        "{criteria:?}"
    );
    assert!(c["prediction"]["model"].is_string() && c["simulation"]["trials"].is_number());
}

/// `--output` writes `trials.csv` (the trial id, then one column per metric) and
/// `result.json`, as for every model.
#[test]
fn dynamics_output_folder_has_trials_csv_and_json() {
    let dir = std::env::temp_dir().join(format!("pretrainlab-dyn-out-{}", std::process::id()));
    let mut args = vec!["simulate", "factorization", "--quiet", "--trials", "3"];
    args.extend(SHORT);
    args.extend(["--output", dir.to_str().unwrap()]);
    let out = pretrainlab(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(dir.join("trials.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[0].starts_with("trial,t_lambda_s1,"), "{csv}");
    assert!(lines[0].contains(",t2_excess_loss,"), "{csv}");
    let ids: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(ids, ["0", "1", "2"]);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap();
    assert_eq!(json["trials"], 3);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Seeds run in parallel; the JSON is byte-identical on 1 and 2 threads.
#[test]
fn dynamics_results_do_not_depend_on_threads() {
    let run = |threads: &str| {
        let mut args = vec!["simulate", "factorization", "--format", "json", "--quiet"];
        args.extend(SHORT);
        args.extend(["--trials", "4", "--seed", "9", "--threads", threads]);
        let out = pretrainlab(&args);
        assert!(out.status.success());
        out.stdout
    };
    assert_eq!(run("1"), run("2"));
}

/// The factorization preset runs its experiments through the store (a `manifest.json` per
/// part) and draws the paper's panels into `paper/` (quick version).
#[test]
fn factorization_preset_writes_csv_figure_and_summary() {
    let dir = std::env::temp_dir().join(format!("pretrainlab-fc-{}", std::process::id()));
    let out = pretrainlab(&[
        "reproduce",
        "factorization-cascade",
        "--quick",
        "--quiet",
        "--output",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let paper = dir.join("paper");
    for f in [
        "factorization_r4.csv",
        "factorization_r2.csv",
        "factorization_cascade.svg",
        "factorization_cascade.png",
        "summary.json",
    ] {
        assert!(paper.join(f).is_file(), "paper/{f} missing");
    }
    for part in ["r4", "r2"] {
        assert!(dir.join(part).join("manifest.json").is_file(), "{part}");
    }
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(paper.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["r4"]["verdict"], "pass", "{s}");
    assert_eq!(s["r2"]["verdict"], "pass", "{s}");
    let csv = std::fs::read_to_string(paper.join("factorization_r4.csv")).unwrap();
    assert!(csv.starts_with("t,s_norm,h_norm,p11_err"));
    assert!(csv.lines().count() > 50);
    let _ = std::fs::remove_dir_all(&dir);
}
