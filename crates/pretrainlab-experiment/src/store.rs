//! The results folder of one experiment: units of finished trials, the manifest, and
//! atomic writes.
//!
//! A unit is (grid point, chunk of trials). Its file `units/p<point>-c<chunk>.txt` starts
//! with a fingerprint of everything that determines its trials (model, parameters, m, n,
//! seed, sampler, trial range); the records follow, one per line (`ok,<trial>,<fields>` or
//! `fail,<trial>,<reason>`), with floats in Rust's shortest round-trip form, so reading a
//! unit back gives the very bits that were computed. A two-stage record's fields are the
//! [`TrialRecord`] in order; a training-dynamics record's are its named metrics
//! (`name=value,…`), one row per seed.

use std::path::{Path, PathBuf};

use pretrainlab::dynamics::RunOutcome;
use pretrainlab::engine::{RunResult, RunSpec};
use pretrainlab::models::TrialRecord;

use crate::StoreError;
use crate::spec::{Experiment, Point};

/// Version tag of the unit file format, part of every fingerprint.
const UNIT_FORMAT: &str = "pretrainlab-unit-v1";
/// Version tag of the training-dynamics unit format (named metrics per seed).
const DYN_UNIT_FORMAT: &str = "pretrainlab-dyn-unit-v1";

/// The outcomes of a chunk of seeds of a training-dynamics model, in seed order.
pub type SeedOutcomes = Vec<(u64, Result<RunOutcome, String>)>;

/// Writes via a temporary file in the same folder and a rename, so a reader (or a rerun
/// after a kill) never sees half a file.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// One unit of work: trials `lo..hi` of point `point`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    pub point: usize,
    pub chunk: usize,
    pub lo: u64,
    pub hi: u64,
}

impl Unit {
    /// The unit's file name inside `units/`.
    pub fn file_name(&self) -> String {
        format!("p{:05}-c{:05}.txt", self.point, self.chunk)
    }
}

/// The units of a point, in trial order.
pub fn units_of(e: &Experiment, point: usize) -> Vec<Unit> {
    if !e.actions.runs_trials() {
        return Vec::new();
    }
    (0..e.trials.div_ceil(e.chunk))
        .map(|c| Unit {
            point,
            chunk: c as usize,
            lo: c * e.chunk,
            hi: ((c + 1) * e.chunk).min(e.trials),
        })
        .collect()
}

/// The run spec of a point (the trial count is the experiment's).
pub fn spec_of(e: &Experiment, p: &Point) -> RunSpec {
    RunSpec {
        m: p.m,
        n: p.n,
        trials: e.trials,
        seed: e.seed,
        experiment: pretrainlab::rng::experiment_key(&e.model),
        sampler: e.sampler,
    }
}

/// The fingerprint of a unit: FNV-1a of a canonical description of what determines it.
pub fn fingerprint(e: &Experiment, p: &Point, u: &Unit) -> String {
    let params = serde_json::to_string(&p.params).unwrap_or_default();
    let text = if e.dynamics {
        format!(
            "{DYN_UNIT_FORMAT}|model={}|params={params}|seed={}|seeds={}..{}",
            e.model, e.seed, u.lo, u.hi
        )
    } else {
        format!(
            "{UNIT_FORMAT}|model={}|params={params}|m={}|n={}|seed={}|sampler={:?}|trials={}..{}",
            e.model, p.m, p.n, e.seed, e.sampler, u.lo, u.hi
        )
    };
    let h = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{h:016x}")
}

/// Serialises a unit's results.
pub fn unit_text(fingerprint: &str, result: &RunResult) -> String {
    let ok = result
        .records
        .iter()
        .map(|(t, r)| {
            let extra = r.extra.map(|x| format!("{x}")).unwrap_or_default();
            (
                *t,
                format!(
                    "{},{},{},{},{},{extra}",
                    r.scaled_excess, r.n_var, r.n_leak, r.n_rep, r.m_rep
                ),
            )
        })
        .collect();
    rows_text(fingerprint, ok, &result.failures)
}

/// Serialises a chunk of seeds of a training-dynamics model: each completed seed's named
/// metrics as `name=value` fields.
pub fn dyn_unit_text(fingerprint: &str, outcomes: &[(u64, Result<RunOutcome, String>)]) -> String {
    let mut ok = Vec::new();
    let mut failures = Vec::new();
    for (t, o) in outcomes {
        match o {
            Ok(r) => ok.push((
                *t,
                r.metrics
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(","),
            )),
            Err(e) => failures.push((*t, e.clone())),
        }
    }
    rows_text(fingerprint, ok, &failures)
}

