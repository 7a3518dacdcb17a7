//! Progress on stderr: an indicatif bar on a terminal, plain lines at every tenth
//! otherwise, nothing under `--quiet`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    total: u64,
    done: AtomicU64,
    unit: &'static str,
}

impl Progress {
    pub fn new(total: u64, unit: &'static str, quiet: bool) -> Self {
        let tty = std::io::stderr().is_terminal();
        let bar = (!quiet && tty).then(|| {
            let b = ProgressBar::new(total);
            b.set_style(
                ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}, {per_sec}]",
                )
                .expect("valid template"),
            );
            b.set_message(unit);
            b
        });
        Progress {
            bar,
            plain: !quiet && !tty,
            total,
            done: AtomicU64::new(0),
            unit,
        }
    }

    pub fn inc(&self, k: u64) {
        if let Some(b) = &self.bar {
            b.inc(k);
        }
        let before = self.done.fetch_add(k, Ordering::Relaxed);
        if self.plain {
            let step = (self.total / 10).max(1);
            let after = before + k;
            if after / step > before / step || after == self.total {
                eprintln!("{after}/{} {}", self.total, self.unit);
            }
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// Progress of an experiment run: an indicatif bar of trials with the units done, trials
/// per second and the ETA on a terminal; plain lines at every tenth of the units (and at
/// the end) otherwise; nothing under `--quiet`.
pub struct ExperimentProgress {
    quiet: bool,
    tty: bool,
    bar: std::sync::Mutex<Option<ProgressBar>>,
    trials_done: AtomicU64,
    started: std::sync::Mutex<Option<std::time::Instant>>,
    units_todo: AtomicU64,
}

impl ExperimentProgress {
    pub fn new(quiet: bool) -> Self {
        ExperimentProgress {
            quiet,
            tty: std::io::stderr().is_terminal(),
            bar: std::sync::Mutex::new(None),
            trials_done: AtomicU64::new(0),
            started: std::sync::Mutex::new(None),
            units_todo: AtomicU64::new(0),
        }
    }

    fn rate(&self) -> f64 {
        let secs = self
            .started
            .lock()
            .ok()
            .and_then(|s| s.map(|t| t.elapsed().as_secs_f64()))
            .unwrap_or(0.0);
        let done = self.trials_done.load(Ordering::Relaxed) as f64;
        if secs > 0.0 { done / secs } else { 0.0 }
    }
}

impl pretrainlab_experiment::Progress for ExperimentProgress {
    fn begin(&self, trials_todo: u64, units_todo: usize, units_total: usize) {
        if let Ok(mut s) = self.started.lock() {
            *s = Some(std::time::Instant::now());
        }
        self.units_todo.store(units_todo as u64, Ordering::Relaxed);
        if self.quiet || units_total == 0 {
            return;
        }
        let done = units_total - units_todo;
        if self.tty {
            let b = ProgressBar::new(trials_todo);
            b.set_style(
                ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} trials, {msg} [{elapsed_precise} < {eta_precise}, {per_sec}]",
                )
                .expect("valid template"),
            );
            b.set_message(format!("units {done}/{units_total}"));
            if let Ok(mut slot) = self.bar.lock() {
                *slot = Some(b);
            }
        } else if done > 0 {
            eprintln!("resuming: {done} of {units_total} units already done");
        }
    }

    fn trials(&self, k: u64) {
        self.trials_done.fetch_add(k, Ordering::Relaxed);
        if let Ok(slot) = self.bar.lock() {
            if let Some(b) = slot.as_ref() {
                b.inc(k);
            }
        }
    }

    fn unit_done(&self, done: usize, total: usize, point_label: &str) {
        if self.quiet {
            return;
        }
        if let Ok(slot) = self.bar.lock() {
            if let Some(b) = slot.as_ref() {
                b.set_message(format!("units {done}/{total} ({point_label})"));
                return;
            }
        }
        let todo = self.units_todo.load(Ordering::Relaxed).max(1);
        let step = (todo / 10).max(1) as usize;
        let first = total - todo as usize;
        if (done - first) % step == 0 || done == total {
            eprintln!(
                "units {done}/{total} ({point_label}), {:.0} trials/s",
                self.rate()
            );
        }
    }

    fn end(&self) {
        if let Ok(mut slot) = self.bar.lock() {
            if let Some(b) = slot.take() {
                b.finish_and_clear();
            }
        }
    }
}
