//! The results folder of one experiment: units of finished trials, the manifest, and
//! atomic writes.
//!
//! A unit is (grid point, chunk of trials). Its file `units/p<point>-c<chunk>.txt` is
//!
//! ```text
//! pretrainlab-unit v2
//! fingerprint <16 hex digits>
//! metrics <name>,<name>,…
//! traces <name>:<points>,…             per-trial curves, after the metrics in each row
//! ok,<trial>,<value>,<value>,…        one line per trial, in trial order
//! fail,<trial>,<reason>
//! checksum <16 hex digits>
//! ```
//!
//! The fingerprint hashes everything that determines the unit's trials (model, every
//! parameter, seed, trial range). Floats are in Rust's shortest round-trip form, so
//! reading a unit back gives the very bits that were computed. Reading verifies
//! everything: the format line, the fingerprint, the metric names, one line per trial
//! of the range in order with the right number of finite-or-not numbers, and the
//! checksum (FNV-1a of every byte before the checksum line), so a changed digit, a
//! truncated file or a foreign row is reported, never merged.

use std::path::Path;

use pretrainlab::runner::Trials;

use crate::StoreError;
use crate::spec::{Experiment, Point};

/// First line of every unit file of the current format.
const UNIT_FORMAT: &str = "pretrainlab-unit v2";

/// Writes a file atomically through an exclusively created temporary sibling (see
/// `pretrainlab_report::fsio`), naming the path on failure.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    pretrainlab_report::fsio::atomic_write(path, bytes).map_err(|error| StoreError::Io {
        path: path.to_path_buf(),
        error,
    })
}

/// Name of the lock file inside a results folder.
pub const LOCK_FILE: &str = ".pretrainlab.lock";

/// An advisory lock (`flock`) on a results folder, held while a run writes into it and
/// released when dropped. The lock file records its holder for the error a second run
/// gets.
#[derive(Debug)]
pub struct FolderLock {
    _file: std::fs::File,
}

impl FolderLock {
    /// Takes the lock of `dir` (which must exist) without waiting: a folder another run
    /// holds is an error naming that run.
    pub fn acquire(dir: &Path) -> Result<Self, StoreError> {
        Self::take(dir, false)
    }

    /// Takes the lock of `dir` shared with other shards (`--shard`): shards of one folder
    /// run together, while a plain run (which assembles the tables) excludes them all.
    pub fn acquire_shared(dir: &Path) -> Result<Self, StoreError> {
        Self::take(dir, true)
    }

    fn take(dir: &Path, shared: bool) -> Result<Self, StoreError> {
        use std::io::{Read, Seek, Write};
        let path = dir.join(LOCK_FILE);
        let io = |error| StoreError::Io {
            path: path.clone(),
            error,
        };
        refuse_link(&path)?;
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let taken = if shared {
            file.try_lock_shared()
        } else {
            file.try_lock()
        };
        match taken {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(StoreError::Locked {
                    dir: dir.to_path_buf(),
                    holder: holder.trim().to_string(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let holder = if shared {
            SHARDS_HOLDER.to_string()
        } else {
            format!("process {} since {}", std::process::id(), utc_now())
        };
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(holder.as_bytes()))
            .map_err(io)?;
        Ok(FolderLock { _file: file })
    }
}

/// What shards write into the lock file (all the same, so concurrent writes agree).
const SHARDS_HOLDER: &str = "shards (--shard) computing units";

/// One shard of a run: `index` of `count` (`--shard I/N`, `0 ≤ I < N`). Unit `j` of the
/// run's plan (points in order, then chunks) belongs to shard `(j + offset) mod N`,
/// whatever is already done, so the shares are disjoint and fixed by the experiment
/// alone. `offset` is 0 for one experiment; a preset or the audit, which run several
/// experiments, numbers their units consecutively so that small experiments do not all
/// fall to the first shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
    pub offset: usize,
}

impl Shard {
    /// Parses `I/N`.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("must be I/N with integers 0 ≤ I < N ≤ 100000, got {s}");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || count > 100_000 || index >= count {
            return Err(bad());
        }
        Ok(Shard {
            index,
            count,
            offset: 0,
        })
    }

    /// Whether unit number `j` of the plan is this shard's.
    pub fn owns(&self, j: usize) -> bool {
        (j + self.offset) % self.count == self.index
    }

    /// The same shard for the next experiment, after one of `units` units.
    pub fn after(self, units: usize) -> Shard {
        Shard {
            offset: (self.offset + units) % self.count,
            ..self
        }
    }
}

/// Units of experiment `e` (every point's chunks).
pub fn unit_count(e: &Experiment) -> usize {
    e.points.iter().map(|p| units_of(e, p.index).len()).sum()
}

/// An error when `path` is a symbolic link: pretrainlab never writes through one.
pub fn refuse_link(path: &Path) -> Result<(), StoreError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(StoreError::Link {
            path: path.to_path_buf(),
        }),
        _ => Ok(()),
    }
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

