//! `pretrainlab status DIR`: where a run stands, read from its results folder alone, while
//! shards are still writing units or after they finished. Nothing is written.
//!
//! A folder's `manifest.json` holds the experiment's text and resolved configuration; the
//! plan of units follows from them, and each unit present in `units/` is read and verified
//! like a resume would (fingerprint, rows, checksum). Throughput is the trials of the
//! present units over the span of their modification times.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use pretrainlab::runner::Trials;
use serde_json::Value;

use crate::store::{self, Expected};
use crate::{Experiment, StoreError, build_models, config_json};

/// One point's units.
#[derive(Clone, Debug)]
pub struct PointStatus {
    pub label: String,
    pub units_done: usize,
    pub units_total: usize,
    /// Trials stored, and failed trials among the stored units.
    pub trials_done: u64,
    pub failed: usize,
}

/// One results folder (one experiment).
#[derive(Clone, Debug)]
pub struct FolderStatus {
    pub dir: PathBuf,
    pub name: String,
    /// `running`, `interrupted` or `finished`, as the manifest says, or `assembled?` when
    /// every unit is present but no table was written yet.
    pub manifest_status: String,
    pub points: Vec<PointStatus>,
    /// Units present but damaged or from another configuration.
    pub bad_units: Vec<String>,
    /// Trials per second over the present units, when at least two are present.
    pub trials_per_second: Option<f64>,
    /// Trials still missing.
    pub trials_missing: u64,
}

impl FolderStatus {
    pub fn units_done(&self) -> usize {
        self.points.iter().map(|p| p.units_done).sum()
    }
    pub fn units_total(&self) -> usize {
        self.points.iter().map(|p| p.units_total).sum()
    }
    /// Seconds to finish at the measured rate on the same resources.
    pub fn eta_seconds(&self) -> Option<f64> {
        self.trials_per_second
            .filter(|r| *r > 0.0)
            .map(|r| self.trials_missing as f64 / r)
    }
}

/// The status of every results folder at or below `dir` (the folder itself, or the parts
/// of a preset and the instances of an audit, up to three levels down).
pub fn status(dir: &Path) -> Result<Vec<FolderStatus>, StoreError> {
    let mut folders = Vec::new();
    collect(dir, 3, &mut folders);
    if folders.is_empty() {
        return Err(StoreError::NoRun {
            dir: dir.to_path_buf(),
        });
    }
    folders.sort();
    folders.iter().map(|d| folder_status(d)).collect()
}

fn collect(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if dir.join("manifest.json").is_file() {
        out.push(dir.to_path_buf());
        return;
    }
    if depth == 0 {
        return;
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir {
                collect(&path, depth - 1, out);
            }
        }
    }
}

/// The experiment a manifest describes: its source text, parsed plainly or with its
/// `[quick]` overrides, whichever gives the recorded configuration.
fn experiment_of(dir: &Path, manifest: &Value) -> Result<Experiment, StoreError> {
    let source = manifest.get("source").and_then(Value::as_str).unwrap_or("");
    let recorded = manifest.get("config");
    for quick in [false, true] {
        if let Ok(e) = crate::parse(source, quick)
            && recorded == Some(&config_json(&e))
        {
            return Ok(e);
        }
    }
    Err(StoreError::NoRun {
        dir: dir.to_path_buf(),
    })
}

fn folder_status(dir: &Path) -> Result<FolderStatus, StoreError> {
    let path = dir.join("manifest.json");
    let manifest: Value = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| StoreError::NoRun {
            dir: dir.to_path_buf(),
        })?;
    let e = experiment_of(dir, &manifest)?;
    let models = build_models(&e)?;
    let units_dir = dir.join("units");
    let mut points = Vec::new();
    let mut bad_units = Vec::new();
    let mut times: Vec<SystemTime> = Vec::new();
    let (mut trials_missing, mut trials_timed) = (0u64, 0u64);
    for (point, model) in e.points.iter().zip(&models) {
        let columns = Trials::for_model(model.as_ref());
        let units = store::units_of(&e, point.index);
        let mut st = PointStatus {
            label: point.label(),
            units_done: 0,
            units_total: units.len(),
            trials_done: 0,
            failed: 0,
        };
        for u in &units {
            let file = units_dir.join(u.file_name());
            let size = u.hi - u.lo;
            if !file.is_file() {
                trials_missing += size;
                continue;
            }
            let want = Expected {
                fingerprint: &store::fingerprint(&e, point, u),
                columns: &columns,
                unit: u,
            };
            match store::read_unit(&file, &want) {
                Ok(t) => {
                    st.units_done += 1;
                    st.trials_done += size;
                    st.failed += t.failures.len();
                    if let Ok(m) = std::fs::metadata(&file).and_then(|m| m.modified()) {
                        times.push(m);
                        trials_timed += size;
                    }
                }
                Err(err) => {
                    trials_missing += size;
                    bad_units.push(format!("units/{}: {err}", u.file_name()));
                }
            }
        }
        points.push(st);
    }
    let trials_per_second = rate(&times, trials_timed);
    let manifest_status = manifest
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();
    Ok(FolderStatus {
        dir: dir.to_path_buf(),
        name: e.name.clone(),
        manifest_status,
        points,
        bad_units,
        trials_per_second,
        trials_missing,
    })
}

/// Trials per second from the modification times of the units that hold them: the
/// trials after the first unit over the span from the first to the last.
fn rate(times: &[SystemTime], trials: u64) -> Option<f64> {
    if times.len() < 2 {
        return None;
    }
    let first = times.iter().min()?;
    let last = times.iter().max()?;
    let span = last.duration_since(*first).ok()?.as_secs_f64();
    let per_unit = trials as f64 / times.len() as f64;
    (span > 0.0).then(|| per_unit * (times.len() - 1) as f64 / span)
}
