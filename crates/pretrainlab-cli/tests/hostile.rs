//! Hostile parameter values against every model of the registry: each parameter in turn
//! gets each extreme value (0, −1, ±1e308, 1e−308, NaN, ±inf, the largest integer, a
//! list, an empty list, a string, a boolean) on top of the model's small instance, under
//! `predict` and `simulate`. Each command must either exit 0 printing only finite
//! numbers, or exit 2 with one line that names a parameter of the model, within a time
//! bound, never panicking or aborting.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pretrainlab::registry::ENTRIES;

/// The extreme values, as TOML.
const VALUES: &[&str] = &[
    "0",
    "-1",
    "1e308",
    "-1e308",
    "1e-308",
    "nan",
    "inf",
    "-inf",
    "9223372036854775807",
    "[1e308, 1e308]",
    "[]",
    "\"bogus\"",
    "true",
];

/// Longest a single command may take.
const TIME_BOUND: Duration = Duration::from_secs(60);

struct Case {
    model: &'static str,
    key: String,
    value: &'static str,
    command: &'static str,
    params: Vec<String>,
    base: Vec<String>,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for e in ENTRIES {
        let info = (e.info)();
        let params: Vec<String> = info.params.iter().map(|p| p.name.to_string()).collect();
        let base: Vec<String> = e
            .small
            .lines()
            .flat_map(|l| ["--set".to_string(), l.replace(' ', "")])
            .collect();
        for key in &params {
            for value in VALUES {
                for command in ["predict", "simulate"] {
                    out.push(Case {
                        model: e.name,
                        key: key.clone(),
                        value,
                        command,
                        params: params.clone(),
                        base: base.clone(),
                    });
                }
            }
        }
    }
    out
}

/// Runs one case; `Err` says what broke the contract.
fn run(c: &Case) -> Result<(), String> {
    let mut args: Vec<String> = vec![c.command.into(), c.model.into()];
    args.extend(c.base.iter().cloned());
    args.extend(["--set".into(), format!("{}={}", c.key, c.value)]);
    if c.command == "simulate" {
        args.extend(["--trials".into(), "2".into()]);
    }
    args.push("--quiet".into());
    let mut child = Command::new(env!("CARGO_BIN_EXE_pretrainlab"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if started.elapsed() > TIME_BOUND {
            let _ = child.kill();
            return Err(format!("ran past {TIME_BOUND:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {
            let bad = stdout
                .split(|ch: char| ch.is_whitespace() || ",;()[]=±".contains(ch))
                .find(|w| {
                    let w = w.trim_start_matches(['+', '-']).to_ascii_lowercase();
                    w == "nan" || w == "inf" || w == "infinity"
                });
            match bad {
                Some(w) => Err(format!("exit 0 but printed `{w}`")),
                None => Ok(()),
            }
        }
        Some(2) => {
            let lines = stderr.trim_end().lines().count();
            let named = c
                .params
                .iter()
                .chain(&["trials".to_string(), "model".to_string()])
                .any(|p| stderr.contains(&format!("`{p}`")));
            if lines != 1 || !named {
                Err(format!(
                    "exit 2 without one line naming a parameter: {stderr}"
                ))
            } else {
                Ok(())
            }
        }
        code => Err(format!(
            "exit {code:?}: {}",
            stderr.lines().next().unwrap_or("")
        )),
    }
}

#[test]
fn every_model_survives_hostile_parameters() {
    let cases = cases();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(c) = cases.get(i) else { break };
                    if let Err(why) = run(c) {
                        let line = format!(
                            "{} {} --set {}={}: {why}",
                            c.command, c.model, c.key, c.value
                        );
                        failures.lock().unwrap().push(line);
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} of {} cases broke the contract:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
