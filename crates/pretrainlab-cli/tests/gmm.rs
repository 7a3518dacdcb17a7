//! End-to-end tests of `pretrainlab … gmm`.

mod common;

use common::pretrainlab;

const SMALL: [&str; 8] = [
    "--set",
    "fisher_samples=20000",
    "--set",
    "proj_samples=50000",
    "--set",
    "eval_samples=50000",
    "--set",
    "risk_samples=10000",
];

fn json(args: &[&str]) -> serde_json::Value {
    let mut all: Vec<&str> = args.to_vec();
    all.extend_from_slice(&SMALL);
    all.extend_from_slice(&["--format", "json", "--quiet"]);
    common::json(&all)
}

/// `predict`, `simulate` and `check gmm` follow the JSON contract of the other models.
#[test]
fn predict_simulate_check_follow_the_json_contract() {
    let p = json(&["predict", "gmm"]);
    assert_eq!(p["model"], "gmm");
    assert_eq!(p["d_eff"].as_f64(), Some(9.0), "K(r⋆+1) with K = 3, r⋆ = 2");
    assert!(p["interaction_mean"].as_f64().unwrap() > 0.0);
    assert!(p["interaction_mean_se"].as_f64().unwrap() > 0.0);
    assert!(p["paper_interaction_mean"].is_null());
    let s = json(&["simulate", "gmm", "--trials", "8"]);
    for key in ["scaled_excess", "n_var", "n_leak", "n_rep", "m_rep"] {
        assert!(s[key]["mean"].as_f64().unwrap().is_finite(), "{key}");
    }
    assert_eq!(s["completed"], 8);
    assert!(s["em_iterations"]["mean"].as_f64().unwrap() >= 1.0, "{s}");
    assert!(s.get("sampler").is_none(), "gmm takes no sampler: {s}");
    let c = json(&["check", "gmm", "--trials", "8"]);
    assert!(c["verdict"] == "pass" || c["verdict"] == "fail");
    assert!(c["simulation"]["em_iterations"]["mean"].is_number());
}

/// Bad input exits with code 2 and one line naming the field.
#[test]
fn bad_gmm_input_names_the_field() {
    let cases: &[(&[&str], &str)] = &[
        (&["predict", "gmm", "--set", "K=1"], "`K`"),
        (&["predict", "gmm", "--set", "K=5", "--set", "d=4"], "`d`"),
        (&["predict", "gmm", "--set", "beta=0"], "`beta`"),
        (&["predict", "gmm", "--set", "beta=-2"], "`beta`"),
        (&["predict", "gmm", "--set", "theta_norm=0"], "`theta_norm`"),
        (
            &[
                "predict",
                "gmm",
                "--set",
                "K=2",
                "--set",
                "d=2",
                "--set",
                "centres=[[1.0,0.0],[1.0,0.0]]",
            ],
            "`centres`",
        ),
        (
            &[
                "predict",
                "gmm",
                "--set",
                "d=3",
                "--set",
                "centres=[[0.0,0.0,0.0],[1.0,0.0,0.0],[2.0,1e-5,0.0]]",
            ],
            "`centres`",
        ),
        (&["predict", "gmm", "--set", "init=\"best\""], "`init`"),
        (&["simulate", "gmm", "--m", "10"], "`m`"),
        (&["simulate", "gmm", "--n", "10"], "`n`"),
        (&["simulate", "gmm", "--sampler", "raw"], "`sampler`"),
    ];
    for (args, field) in cases {
        let out = pretrainlab(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(field), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
}