/// The fingerprint line, then the `ok` rows (trial, fields) and the failures merged in
/// trial order.
fn rows_text(fingerprint: &str, ok: Vec<(u64, String)>, failures: &[(u64, String)]) -> String {
    let mut out = format!("fingerprint {fingerprint}\n");
    let mut lines: Vec<(u64, String)> = ok
        .into_iter()
        .map(|(t, fields)| (t, format!("ok,{t},{fields}")))
        .chain(
            failures
                .iter()
                .map(|(t, e)| (*t, format!("fail,{t},{}", e.replace('\n', " ")))),
        )
        .collect();
    lines.sort_by_key(|(t, _)| *t);
    for (_, l) in lines {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// What a unit file holds.
pub struct UnitFile {
    pub fingerprint: String,
    pub result: RunResult,
}

/// A unit file split into its fingerprint and rows: per trial, the fields of a completed
/// one or the reason of a failed one.
pub struct UnitLines {
    pub fingerprint: String,
    pub rows: Vec<(u64, Result<String, String>)>,
}

fn corrupt(path: &Path, what: &str) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        message: what.to_string(),
    }
}

/// Reads a unit file of either kind into its lines; a malformed file is an error naming it.
pub fn read_lines(path: &Path) -> Result<UnitLines, StoreError> {
    let text = std::fs::read_to_string(path).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut lines = text.lines();
    let fingerprint = lines
        .next()
        .and_then(|l| l.strip_prefix("fingerprint "))
        .ok_or_else(|| corrupt(path, "no fingerprint line"))?
        .to_string();
    let mut rows = Vec::new();
    for line in lines {
        let mut parts = line.splitn(3, ',');
        let (kind, t, rest) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
        let t: u64 = t
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| corrupt(path, "a line without a trial number"))?;
        match kind {
            Some("ok") => rows.push((t, Ok(rest.to_string()))),
            Some("fail") => rows.push((t, Err(rest.to_string()))),
            _ => return Err(corrupt(path, "a line that is neither ok nor fail")),
        }
    }
    Ok(UnitLines { fingerprint, rows })
}

/// Reads a two-stage unit file.
pub fn read_unit(path: &Path) -> Result<UnitFile, StoreError> {
    let lines = read_lines(path)?;
    let bad = |what: &str| corrupt(path, what);
    let mut result = RunResult::default();
    for (t, row) in lines.rows {
        match row {
            Ok(rest) => {
                let f: Vec<&str> = rest.split(',').collect();
                let num = |i: usize| -> Result<f64, StoreError> {
                    f.get(i)
                        .and_then(|s| s.parse::<f64>().ok())
                        .ok_or_else(|| bad(&format!("trial {t}: field {i} is not a number")))
                };
                let extra = match f.get(5) {
                    Some(s) if !s.is_empty() => Some(num(5)?),
                    _ => None,
                };
                result.records.push((
                    t,
                    TrialRecord {
                        scaled_excess: num(0)?,
                        n_var: num(1)?,
                        n_leak: num(2)?,
                        n_rep: num(3)?,
                        m_rep: num(4)?,
                        extra,
                    },
                ));
            }
            Err(reason) => result.failures.push((t, reason)),
        }
    }
    Ok(UnitFile {
        fingerprint: lines.fingerprint,
        result,
    })
}

/// Reads a training-dynamics unit file: its fingerprint and the seeds' outcomes (named
/// metrics; curves are not stored).
pub fn read_dyn_unit(path: &Path) -> Result<(String, SeedOutcomes), StoreError> {
    let lines = read_lines(path)?;
    let mut outcomes = Vec::with_capacity(lines.rows.len());
    for (t, row) in lines.rows {
        let outcome = match row {
            Ok(fields) => {
                let metrics = fields
                    .split(',')
                    .filter(|f| !f.is_empty())
                    .map(|f| {
                        f.split_once('=')
                            .and_then(|(k, v)| Some((k.to_string(), v.parse::<f64>().ok()?)))
                            .ok_or_else(|| {
                                corrupt(path, &format!("seed {t}: `{f}` is not name=number"))
                            })
                    })
                    .collect::<Result<_, _>>()?;
                Ok(RunOutcome {
                    metrics,
                    curves: Vec::new(),
                })
            }
            Err(reason) => Err(reason),
        };
        outcomes.push((t, outcome));
    }
    Ok((lines.fingerprint, outcomes))
}

