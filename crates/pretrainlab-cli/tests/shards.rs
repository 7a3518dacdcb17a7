//! End-to-end tests of `--shard I/N`, `status` and the folder lock between shards and the
//! assembly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn pretrainlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pretrainlab"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("pretrainlab-shards-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// 2 points × 20 units of 20 trials.
const SWEEP: &str = r#"
name = "sharded"
description = "factor along alpha, in shards"
model = "factor"
actions = ["check"]
n = 2000
trials = 400
chunk = 20
seed = 1
[params]
d = 10
k = 2
sampler = "raw"
[sweep]
[sweep.axes]
alpha = { list = [1.0, 2.0] }
"#;

/// Two shards started together into one folder, then a plain run (the assembly), give
/// the bytes of a single-machine run; `status` counts the units while they are missing
/// and after; a plain run while a shard holds the folder is refused with code 2.
#[test]
fn shards_from_two_shells_then_assembly_give_the_same_bytes() {
    let dir = scratch("two");
    let file = dir.join("sweep.toml");
    std::fs::write(&file, SWEEP).unwrap();
    let (shared, single) = (dir.join("shared"), dir.join("single"));
    let shard = |i: usize| {
        Command::new(env!("CARGO_BIN_EXE_pretrainlab"))
            .args([
                "run",
                s(&file),
                "--output",
                s(&shared),
                "--quiet",
                "--shard",
                &format!("{i}/2"),
            ])
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (shard(0), shard(1));
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    let units = std::fs::read_dir(shared.join("units")).unwrap().count();
    assert_eq!(units, 40, "the two shares cover every unit");
    assert!(
        !shared.join("points.csv").exists(),
        "shards do not assemble"
    );
    let status = pretrainlab(&["status", s(&shared)]);
    assert!(status.status.success());
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("40 of 40 units stored"), "{text}");

    let assembled = pretrainlab(&["run", s(&file), "--output", s(&shared), "--quiet"]);
    assert!(
        assembled.status.success(),
        "{}",
        String::from_utf8_lossy(&assembled.stderr)
    );
    assert!(String::from_utf8_lossy(&assembled.stdout).contains("0 unit(s) run, 40 reused"));
    let plain = pretrainlab(&["run", s(&file), "--output", s(&single), "--quiet"]);
    assert!(plain.status.success());
    for table in ["points.csv", "trials.csv", "summary.json"] {
        assert_eq!(
            std::fs::read(shared.join(table)).unwrap(),
            std::fs::read(single.join(table)).unwrap(),
            "{table}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// One shard alone leaves units missing, which `status` reports per point; the plain run
/// computes them. `--shard` rejects bad values and `--fresh`.
#[test]
fn a_lone_shard_leaves_the_rest_to_the_assembly() {
    let dir = scratch("lone");
    let file = dir.join("sweep.toml");
    std::fs::write(&file, SWEEP).unwrap();
    let out = dir.join("out");
    let one = pretrainlab(&[
        "run",
        s(&file),
        "--output",
        s(&out),
        "--quiet",
        "--shard",
        "2/3",
    ]);
    assert!(one.status.success());
    assert!(String::from_utf8_lossy(&one.stdout).contains("shard 2/3: 13 unit(s) run"));
    let status = String::from_utf8_lossy(&pretrainlab(&["status", s(&out)]).stdout).to_string();
    assert!(
        status.contains("13 of 40 units stored") && status.contains("trials missing"),
        "{status}"
    );
    let rest = pretrainlab(&["run", s(&file), "--output", s(&out), "--quiet"]);
    assert!(String::from_utf8_lossy(&rest.stdout).contains("27 unit(s) run, 13 reused"));
    for bad in ["3/3", "1/0", "x", "1/2/3"] {
        let r = pretrainlab(&["run", s(&file), "--output", s(&out), "--shard", bad]);
        assert_eq!(r.status.code(), Some(2), "{bad}");
        assert!(
            String::from_utf8_lossy(&r.stderr).contains("--shard"),
            "{bad}"
        );
    }
    let r = pretrainlab(&[
        "run",
        s(&file),
        "--output",
        s(&out),
        "--shard",
        "0/2",
        "--fresh",
    ]);
    assert_eq!(r.status.code(), Some(2));
    let none = pretrainlab(&["status", s(&dir.join("nothing"))]);
    assert_eq!(none.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The audit in shards: its instances' units are numbered consecutively, so two shards
/// share the two one-unit factorization instances, and the assembly's `audit.json` equals
/// a plain audit's.
#[test]
fn the_audit_runs_in_shards() {
    let dir = scratch("audit");
    let (shared, single) = (dir.join("shared"), dir.join("single"));
    let base = [
        "audit",
        "--quick",
        "--quiet",
        "--model",
        "factorization",
        "--output",
    ];
    for i in 0..2 {
        let shard = format!("{i}/2");
        let mut args = base.to_vec();
        args.extend([s(&shared), "--shard", shard.as_str()]);
        let out = pretrainlab(&args);
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("shard {shard}: 1 unit(s) run")),
            "{text}"
        );
    }
    let mut args = base.to_vec();
    args.push(s(&shared));
    assert!(pretrainlab(&args).status.success());
    let mut args = base.to_vec();
    args.push(s(&single));
    assert!(pretrainlab(&args).status.success());
    assert_eq!(
        std::fs::read(shared.join("audit.json")).unwrap(),
        std::fs::read(single.join("audit.json")).unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
