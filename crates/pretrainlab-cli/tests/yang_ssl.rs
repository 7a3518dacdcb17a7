//! `pretrainlab reproduce yang-ssl --quick` end to end: exit code, the check's verdict,
//! the store's manifest, and the paper's CSVs and figures under `paper/`.

#[allow(dead_code)] // only `pretrainlab` is used here
mod common;

#[test]
fn quick_yang_ssl_preset_passes_and_writes_its_files() {
    let dir = std::env::temp_dir().join(format!("pretrainlab-yang-ssl-{}", std::process::id()));
    let out = common::pretrainlab(&[
        "reproduce",
        "yang-ssl",
        "--quick",
        "--quiet",
        "--output",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("pass "), "{stdout}");
    assert!(
        dir.join("manifest.json").is_file(),
        "the run goes through the store"
    );
    let paper = dir.join("paper");
    let check: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(paper.join("check.json")).unwrap()).unwrap();
    assert_eq!(check["verdict"], "pass");
    assert_eq!(check["seeds"], 20);
    for stem in [
        "learning_curves",
        "final_w_scatter",
        "final_w_heatmap",
        "projection_e1",
        "projection_e2",
    ] {
        for ext in ["svg", "png"] {
            let p = paper.join(format!("{stem}.{ext}"));
            assert!(
                std::fs::metadata(&p).is_ok_and(|m| m.len() > 100),
                "{}",
                p.display()
            );
        }
    }
    let proj = std::fs::read_to_string(paper.join("projections.csv")).unwrap();
    assert_eq!(proj.lines().count(), 1 + 3 * 20);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn yang_ssl_is_listed() {
    let out = common::pretrainlab(&["reproduce", "--list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("yang-ssl"));
}
