//! Helpers shared by the end-to-end tests: run the built `pretrainlab` binary.

use std::process::{Command, Output};

/// Runs `pretrainlab ARGS` and returns its output.
pub fn pretrainlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pretrainlab"))
        .args(args)
        .output()
        .expect("binary runs")
}

/// Runs `pretrainlab ARGS`, asserts success and parses stdout as JSON.
pub fn json(args: &[&str]) -> serde_json::Value {
    let out = pretrainlab(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}
