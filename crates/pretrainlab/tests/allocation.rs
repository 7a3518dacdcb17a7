//! Trials allocate nothing once their workspace is warm: for every registry entry, at its
//! `small` instance, the heap allocations of three trials after a first (warm-up) trial
//! with the same workspace are counted, and must be zero. Allocations are counted per
//! thread, so the test harness's own threads do not disturb the count.
//!
//! The same counter tracks the live heap bytes, so a second test checks each model's
//! stated memory need ([`pretrainlab::budget::Cost`]) against the peak of building a
//! workspace and running a first trial: the estimate may be generous, never far short.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use pretrainlab::budget::WORKER_BASE_BYTES;
use pretrainlab::registry::ENTRIES;
use pretrainlab::runner::{Trials, run_one};

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn bump() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

/// Adds `delta` bytes to this thread's live heap and updates the peak.
fn live(delta: isize) {
    let _ = LIVE.try_with(|l| {
        l.set(l.get() + delta);
        let _ = PEAK.try_with(|p| p.set(p.get().max(l.get())));
    });
}

/// Starts a peak measurement; returns the live bytes at the start.
fn reset_peak() -> isize {
    let now = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(now));
    now
}

fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        live(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        live(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        live(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Variants that a registry entry's small instance does not reach: (model, parameters).
const VARIANTS: &[(&str, &str)] = &[
    (
        "factor",
        "d = 40\nk = 2\nstrengths = [4.0, 2.0]\nm = 4000\nn = 400",
    ),
    (
        "spurious-ridge",
        "d = 6\nn = 30\nfeatures = \"random\"\nwidth = 80",
    ),
    (
        "single-index-gd-sgd",
        "d = 16\ndelta = 4.0\nalgorithm = \"sgd\"",
    ),
    (
        "single-index-gd-sgd",
        "d = 16\ndelta = 4.0\nalgorithm = \"gd-squared\"\nsteps = 200",
    ),
    (
        "multi-index-spectral",
        "d = 300\ndelta = 2.0\np = 3\nlink = \"g1*g2 + g3 + eps\"\npreprocessing = \"tanh(y)\"\nnoise = 0.5",
    ),
    (
        "glm-oi-amp",
        "d = 60\ndelta = 1.5\nspectrum = \"gaussian\"\nchannel = \"z^2 + 0.3*eps\"\npreprocessing = \"tanh(y)\"",
    ),
    (
        "glm-oi-amp",
        "d = 60\ndelta = 0.7\nspectrum = \"list\"\nspectrum_values = [1.0, 3.0]\nchannel = \"abs(z)\"",
    ),
];

/// Every entry's small instance and the variants.
fn small_instances() -> Vec<(&'static str, toml::Table)> {
    let entries = ENTRIES.iter().map(|e| (e.name, e.small));
    entries
        .chain(VARIANTS.iter().copied())
        .map(|(name, text)| (name, text.parse().unwrap()))
        .collect()
}

#[test]
fn warm_trials_allocate_nothing() {
    let mut report = Vec::new();
    for (name, table) in small_instances() {
        let model = pretrainlab::registry::build(name, table).unwrap();
        let mut out = vec![0.0; Trials::for_model(model.as_ref()).width()];
        let mut ws = model.workspace_any();
        run_one(model.as_ref(), 7, 0, ws.as_mut(), &mut out).unwrap();
        let before = allocs();
        for t in 1..4 {
            run_one(model.as_ref(), 7, t, ws.as_mut(), &mut out)
                .unwrap_or_else(|err| panic!("{name}: trial {t} failed: {err}"));
        }
        let n = allocs() - before;
        if n > 0 {
            report.push(format!("{name}: {n} allocations in 3 warm trials"));
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}

/// Peak heap bytes of a fresh workspace and its first trial, against the model's
/// stated need for one trial (plus the fixed per-worker base); and the peak of a prediction against its stated need.
/// An estimate below a quarter of the measured peak fails.
/// The `small` instance of every entry, and where the model has a dimension `d`, the
/// same instance at 8 times its `d`, so that the size-driven terms dominate.
fn instances() -> Vec<(&'static str, toml::Table)> {
    let mut out = Vec::new();
    for (name, table) in small_instances() {
        let info = pretrainlab::registry::entry(name)
            .map(|e| (e.info)())
            .unwrap();
        if let Some(spec) = info.params.iter().find(|p| p.name == "d") {
            let d = table
                .get("d")
                .and_then(toml::Value::as_integer)
                .unwrap_or_else(|| spec.default.parse().unwrap());
            let mut big = table.clone();
            big.insert("d".into(), toml::Value::Integer(8 * d));
            out.push((name, big));
        }
        out.push((name, table));
    }
    out
}

#[test]
fn stated_memory_needs_are_not_far_short() {
    let mut report = Vec::new();
    for (name, table) in instances() {
        let model = pretrainlab::registry::build(name, table.clone()).unwrap();
        let cost = model.cost();
        let mut out = vec![0.0; Trials::for_model(model.as_ref()).width()];
        let start = reset_peak();
        let mut ws = model.workspace_any();
        run_one(model.as_ref(), 7, 0, ws.as_mut(), &mut out).unwrap();
        let trial = (PEAK.with(Cell::get) - start) as f64;
        drop(ws);
        let start = reset_peak();
        model.predict().unwrap();
        let predict = (PEAK.with(Cell::get) - start) as f64;
        for (what, measured, stated) in [
            ("trial", trial, cost.trial.bytes + WORKER_BASE_BYTES),
            ("prediction", predict, cost.predict.bytes),
        ] {
            if stated < measured / 4.0 {
                report.push(format!(
                    "{name} ({table:?}): a {what} peaks at {measured:.0} bytes, the model states {stated:.0}"
                ));
            }
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}
