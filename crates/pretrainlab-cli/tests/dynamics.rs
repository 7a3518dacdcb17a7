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
        (&["simulate", "factorization", "--m", "100"], "`m`"),
        (&["check", "factorization", "--n", "100"], "`n`"),
        (&["simulate", "factorization", "--trials", "0"], "`trials`"),
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

    let c = json(&["check", "factorization", "--format", "json", "--quiet"]);
    assert_eq!(c["verdict"], "pass", "{c}");
    assert!(c["criteria"].as_array().unwrap().len() >= 5);
    assert!(c["prediction"]["model"].is_string() && c["simulation"]["trials"].is_number());
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

/// The factorization preset writes its CSVs, figure and summary (quick version).
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
    for f in [
        "factorization_r4.csv",
        "factorization_r2.csv",
        "factorization_cascade.svg",
        "factorization_cascade.png",
        "summary.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["r4"]["verdict"], "pass", "{s}");
    assert_eq!(s["r2"]["verdict"], "pass", "{s}");
    let csv = std::fs::read_to_string(dir.join("factorization_r4.csv")).unwrap();
    assert!(csv.starts_with("t,s_norm,h_norm,p11_err"));
    assert!(csv.lines().count() > 50);
    let _ = std::fs::remove_dir_all(&dir);
}