/// Seconds since the Unix epoch as an RFC 3339 UTC time, e.g. `2026-11-24T02:30:00Z`.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The leaves of two JSON values that differ, as `path: old → new` lines.
pub fn json_diff(old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    fn walk(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
        use serde_json::Value::{Array, Object};
        match (a, b) {
            (Object(x), Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    match (x.get(k), y.get(k)) {
                        (Some(u), Some(v)) => walk(&p, u, v, out),
                        (Some(u), None) => out.push(format!("{p}: {u} → (removed)")),
                        (None, Some(v)) => out.push(format!("{p}: (absent) → {v}")),
                        (None, None) => {}
                    }
                }
            }
            (Array(x), Array(y)) if x.len() == y.len() => {
                for (i, (u, v)) in x.iter().zip(y).enumerate() {
                    walk(&format!("{path}[{i}]"), u, v, out);
                }
            }
            _ if a != b => out.push(format!("{path}: {a} → {b}")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", old, new, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_round_trip_bit_for_bit() {
        let mut r = RunResult::default();
        r.records.push((
            3,
            TrialRecord {
                scaled_excess: 0.1 + 0.2,
                n_var: 1e-300,
                n_leak: -0.0,
                n_rep: std::f64::consts::PI,
                m_rep: 12345.678901234567,
                extra: Some(f64::MIN_POSITIVE),
            },
        ));
        r.failures.push((4, "did not converge, twice".into()));
        r.records.push((
            5,
            TrialRecord {
                scaled_excess: 1.0,
                n_var: 2.0,
                n_leak: 3.0,
                n_rep: 4.0,
                m_rep: 5.0,
                extra: None,
            },
        ));
        let dir = std::env::temp_dir().join(format!("pretrainlab-unit-{}", std::process::id()));
        let path = dir.join("u.txt");
        atomic_write(&path, unit_text("abc", &r).as_bytes()).unwrap();
        let back = read_unit(&path).unwrap();
        assert_eq!(back.fingerprint, "abc");
        assert_eq!(back.result.failures, r.failures);
        for ((t, a), (u, b)) in back.result.records.iter().zip(&r.records) {
            assert_eq!(t, u);
            assert_eq!(a.scaled_excess.to_bits(), b.scaled_excess.to_bits());
            assert_eq!(a.n_leak.to_bits(), b.n_leak.to_bits());
            assert_eq!(a.m_rep.to_bits(), b.m_rep.to_bits());
            assert_eq!(a.extra.map(f64::to_bits), b.extra.map(f64::to_bits));
        }
    }

    #[test]
    fn dynamics_units_round_trip_bit_for_bit() {
        let outcomes: SeedOutcomes = vec![
            (
                6,
                Ok(RunOutcome {
                    metrics: vec![("a".into(), 0.1 + 0.2), ("b".into(), -0.0)],
                    curves: vec![],
                }),
            ),
            (7, Err("diverged, at t = 3".into())),
        ];
        let dir = std::env::temp_dir().join(format!("pretrainlab-dynunit-{}", std::process::id()));
        let path = dir.join("u.txt");
        atomic_write(&path, dyn_unit_text("f", &outcomes).as_bytes()).unwrap();
        let (fp, back) = read_dyn_unit(&path).unwrap();
        assert_eq!(fp, "f");
        assert_eq!(format!("{back:?}"), format!("{outcomes:?}"));
        let Ok(r) = &back[0].1 else { panic!() };
        assert_eq!(r.metrics[1].1.to_bits(), (-0.0f64).to_bits());
    }

    #[test]
    fn diffs_name_the_changed_leaves() {
        let a = serde_json::json!({"trials": 10, "params": {"d": 5}});
        let b = serde_json::json!({"trials": 20, "params": {"d": 5, "k": 2}});
        assert_eq!(
            json_diff(&a, &b),
            vec!["params.k: (absent) → 2", "trials: 10 → 20"]
        );
    }

    #[test]
    fn utc_time_has_the_rfc3339_shape() {
        let t = utc_now();
        assert_eq!(t.len(), 20);
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
