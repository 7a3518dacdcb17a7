//! End-to-end tests of `pretrainlab … spectral`.

mod common;

use common::{json, pretrainlab};

/// Bad input exits with code 2 and one line naming the field.
#[test]
fn bad_spectral_input_names_the_field() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["predict", "spectral", "--set", "d=3", "--set", "k=3"],
            "`k`",
        ),
        (
            &[
                "predict",
                "spectral",
                "--set",
                "pos_cov=[1, 0.5, 0.5, 0.25]",
            ],
            "eigengap",
        ),
        (
            &[
                "predict",
                "spectral",
                "--set",
                "d=3",
                "--set",
                "k=1",
                "--set",
                "pos_cov=[2, 0.5, 0.2]",
            ],
            "`pos_cov`",
        ),
        (&["simulate", "spectral", "--m", "3"], "`m`"),
        (
            &["predict", "spectral", "--set", "pre_cov=[1, 1]"],
            "`pre_cov`",
        ),
    ];
    for (args, needle) in cases {
        let out = pretrainlab(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
}

/// `predict spectral` at (d,k) = (4,2) of Corollary 6.3 gives the spec's corrected
/// `Σ_j ½ Σ_i i(1+τ+i⁻²)((k+j)/(k+j−i))²` and prints the paper's `(d−k)·2Σ_i i(1+τ+i⁻²)`.
#[test]
fn predict_spectral_contract() {
    let p = json(&["predict", "spectral", "--format", "json"]);
    let (d, k) = (4usize, 2usize);
    let tau = 1.25;
    let mut corrected = 0.0;
    let mut paper = 0.0;
    for i in 1..=k {
        let i_f = i as f64;
        paper += 2.0 * (d - k) as f64 * i_f * (1.0 + tau + 1.0 / (i_f * i_f));
        for j in 1..=d - k {
            let kj = (k + j) as f64;
            corrected += 0.5 * i_f * (1.0 + tau + 1.0 / (i_f * i_f)) * (kj / (kj - i_f)).powi(2);
        }
    }
    let got = p["interaction_mean"].as_f64().unwrap();
    assert!(
        (got - corrected).abs() < 1e-8 * corrected,
        "{got} vs {corrected}"
    );
    let printed = p["paper_interaction_mean"].as_f64().unwrap();
    assert!((printed - paper).abs() < 1e-9 * paper);
    assert_eq!(p["model"], "spectral");
    assert_eq!(p["d_eff"].as_f64(), Some(2.0));
    assert!(p["references"].as_array().unwrap().len() >= 2);
    assert_eq!(p["extra_limit"]["label"], "m_subopt");
}

/// `check spectral` at Corollary 6.3's (3,1), m = 2·10⁴, passes against the generic law
/// (the acceptance run uses 2000 trials; 500 keep this test short with the same rule).
#[test]
fn check_spectral_passes_at_3_1() {
    let c = json(&[
        "check", "spectral", "--set", "d=3", "--set", "k=1", "--m", "20000", "--n", "10000",
        "--trials", "500", "--seed", "2", "--format", "json",
    ]);
    assert_eq!(c["verdict"], "pass", "{c:#}");
    assert_eq!(c["simulation"]["failed"], 0);
    assert!(c["simulation"]["m_subopt"]["mean"].as_f64().unwrap() > 0.0);
    let m_subopt = c["means"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["quantity"] == "m_subopt")
        .expect("m_subopt is compared with its limit");
    assert_eq!(m_subopt["decisive"], false);
}
