//! The results folder defends itself: damaged units are recomputed (never merged), a
//! second run meets the lock, `--fresh` deletes only inside a pretrainlab results folder,
//! symbolic links inside the folder are refused, and `name` is one plain folder name.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use pretrainlab_experiment::store::FolderLock;
use pretrainlab_experiment::{Outcome, Progress, RunOptions, Status, StoreError, parse, run};

const SMALL: &str = r#"
name = "safety"
model = "factor"
actions = ["simulate"]
m = 400
n = 200
trials = 6
chunk = 3
seed = 5
[params]
d = 5
k = 2
"#;

/// Records the notes a run gives.
#[derive(Default)]
struct Notes(Mutex<Vec<String>>);

impl Progress for Notes {
    fn begin(&self, _: u64, _: usize, _: usize) {}
    fn trials(&self, _: u64) {}
    fn unit_done(&self, _: &Status<'_>) {}
    fn end(&self) {}
    fn note(&self, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
}

fn folder(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("plab-safety-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn go(dir: &Path, fresh: bool, notes: &Notes) -> Result<Outcome, StoreError> {
    let stop = AtomicBool::new(false);
    let e = parse(SMALL, false).unwrap();
    run(
        &e,
        &RunOptions {
            output: dir.to_path_buf(),
            fresh,
            stop: &stop,
            progress: notes,
            source: SMALL.into(),
            limits: Default::default(),
            shard: None,
        },
    )
}

fn trials_csv(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("trials.csv")).unwrap()
}

/// A changed digit and a truncated unit are each reported and recomputed; the tables
/// come out byte-identical to the undamaged run's.
#[test]
fn damaged_units_are_recomputed_not_merged() {
    let dir = folder("damage");
    go(&dir, false, &Notes::default()).unwrap();
    let clean = trials_csv(&dir);
    let unit = dir.join("units/p00000-c00000.txt");
    let text = std::fs::read_to_string(&unit).unwrap();
    let digit = text
        .lines()
        .position(|l| l.starts_with("ok,1,"))
        .map(|i| text.lines().nth(i).unwrap().to_string())
        .unwrap();
    let changed = digit.replacen(|c: char| c.is_ascii_digit() && c != '0', "0", 1);
    let damages = [
        text.replacen(&digit, &changed, 1),
        text[..text.len() / 2].to_string(),
    ];
    for damaged in damages {
        std::fs::write(&unit, &damaged).unwrap();
        let notes = Notes::default();
        go(&dir, false, &notes).unwrap();
        let notes = notes.0.into_inner().unwrap();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("p00000-c00000.txt"), "{}", notes[0]);
        assert_eq!(trials_csv(&dir), clean);
        assert_eq!(std::fs::read_to_string(&unit).unwrap(), text);
    }
}

#[test]
fn a_second_run_meets_the_lock() {
    let dir = folder("lock");
    std::fs::create_dir_all(&dir).unwrap();
    let held = FolderLock::acquire(&dir).unwrap();
    let err = go(&dir, false, &Notes::default()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Locked { .. }), "{text}");
    assert!(
        text.contains(&format!("process {}", std::process::id())),
        "{text}"
    );
    drop(held);
    go(&dir, false, &Notes::default()).unwrap();
}

#[test]
fn fresh_refuses_a_folder_that_is_not_ours() {
    let dir = folder("foreign");
    std::fs::create_dir_all(dir.join("figures")).unwrap();
    std::fs::write(dir.join("figures/thesis.svg"), "mine").unwrap();
    let err = go(&dir, true, &Notes::default()).unwrap_err();
    assert!(matches!(err, StoreError::NotResults { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("figures/thesis.svg")).unwrap(),
        "mine"
    );
    let ours = folder("ours");
    go(&ours, false, &Notes::default()).unwrap();
    go(&ours, true, &Notes::default()).unwrap();
}

#[cfg(unix)]
#[test]
fn a_symlinked_units_folder_is_refused() {
    let dir = folder("link");
    let elsewhere = folder("link-target");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, dir.join("units")).unwrap();
    let err = go(&dir, false, &Notes::default()).unwrap_err();
    assert!(matches!(err, StoreError::Link { .. }), "{err}");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn name_is_one_plain_folder_name() {
    for bad in ["..", ".", "a/b"] {
        let text = SMALL.replace("name = \"safety\"", &format!("name = \"{bad}\""));
        let err = parse(&text, false).unwrap_err();
        assert_eq!(err.key, "name", "{bad}: {err}");
    }
}

#[test]
fn an_unknown_metric_fails_validation() {
    let text = SMALL.replace("seed = 5", "seed = 5\nmetric = \"nope\"");
    let err = parse(&text, false).unwrap_err();
    assert_eq!(err.key, "metric", "{err}");
    assert!(err.message.contains("m_rep"), "{err}");
}

/// A `predicted` that names no quantity of the prediction is refused before any unit
/// runs, listing the quantities.
#[test]
fn an_unknown_predicted_quantity_is_refused_before_work() {
    let text = SMALL.replace(
        "seed = 5",
        "seed = 5\nmetric = \"m_rep\"\npredicted = \"nope\"",
    );
    let e = parse(&text, false).unwrap();
    let err = pretrainlab_experiment::admit(&e, &Default::default()).unwrap_err();
    assert!(matches!(err, StoreError::UnknownName { .. }), "{err}");
    assert!(err.to_string().contains("interaction_mean"), "{err}");
}