/// FNV-1a, 64 bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The fingerprint of a unit: FNV-1a of a canonical description of what determines it
/// (the model, all its parameters, the seed and the trial range).
pub fn fingerprint(e: &Experiment, p: &Point, u: &Unit) -> String {
    let params = serde_json::to_string(&p.params).unwrap_or_default();
    let text = format!(
        "{UNIT_FORMAT}|model={}|params={params}|seed={}|trials={}..{}",
        e.model, e.seed, u.lo, u.hi
    );
    format!("{:016x}", fnv1a(text.as_bytes()))
}

/// Serialises a unit: header, one line per trial in trial order, checksum.
pub fn unit_text(fingerprint: &str, trials: &Trials) -> String {
    let mut lines: Vec<(u64, String)> = Vec::with_capacity(trials.attempted());
    for (i, &t) in trials.ids.iter().enumerate() {
        let values: Vec<String> = trials.row(i).iter().map(|v| format!("{v}")).collect();
        lines.push((t, format!("ok,{t},{}", values.join(","))));
    }
    for (t, e) in &trials.failures {
        let reason = e.replace(['\n', '\r'], " ");
        lines.push((*t, format!("fail,{t},{reason}")));
    }
    lines.sort_by_key(|(t, _)| *t);
    let traces: Vec<String> = trials
        .traces
        .iter()
        .map(|(name, n)| format!("{name}:{n}"))
        .collect();
    let mut out = format!(
        "{UNIT_FORMAT}\nfingerprint {fingerprint}\nmetrics {}\ntraces {}\n",
        trials.metrics.join(","),
        traces.join(",")
    );
    for (_, l) in lines {
        out.push_str(&l);
        out.push('\n');
    }
    let sum = fnv1a(out.as_bytes());
    out.push_str(&format!("checksum {sum:016x}\n"));
    out
}

/// What a unit must hold to be accepted.
pub struct Expected<'a> {
    pub fingerprint: &'a str,
    /// An empty outcome with the model's metric and trace columns.
    pub columns: &'a Trials,
    pub unit: &'a Unit,
}

fn corrupt(path: &Path, what: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        message: what.into(),
    }
}

/// The fingerprint line of a unit file, or why the file cannot be one of ours.
pub fn read_fingerprint(path: &Path) -> Result<String, StoreError> {
    let text = read_text(path)?;
    let mut lines = text.lines();
    check_format(path, lines.next())?;
    lines
        .next()
        .and_then(|l| l.strip_prefix("fingerprint "))
        .map(str::to_string)
        .ok_or_else(|| corrupt(path, "no fingerprint line"))
}

