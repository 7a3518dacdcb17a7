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
                    "{bar:40} {pos}/{len} trials, {rate} [{elapsed_precise} < {eta_precise}] {msg}",
                )
                .expect("valid template")
                .with_key(
                    "rate",
                    |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.0} trials/s", s.per_sec());
                    },
                ),
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
        let slot = self.bar.lock();
        if let Some(b) = slot.as_ref().ok().and_then(|s| s.as_ref()) {
            b.inc(k);
        }
    }

    fn unit_done(&self, st: &pretrainlab_experiment::Status<'_>) {
        if self.quiet {
            return;
        }
        let what = format!(
            "points {}/{}, units {}/{} ({})",
            st.points_done, st.points_total, st.units_done, st.units_total, st.point
        );
        {
            let slot = self.bar.lock();
            if let Some(b) = slot.as_ref().ok().and_then(|s| s.as_ref()) {
                b.set_message(what);
                return;
            }
        }
        let todo = self.units_todo.load(Ordering::Relaxed).max(1);
        let step = (todo / 10).max(1) as usize;
        let first = st.units_total - todo as usize;
        if (st.units_done - first).rem_euclid(step) == 0 || st.units_done == st.units_total {
            eprintln!("{what}, {:.0} trials/s", self.rate());
        }
    }

    fn end(&self) {
        let bar = self.bar.lock().ok().and_then(|mut s| s.take());
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    }

    /// Notes are shown even with `--quiet`: they report damage the run repaired.
    fn note(&self, message: &str) {
        eprintln!("note: {message}");
    }
}
