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
