//! `pretrainlab audit`: every claim the models declare ([`pretrainlab::audit::Claim`]),
//! checked in one run.
//!
//! Claims at the same instance (model, parameters, trials) share one experiment: a
//! `check` of that instance, run by `pretrainlab_experiment::run` into
//! `instances/<first claim's id>/`, so it resumes after an interruption, shows progress and
//! keeps its own lock, units, tables, figures and report. Each claim's verdict then comes
//! from that finished check through [`pretrainlab::audit::assess`], the same numbers
//! `check` prints. The rows go to `audit.json`, `audit.csv` and `audit.html`, each row
//! linking the instance's figure. A model joins by listing its claims in its registry
//! entry; nothing here names a model.

use std::fmt::Write as _;
use std::path::Path;

use pretrainlab::audit::{Claim, ClaimRow, Verdict};
use pretrainlab::registry::ENTRIES;
use pretrainlab_experiment::StoreError;
use pretrainlab_experiment::report::esc;
use serde_json::json;

use crate::{Options, PaperError, PartOutcome, ShardTally, run_part};

/// Trials per stored unit of an audit instance.
const CHUNK: u64 = 100;

/// One experiment of the audit: an instance and the claims made about it.
struct Instance {
    model: &'static str,
    claims: Vec<&'static Claim>,
}

impl Instance {
    fn first(&self) -> &'static Claim {
        self.claims[0]
    }

    fn trials(&self, quick: bool) -> u64 {
        let c = self.first();
        if quick { c.quick_trials } else { c.trials }
    }

    /// The experiment file of this instance.
    fn text(&self, quick: bool) -> String {
        let c = self.first();
        let trials = self.trials(quick);
        let ids: Vec<&str> = self.claims.iter().map(|c| c.id).collect();
        format!(
            "# Audit instance of {model}: {ids}\nname = \"audit-{id}\"\ndescription = {desc}\nmodel = \"{model}\"\nactions = [\"check\"]\ntrials = {trials}\nchunk = {chunk}\nseed = 1\n\n[params]\n{params}\n",
            model = self.model,
            ids = ids.join(", "),
            id = c.id,
            desc = toml::Value::String(format!("{}, {}", c.paper, c.location)),
            chunk = CHUNK.min(trials),
            params = c.params,
        )
    }
}

/// Every declared claim, grouped by instance, in registry order; only the models in
/// `models` when it is not empty. An unknown name is an error naming it.
fn instances(models: &[String]) -> Result<Vec<Instance>, PaperError> {
    for m in models {
        if !ENTRIES.iter().any(|e| e.name == m) {
            return Err(PaperError::Post(format!(
                "unknown model `{m}` in --model; known models: {}",
                pretrainlab::registry::names().join(", ")
            )));
        }
    }
    let mut out: Vec<Instance> = Vec::new();
    for e in ENTRIES {
        if !models.is_empty() && !models.iter().any(|m| m == e.name) {
            continue;
        }
        for claim in e.claims {
            let same = |i: &&mut Instance| {
                i.model == e.name
                    && i.first().params == claim.params
                    && i.first().trials == claim.trials
                    && i.first().quick_trials == claim.quick_trials
            };
            match out.iter_mut().find(same) {
                Some(i) => i.claims.push(claim),
                None => out.push(Instance {
                    model: e.name,
                    claims: vec![claim],
                }),
            }
        }
    }
    Ok(out)
}

/// How an audit ended.
pub enum AuditOutcome {
    /// Every instance finished: the rows, and the files written (relative to the folder).
    Finished {
        rows: Vec<ClaimRow>,
        files: Vec<String>,
    },
    /// Stopped on request during the instance of claim `claim`; finished units are kept.
    Interrupted {
        claim: &'static str,
        units_done: usize,
        units_total: usize,
    },
    /// A shard computed its share of every instance; a plain run assembles.
    Shard {
        units_run: usize,
        units_missing: usize,
        units_total: usize,
    },
}