fn read_text(path: &Path) -> Result<String, StoreError> {
    let bytes = std::fs::read(path).map_err(|error| StoreError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    String::from_utf8(bytes).map_err(|_| corrupt(path, "not UTF-8 text"))
}

fn check_format(path: &Path, first: Option<&str>) -> Result<(), StoreError> {
    match first {
        Some(UNIT_FORMAT) => Ok(()),
        Some(l) if l.starts_with("fingerprint ") => Err(StoreError::Outdated {
            path: path.to_path_buf(),
        }),
        _ => Err(corrupt(
            path,
            format!("the first line is not `{UNIT_FORMAT}`"),
        )),
    }
}

/// Reads and verifies a unit file against what it must hold; returns its trials.
pub fn read_unit(path: &Path, want: &Expected<'_>) -> Result<Trials, StoreError> {
    let text = read_text(path)?;
    check_format(path, text.lines().next())?;
    let body_end = text.trim_end_matches('\n').rfind('\n').map_or(0, |i| i + 1);
    let sum_line = text[body_end..].trim_end_matches('\n');
    let sum = sum_line
        .strip_prefix("checksum ")
        .ok_or_else(|| corrupt(path, "no checksum line at the end (truncated?)"))?;
    if sum != format!("{:016x}", fnv1a(&text.as_bytes()[..body_end])) {
        return Err(corrupt(path, "the checksum does not match the contents"));
    }
    let mut lines = text[..body_end].lines().skip(1);
    let fp = lines.next().and_then(|l| l.strip_prefix("fingerprint "));
    if fp != Some(want.fingerprint) {
        return Err(corrupt(
            path,
            "its fingerprint is not this unit's (a file from another configuration)",
        ));
    }
    let names: Vec<String> = match lines.next().and_then(|l| l.strip_prefix("metrics ")) {
        Some(l) => l.split(',').map(str::to_string).collect(),
        None => return Err(corrupt(path, "no metrics line")),
    };
    let traces: Vec<(String, usize)> = match lines.next().and_then(|l| l.strip_prefix("traces ")) {
        Some("") => Vec::new(),
        Some(l) => l
            .split(',')
            .map(|x| {
                let (name, n) = x.rsplit_once(':')?;
                Some((name.to_string(), n.parse().ok()?))
            })
            .collect::<Option<_>>()
            .ok_or_else(|| corrupt(path, "a malformed traces line"))?,
        None => return Err(corrupt(path, "no traces line")),
    };
    if (&names, &traces) != (&want.columns.metrics, &want.columns.traces) {
        return Err(corrupt(
            path,
            format!(
                "it holds metrics [{}] but the model reports [{}] (or its curves differ)",
                names.join(", "),
                want.columns.metrics.join(", ")
            ),
        ));
    }
    let mut trials = want.columns.clone();
    let mut next = want.unit.lo;
    for line in lines {
        let mut parts = line.splitn(3, ',');
        let (kind, t, rest) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
        let t: u64 = t
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| corrupt(path, format!("line `{line}` has no trial number")))?;
        if t != next {
            return Err(corrupt(
                path,
                format!(
                    "trial {t} where trial {next} was due (trials {}..{})",
                    want.unit.lo, want.unit.hi
                ),
            ));
        }
        next += 1;
        match kind {
            Some("ok") => {
                let values: Vec<f64> = rest
                    .split(',')
                    .map(|v| v.parse::<f64>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| corrupt(path, format!("trial {t}: a value is not a number")))?;
                if values.len() != trials.width() {
                    return Err(corrupt(
                        path,
                        format!(
                            "trial {t} has {} values for {} columns",
                            values.len(),
                            trials.width()
                        ),
                    ));
                }
                trials.ids.push(t);
                trials.values.extend(values);
            }
            Some("fail") => trials.failures.push((t, rest.to_string())),
            _ => {
                return Err(corrupt(
                    path,
                    format!("line `{line}` is neither ok nor fail"),
                ));
            }
        }
    }
    if next != want.unit.hi {
        return Err(corrupt(
            path,
            format!("it ends at trial {next}, before {}", want.unit.hi),
        ));
    }
    Ok(trials)
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
    use std::path::PathBuf;

    fn sample() -> Trials {
        let mut t = Trials::empty(vec!["a".into(), "b".into()]);
        t.traces = vec![("c".into(), 1)];
        t.ids = vec![3, 5];
        t.values = vec![0.1 + 0.2, 1e-300, 2.5, -0.0, f64::NAN, -1.0];
        t.failures = vec![(4, "did not\nconverge".into())];
        t
    }

    /// The empty outcome with `t`'s columns.
    fn columns_of(t: &Trials) -> Trials {
        Trials {
            ids: vec![],
            values: vec![],
            failures: vec![],
            ..t.clone()
        }
    }

    fn unit() -> Unit {
        Unit {
            point: 0,
            chunk: 0,
            lo: 3,
            hi: 6,
        }
    }

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("u.txt");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("plab-store-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn units_round_trip_bit_for_bit() {
        let t = sample();
        let d = dir("rt");
        let p = write(&d, &unit_text("00ff", &t));
        let columns = columns_of(&t);
        let u = unit();
        let back = read_unit(
            &p,
            &Expected {
                fingerprint: "00ff",
                columns: &columns,
                unit: &u,
            },
        )
        .unwrap();
        assert_eq!(back.ids, t.ids);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back.values), bits(&t.values));
        assert_eq!(back.failures, vec![(4, "did not converge".to_string())]);
        assert_eq!(read_fingerprint(&p).unwrap(), "00ff");
    }

    /// Every kind of damage is an error: a changed digit, truncation, a foreign or
    /// duplicated row, an extra row, another fingerprint, other metrics, the old format.
    #[test]
    fn every_damage_is_detected() {
        let t = sample();
        let good = unit_text("00ff", &t);
        let columns = columns_of(&t);
        let u = unit();
        let want = Expected {
            fingerprint: "00ff",
            columns: &columns,
            unit: &u,
        };
        let d = dir("damage");
        let resum = |body: &str| format!("{body}checksum {:016x}\n", fnv1a(body.as_bytes()));
        let body = good[..good.rfind("checksum").unwrap()].to_string();
        let cases = [
            (
                "digit",
                good.replacen("0.30000000000000004", "0.30000000000000005", 1),
            ),
            ("truncated", good[..good.len() - 30].to_string()),
            ("foreign row", resum(&body.replacen("ok,5,", "ok,9,", 1))),
            (
                "duplicated row",
                resum(&body.replacen("fail,4,", "ok,3,", 1)),
            ),
            ("extra row", resum(&format!("{body}ok,6,1,2,3\n"))),
            ("missing value", resum(&body.replacen(",NaN", "", 1))),
            (
                "traces",
                resum(&body.replacen("traces c:1", "traces c:2", 1)),
            ),
            ("fingerprint", resum(&body.replacen("00ff", "00fe", 1))),
            (
                "metrics",
                resum(&body.replacen("metrics a,b", "metrics a,c", 1)),
            ),
            ("old format", body.replacen("pretrainlab-unit v2\n", "", 1)),
        ];
        for (what, text) in cases {
            let p = write(&d, &text);
            assert!(read_unit(&p, &want).is_err(), "{what} was accepted");
        }
        let p = write(&d, &body.replacen("pretrainlab-unit v2\n", "", 1));
        assert!(matches!(
            read_unit(&p, &want),
            Err(StoreError::Outdated { .. })
        ));
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
