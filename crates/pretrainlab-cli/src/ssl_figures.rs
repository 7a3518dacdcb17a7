//! The nonlinear SSL vs SL reproduction (`yang-ssl`, Yang, Li, Jiang, Li, AAAI-23): runs
//! the seeds, checks spec §6, and writes the CSVs behind the paper's figures (learning
//! curves, final W, projection histograms; SSL beside SL).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use pretrainlab::dynamics::Dynamics;
use pretrainlab::dynamics::ssl::{FigureData, YangSsl, YangSslParams};

/// What a reproduction produced.
#[derive(Debug, serde::Serialize)]
pub struct SslReproduction {
    pub seeds: u64,
    pub seed: u64,
    pub params: YangSslParams,
    /// Wall time of the simulation of all seeds (SSL both conditions incl. the long run, SL).
    pub simulate_wall_s: f64,
    pub failures: Vec<(u64, String)>,
    pub prediction: pretrainlab::dynamics::DynPrediction,
    pub criteria: Vec<pretrainlab::dynamics::Criterion>,
    pub verdict: &'static str,
}

/// Runs `seeds` seeds of the paper's configuration (`quick`: 4 seeds, no long run), checks
/// them and writes `check.json` and the CSVs into `dir`. Returns the files written.
pub fn reproduce(
    dir: &Path,
    seed: u64,
    seeds: u64,
    threads: Option<usize>,
    quick: bool,
) -> Result<(SslReproduction, FigureData, Vec<PathBuf>)> {
    let params = if quick {
        YangSslParams {
            steps_long: 0,
            ..Default::default()
        }
    } else {
        YangSslParams::default()
    };
    let seeds = if quick { seeds.min(4) } else { seeds };
    let model = YangSsl::new(params)?;
    let prediction = model.predict()?;
    let start = Instant::now();
    let results = model.simulate(seed, seeds, threads)?;
    let simulate_wall_s = start.elapsed().as_secs_f64();
    let mut records = Vec::new();
    let mut failures = Vec::new();
    for (t, r) in results.into_iter().enumerate() {
        match r {
            Ok(r) => records.push(r),
            Err(e) => failures.push((t as u64, e)),
        }
    }
    let runs: Vec<_> = records.iter().map(|r| model.outcome(r)).collect();
    let criteria = model.criteria(&prediction, &runs);
    let pass = failures.is_empty() && !criteria.is_empty() && criteria.iter().all(|c| c.pass);
    let data = model.figure_data(&records);
    let report = SslReproduction {
        seeds,
        seed,
        params: model.params(),
        simulate_wall_s,
        failures,
        prediction,
        criteria,
        verdict: if pass { "pass" } else { "fail" },
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let files = write_csvs(dir, &data, &report)?;
    Ok((report, data, files))
}

fn write(dir: &Path, name: &str, text: &str, files: &mut Vec<PathBuf>) -> Result<()> {
    let path = dir.join(name);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
    files.push(path);
    Ok(())
}

/// Writes `learning_curves.csv` (run, quantity, t, mean, 95% half-width),
/// `final_w.csv` (run, seed, row, w_0 … w_{d−1}), `projections.csv` (per run and seed),
/// `criteria.csv`, `prediction.csv` and `check.json`.
pub fn write_csvs(dir: &Path, data: &FigureData, report: &SslReproduction) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut s = String::from("run,quantity,t,mean,half_width_95\n");
    for c in &data.curves {
        for i in 0..c.t.len() {
            writeln!(
                s,
                "{},{},{},{},{}",
                c.run, c.quantity, c.t[i], c.mean[i], c.half_width[i]
            )?;
        }
    }
    write(dir, "learning_curves.csv", &s, &mut files)?;

    let d = data.d;
    let mut s = String::from("run,seed,row");
    for j in 0..d {
        write!(s, ",w_{j}")?;
    }
    s.push('\n');
    for f in &data.finals {
        for k in 0..2 {
            write!(s, "{},{},{}", f.run, f.seed, k + 1)?;
            for v in &f.w[k * d..(k + 1) * d] {
                write!(s, ",{v}")?;
            }
            s.push('\n');
        }
    }
    write(dir, "final_w.csv", &s, &mut files)?;

    let mut s = String::from("run,seed,proj_e1,proj_e2,cos_e1,cos_e2,energy_e2,collapsed\n");
    for f in &data.finals {
        writeln!(
            s,
            "{},{},{},{},{},{},{},{}",
            f.run,
            f.seed,
            f.proj_e1,
            f.proj_e2,
            f.cos_e1,
            f.cos_e2,
            f.energy_e2,
            u8::from(f.collapsed)
        )?;
    }
    write(dir, "projections.csv", &s, &mut files)?;

    let mut s = String::from("name,predicted,measured,se,pass,statement\n");
    for c in &report.criteria {
        let opt = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
        writeln!(
            s,
            "\"{}\",{},{},{},{},\"{}\"",
            c.name.replace('"', "'"),
            opt(c.predicted),
            c.measured,
            opt(c.se),
            c.pass,
            c.statement.replace('"', "'")
        )?;
    }
    write(dir, "criteria.csv", &s, &mut files)?;

    let mut s = String::from("quantity,value\n");
    for (k, v) in &report.prediction.quantities {
        writeln!(s, "{k},{v}")?;
    }
    write(dir, "prediction.csv", &s, &mut files)?;
    write(
        dir,
        "check.json",
        &serde_json::to_string_pretty(report)?,
        &mut files,
    )?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_reproduction_writes_the_csvs() {
        let dir = std::env::temp_dir().join(format!("pretrainlab-ssl-{}", std::process::id()));
        let (report, data, files) = reproduce(&dir, 3, 2, Some(1), true).unwrap();
        assert_eq!(report.seeds, 2);
        assert_eq!(data.finals.len(), 6);
        for name in [
            "learning_curves.csv",
            "final_w.csv",
            "projections.csv",
            "criteria.csv",
            "check.json",
        ] {
            let p = dir.join(name);
            assert!(files.contains(&p), "{name}");
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(text.lines().count() > 1, "{name} is empty");
        }
        // 3 runs × 2 seeds × 2 rows, plus the header.
        let w = std::fs::read_to_string(dir.join("final_w.csv")).unwrap();
        assert_eq!(w.lines().count(), 13);
        assert_eq!(w.lines().next().unwrap().split(',').count(), 3 + 10);
        std::fs::remove_dir_all(&dir).ok();
    }
}