/// Runs (or resumes) the audit of the claims of `models` (all when empty) into
/// `opts.output`, then writes `audit.json`, `audit.csv` and `audit.html`.
pub fn run(models: &[String], opts: &Options<'_>) -> Result<AuditOutcome, PaperError> {
    let list = instances(models)?;
    let mut rows = Vec::new();
    let mut links = Vec::new();
    let mut tally = ShardTally::default();
    let mut shard = opts.shard;
    for inst in &list {
        let text = inst.text(opts.quick);
        let e = pretrainlab_experiment::parse(&text, false).map_err(|source| PaperError::Spec {
            preset: "audit",
            part: inst.first().id,
            source,
        })?;
        let folder = format!("instances/{}", inst.first().id);
        let outcome = run_part(
            &e,
            &text,
            opts.output.join(&folder),
            opts,
            shard,
            &mut tally,
        )?;
        shard = shard.map(|s| s.after(pretrainlab_experiment::store::unit_count(&e)));
        let finished = match outcome {
            PartOutcome::Finished(f) => f,
            PartOutcome::Sharded => continue,
            PartOutcome::Interrupted {
                units_done,
                units_total,
            } => {
                return Ok(AuditOutcome::Interrupted {
                    claim: inst.first().id,
                    units_done,
                    units_total,
                });
            }
        };
        let point = finished.results.first();
        let check = point.and_then(|p| p.check.as_ref()).ok_or_else(|| {
            PaperError::Post(format!("instance `{folder}` has no finished check"))
        })?;
        let figure = finished
            .files
            .iter()
            .find(|f| f.starts_with("figures/") && f.ends_with(".svg"))
            .map_or_else(|| "report.html".to_string(), Clone::clone);
        for claim in &inst.claims {
            rows.push(pretrainlab::audit::assess(inst.model, claim, check));
            links.push((
                format!("{folder}/{figure}"),
                format!("{folder}/report.html"),
            ));
        }
    }
    if opts.shard.is_some() {
        return Ok(AuditOutcome::Shard {
            units_run: tally.units_run,
            units_missing: tally.units_missing,
            units_total: tally.units_total,
        });
    }
    let files = write(&opts.output, &rows, &links, opts.quick)?;
    Ok(AuditOutcome::Finished { rows, files })
}

/// Writes the three result files; returns their names.
fn write(
    dir: &Path,
    rows: &[ClaimRow],
    links: &[(String, String)],
    quick: bool,
) -> Result<Vec<String>, StoreError> {
    let counted = |v: Verdict| rows.iter().filter(|r| r.verdict == v).count();
    let json_rows: Vec<serde_json::Value> = rows
        .iter()
        .zip(links)
        .map(|(r, (figure, report))| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["figure"] = json!(figure);
            v["report"] = json!(report);
            v["verdict"] = json!(r.verdict.as_str());
            v
        })
        .collect();
    let json = json!({
        "quick": quick,
        "confirm_z": pretrainlab::audit::CONFIRM_Z,
        "confirmed": counted(Verdict::Confirmed),
        "contradicted": counted(Verdict::Contradicted),
        "not_testable": counted(Verdict::NotTestable),
        "claims": json_rows,
    });
    let text = serde_json::to_string_pretty(&json).unwrap_or_default();
    let put = |name: &str, bytes: &[u8]| {
        pretrainlab_experiment::store::atomic_write(&dir.join(name), bytes)
    };
    put("audit.json", text.as_bytes())?;
    put("audit.csv", csv(rows, links).as_bytes())?;
    put("audit.html", html(rows, links, quick).as_bytes())?;
    Ok(vec![
        "audit.json".into(),
        "audit.csv".into(),
        "audit.html".into(),
    ])
}

fn opt(x: Option<f64>) -> String {
    x.map_or_else(String::new, pretrainlab_report::format_number)
}

