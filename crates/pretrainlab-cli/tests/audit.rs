//! End-to-end tests of `pretrainlab audit`.

use std::process::{Command, Output};

fn pretrainlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pretrainlab"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pretrainlab-audit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The acceptance run of the audit: `audit --quick` of the two-stage closed forms lists
/// Corollary 6.3 (three instances) and Corollary 6.4 as contradicted, each with its
/// distance in standard errors, and the generic law as confirmed. The files open as JSON
/// and CSV, each row links an existing figure, and a second run reuses every unit.
#[test]
fn quick_audit_contradicts_the_closed_forms_and_confirms_the_law() {
    let dir = scratch("quick");
    let out = dir.to_str().unwrap();
    let args = [
        "audit", "--quick", "--quiet", "--model", "factor", "--model", "spectral", "--output", out,
    ];
    let run = pretrainlab(&args);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("audit.json")).unwrap()).unwrap();
    let rows = text["claims"].as_array().unwrap();
    let row = |id: &str| {
        rows.iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id}"))
    };
    for id in [
        "factor-cor-6.4",
        "spectral-cor-6.3-d3-k1",
        "spectral-cor-6.3-d4-k2",
        "spectral-cor-6.3-d6-k3",
    ] {
        let r = row(id);
        assert_eq!(r["verdict"], "contradicted", "{r}");
        assert!(r["z"].as_f64().unwrap().abs() > 3.0, "{r}");
        assert!(
            r["paper_value"].is_number() && r["simulated_se"].is_number(),
            "{r}"
        );
    }
    for id in ["factor-law", "spectral-law"] {
        assert_eq!(row(id)["verdict"], "confirmed", "{}", row(id));
    }
    for r in rows {
        let figure = r["figure"].as_str().unwrap();
        assert!(dir.join(figure).is_file(), "{figure}");
    }
    let csv = std::fs::read_to_string(dir.join("audit.csv")).unwrap();
    assert_eq!(csv.lines().count(), rows.len() + 1);
    let html = std::fs::read_to_string(dir.join("audit.html")).unwrap();
    assert!(html.contains("Corollary 6.3") && html.contains("contradicted"));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("contradicted (") && stdout.contains("confirmed"),
        "{stdout}"
    );

    let again = pretrainlab(&args);
    assert!(again.status.success());
    let second = std::fs::read_to_string(dir.join("audit.json")).unwrap();
    assert_eq!(
        text,
        serde_json::from_str::<serde_json::Value>(&second).unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An unknown model is one line naming `--model` and the known models, exit code 2.
#[test]
fn an_unknown_model_is_named() {
    let out = pretrainlab(&[
        "audit",
        "--quick",
        "--model",
        "nope",
        "--output",
        "/nonexistent/x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--model") && err.contains("factor"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