/// A CSV field, quoted.
fn field(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// One row per claim, the columns of `audit.json`.
fn csv(rows: &[ClaimRow], links: &[(String, String)]) -> String {
    let mut out = String::from(
        "id,model,paper,location,statement,paper_kind,paper_value,metric,generic,generic_se,simulated,simulated_se,z,verdict,note,trials,figure\n",
    );
    for (r, (figure, _)) in rows.iter().zip(links) {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            field(&r.id),
            field(&r.model),
            field(&r.paper),
            field(&r.location),
            field(&r.statement),
            field(r.paper_kind),
            opt(r.paper_value),
            field(r.metric.as_deref().unwrap_or("")),
            opt(r.generic),
            opt(r.generic_se),
            opt(r.simulated),
            opt(r.simulated_se),
            opt(r.z),
            field(r.verdict.as_str()),
            field(&r.note),
            r.trials,
            field(figure),
        );
    }
    out
}

/// `audit.html`: a summary line and one table row per claim.
fn html(rows: &[ClaimRow], links: &[(String, String)], quick: bool) -> String {
    let mut h = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>pretrainlab audit</title><style>\
         body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;font-size:14px}\
         .confirmed{background:#e6f4e6}.contradicted{background:#fbe3e3}.not{background:#eee}\
         </style></head><body><h1>Which claims hold</h1>",
    );
    let count = |v: Verdict| rows.iter().filter(|r| r.verdict == v).count();
    let _ = write!(
        h,
        "<p>{} claims{}: {} confirmed, {} contradicted, {} not testable here. A paper's value is \
         confirmed when the simulated mean is within {} standard errors of it; the generic \
         theory when every criterion of <code>check</code> holds.</p>",
        rows.len(),
        if quick { " (quick run)" } else { "" },
        count(Verdict::Confirmed),
        count(Verdict::Contradicted),
        count(Verdict::NotTestable),
        pretrainlab::audit::CONFIRM_Z,
    );
    h.push_str(
        "<table><tr><th>claim</th><th>paper, where</th><th>statement</th><th>paper's value</th>\
         <th>generic theory</th><th>simulation ± s.e.</th><th>verdict</th><th>figure</th></tr>",
    );
    for (r, (figure, report)) in rows.iter().zip(links) {
        let class = match r.verdict {
            Verdict::Confirmed => "confirmed",
            Verdict::Contradicted => "contradicted",
            Verdict::NotTestable => "not",
        };
        let paper_value = match r.paper_value {
            Some(v) => format!("{} <small>({})</small>", opt(Some(v)), esc(r.paper_kind)),
            None => esc(r.paper_kind),
        };
        let generic = match (r.generic, r.generic_se) {
            (Some(g), Some(se)) => format!("{} ± {}", opt(Some(g)), opt(Some(se))),
            (Some(g), None) => opt(Some(g)),
            _ => String::new(),
        };
        let simulated = match (r.simulated, r.simulated_se) {
            (Some(m), Some(se)) => format!(
                "{} ± {} <small>({}, {} trials)</small>",
                opt(Some(m)),
                opt(Some(se)),
                esc(r.metric.as_deref().unwrap_or("")),
                r.trials
            ),
            _ => String::new(),
        };
        let _ = write!(
            h,
            "<tr class=\"{class}\"><td><code>{}</code><br>{}</td><td>{}<br><b>{}</b></td><td>{}</td>\
             <td>{paper_value}</td><td>{generic}</td><td>{simulated}</td><td><b>{}</b><br>{}</td>\
             <td><a href=\"{}\">figure</a> · <a href=\"{}\">report</a></td></tr>",
            esc(&r.id),
            esc(&r.model),
            esc(&r.paper),
            esc(&r.location),
            esc(&r.statement),
            esc(r.verdict.as_str()),
            esc(&r.note),
            esc(figure),
            esc(report),
        );
    }
    h.push_str("</table></body></html>\n");
    h
}
