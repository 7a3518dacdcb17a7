//! The nonlinear SSL vs SL reproduction (`pretrainlab reproduce yang-ssl`; Yang, Li, Jiang,
//! Li, AAAI-23): runs the 20 seeds, checks spec §6 and writes the CSVs and figures:
//! - `learning_curves` (Fig. 4 and its SL counterpart): mean ± 95% of w_k^(1), w_k^(2);
//! - `final_w_scatter` (Fig. 3): the final (w_k^(1), w_k^(2)) per seed, with the theory's
//!   optimum (±a*, b*);
//! - `final_w_heatmap`: the final W of seed 0 (SSL rows over SL rows), and
//!   `final_w_mean_abs_heatmap`: mean |W| over seeds;
//! - `projection_e1`, `projection_e2` (Fig. 5 and counterparts): histograms over seeds of
//!   ‖P_W e_j‖, SSL (condition 0) beside SL and SSL condition 1 (sign-only init);
//! - `projections_over_time`: mean ‖P_W e_j‖ against the step;
//! - `theory_landscape`: the noise-free per-neuron objective J̃(a, b) (probably Fig. 2).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use pretrainlab::dynamics::Dynamics;
use pretrainlab::dynamics::ssl::{FigureData, YangSsl, YangSslParams, reduced_objective};
use pretrainlab_report::{
    Figure, Heatmap, Series, Style, write_figure, write_heatmap, write_panels,
};

use crate::presets::PresetContext;

/// Seeds of the paper (`i = 0..19` in the authors' scripts).
pub const PAPER_SEEDS: u64 = 20;

/// The `yang-ssl` preset: the paper's configuration over 20 seeds (`--quick`: without the
/// 20 000-step long run), the check, CSVs and figures, and a summary on stdout.
pub fn preset(ctx: &PresetContext) -> Result<()> {
    let start = Instant::now();
    let (report, data, mut files) = reproduce(&ctx.output, 1, PAPER_SEEDS, None, ctx.quick)?;
    files.extend(write_plots(&ctx.output, &data)?);
    let total = start.elapsed().as_secs_f64();
    print!("{}", summary(&report, total));
    if !ctx.quiet {
        eprintln!("wrote {} files to {}", files.len(), ctx.output.display());
    }
    if report.verdict != "pass" {
        anyhow::bail!(
            "yang-ssl: some criteria failed (see {})",
            ctx.output.join("criteria.csv").display()
        );
    }
    Ok(())
}

/// A text table of the criteria with the timing.
pub fn summary(report: &SslReproduction, total_s: f64) -> String {
    let mut s = format!(
        "yang-ssl: {} seeds, simulation {:.2} s, preset {:.2} s, verdict {}\n",
        report.seeds, report.simulate_wall_s, total_s, report.verdict
    );
    for c in &report.criteria {
        let num = |v: Option<f64>| v.map_or("—".to_string(), |x| format!("{x:.4}"));
        let _ = writeln!(
            s,
            "  {:<4} {:<62} predicted {:>9}  measured {:>9}  se {:>7}",
            if c.pass { "ok" } else { "FAIL" },
            c.name,
            num(c.predicted),
            format!("{:.4}", c.measured),
            num(c.se)
        );
    }
    s
}

fn series(label: &str, x: Vec<f64>, y: Vec<f64>, err: Option<Vec<f64>>, style: Style) -> Series {
    Series {
        label: label.to_string(),
        x,
        y,
        err,
        style,
    }
}

/// Learning-curve figure of one run, cut at `t_max`: the seed means on about 40 points,
/// each with its 95% half-width as an error bar.
fn learning_figure(data: &FigureData, run: &str, title: &str, t_max: f64, theory: bool) -> Figure {
    let mut out = Vec::new();
    for (q, label) in [
        ("w1_1", "w_1^(1)"),
        ("w1_2", "w_1^(2)"),
        ("w2_1", "w_2^(1)"),
        ("w2_2", "w_2^(2)"),
    ] {
        let Some(c) = data.curve(run, q) else {
            continue;
        };
        let n = c.t.iter().take_while(|&&t| t <= t_max).count();
        let stride = (n / 40).max(1);
        let mut idx: Vec<usize> = (0..n).step_by(stride).collect();
        if n > 0 && idx.last() != Some(&(n - 1)) {
            idx.push(n - 1);
        }
        let pick = |v: &Vec<f64>| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        out.push(series(
            label,
            pick(&c.t),
            pick(&c.mean),
            Some(pick(&c.half_width)),
            Style::Line,
        ));
    }
    if theory {
        let [[a, b], _] = data.optimum;
        for (label, y) in [("theory ±a*", a), ("", -a), ("theory b*", b)] {
            out.push(series(
                label,
                vec![0.0, t_max],
                vec![y, y],
                None,
                Style::Line,
            ));
        }
    }
    Figure {
        title: title.to_string(),
        x_label: "step t".to_string(),
        y_label: "value (mean ± 95%, 20 seeds)".to_string(),
        log_x: false,
        log_y: false,
        series: out,
    }
}

/// Histogram counts of `values` on `bins` equal bins of [0, 1] (bin centres, counts).
fn histogram(values: &[f64], bins: usize) -> (Vec<f64>, Vec<f64>) {
    let mut counts = vec![0.0; bins];
    for &v in values {
        if v.is_finite() {
            let i = ((v * bins as f64) as usize).min(bins - 1);
            counts[i] += 1.0;
        }
    }
    let centres = (0..bins).map(|i| (i as f64 + 0.5) / bins as f64).collect();
    (centres, counts)
}

fn projection_panels(data: &FigureData, j: usize) -> Vec<Figure> {
    [
        ("ssl", "SSL, box init (condition 0)"),
        ("sl", "SL"),
        ("sign", "SSL, sign-only init (condition 1)"),
    ]
    .into_iter()
    .map(|(run, title)| {
        let v: Vec<f64> = data
            .finals_of(run)
            .map(|f| if j == 1 { f.proj_e1 } else { f.proj_e2 })
            .collect();
        let (x, y) = histogram(&v, 25);
        Figure {
            title: format!("{title}: ‖P_W e{j}‖ over {} seeds", v.len()),
            x_label: format!("projection of e{j}"),
            y_label: "seeds".to_string(),
            log_x: false,
            log_y: false,
            series: vec![series("", x, y, None, Style::Bars)],
        }
    })
    .collect()
}

/// Draws the figures (SVG + PNG) from the figure data; returns the files written.
pub fn write_plots(dir: &Path, data: &FigureData) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stem = |name: &str| {
        let p = dir.join(name);
        files.push(p.with_extension("svg"));
        files.push(p.with_extension("png"));
        p
    };
    let t_ssl = data
        .curve("sign", "w1_1")
        .and_then(|c| c.t.last().copied())
        .unwrap_or(4000.0);
    let t_sl = data
        .curve("sl", "w1_1")
        .and_then(|c| c.t.last().copied())
        .unwrap_or(8000.0);
    write_panels(
        &[
            learning_figure(data, "ssl", "SSL learning curve (condition 0)", t_ssl, true),
            learning_figure(data, "sl", "SL learning curve", t_sl, false),
        ],
        &stem("learning_curves"),
    )?;
    write_figure(
        &learning_figure(
            data,
            "sign",
            "SSL learning curve, sign-only init (condition 1)",
            t_ssl,
            true,
        ),
        &stem("learning_curve_sign_init"),
    )?;

    // Fig. 3: final weights in the (w^(1), w^(2)) plane.
    let scatter = |run: &str, title: &str, theory: bool| {
        let f: Vec<_> = data.finals_of(run).collect();
        let d = data.d;
        let mut out = vec![
            series(
                "w_1",
                f.iter().map(|s| s.w[0]).collect(),
                f.iter().map(|s| s.w[1]).collect(),
                None,
                Style::Points,
            ),
            series(
                "w_2",
                f.iter().map(|s| s.w[d]).collect(),
                f.iter().map(|s| s.w[d + 1]).collect(),
                None,
                Style::Points,
            ),
        ];
        if theory {
            out.push(series(
                "theory (±a*, b*)",
                data.optimum.iter().map(|p| p[0]).collect(),
                data.optimum.iter().map(|p| p[1]).collect(),
                None,
                Style::Points,
            ));
        }
        Figure {
            title: title.to_string(),
            x_label: "w_1^(1), w_2^(1)".to_string(),
            y_label: "w_1^(2), w_2^(2)".to_string(),
            log_x: false,
            log_y: false,
            series: out,
        }
    };
    write_panels(
        &[
            scatter("ssl", "SSL final W (condition 0)", true),
            scatter("sl", "SL final W̃", false),
            scatter("sign", "SSL final W, sign-only init", true),
        ],
        &stem("final_w_scatter"),
    )?;

    // The final W as heat maps: seed 0, then mean |W| over seeds.
    let seed0 = |run: &str| data.finals_of(run).next().map(|f| f.w.clone());
    if let (Some(ws), Some(wl)) = (seed0("ssl"), seed0("sl")) {
        let d = data.d;
        write_heatmap(
            &Heatmap {
                title: "final W, seed 0: rows SL w̃_1, SL w̃_2 (bottom), SSL w_1, SSL w_2 (top)"
                    .to_string(),
                x_label: "coordinate j (0 = e1, 1 = e2)".to_string(),
                y_label: "row".to_string(),
                values: vec![
                    wl[..d].to_vec(),
                    wl[d..].to_vec(),
                    ws[..d].to_vec(),
                    ws[d..].to_vec(),
                ],
            },
            &stem("final_w_heatmap"),
        )?;
        let mean_abs = |run: &str| {
            let f: Vec<_> = data.finals_of(run).collect();
            let k = f.len().max(1) as f64;
            (0..2 * d)
                .map(|i| f.iter().map(|s| s.w[i].abs()).sum::<f64>() / k)
                .collect::<Vec<f64>>()
        };
        let (ms, ml) = (mean_abs("ssl"), mean_abs("sl"));
        write_heatmap(
            &Heatmap {
                title: "mean |W| over seeds: rows SL w̃_1, SL w̃_2 (bottom), SSL w_1, SSL w_2 (top)"
                    .to_string(),
                x_label: "coordinate j (0 = e1, 1 = e2)".to_string(),
                y_label: "row".to_string(),
                values: vec![
                    ml[..d].to_vec(),
                    ml[d..].to_vec(),
                    ms[..d].to_vec(),
                    ms[d..].to_vec(),
                ],
            },
            &stem("final_w_mean_abs_heatmap"),
        )?;
    }

    // Fig. 5 and counterparts: projection histograms, SSL beside SL.
    write_panels(&projection_panels(data, 2), &stem("projection_e2"))?;
    write_panels(&projection_panels(data, 1), &stem("projection_e1"))?;

    // The theory (the paper's Fig. 2 is probably this): the noise-free per-neuron objective
    // J̃(a, b) on a grid, with its two maxima (±a*, b*) and the saddle (0, b_s).
    let (na, nb) = (61, 41);
    let a_at = |i: usize| -6.0 + 12.0 * i as f64 / (na - 1) as f64;
    let b_at = |j: usize| -1.0 + 4.0 * j as f64 / (nb - 1) as f64;
    let values: Vec<Vec<f64>> = (0..nb)
        .map(|j| {
            (0..na)
                .map(|i| reduced_objective(&[0.25; 4], data.tau, data.alpha, [a_at(i), b_at(j)]).0)
                .collect()
        })
        .collect();
    let mut csv = String::from("a,b,j_tilde\n");
    for (j, row) in values.iter().enumerate() {
        for (i, v) in row.iter().enumerate() {
            let _ = writeln!(csv, "{},{},{v}", a_at(i), b_at(j));
        }
    }
    let path = dir.join("theory_landscape.csv");
    std::fs::write(&path, csv).with_context(|| format!("writing {}", path.display()))?;
    write_heatmap(
        &Heatmap {
            title: format!(
                "noise-free J̃(a, b): maxima (±{:.3}, {:.3}), saddle (0, {:.3})",
                data.optimum[0][0], data.optimum[0][1], data.saddle_b
            ),
            x_label: "a = w·e1 (grid column, −6 … 6)".to_string(),
            y_label: "b = w·e2 (grid row, −1 … 3)".to_string(),
            values,
        },
        &stem("theory_landscape"),
    )?;
    let landscape_csv = path;

    // Projections against time (an addition to the paper's end-of-training histograms).
    let mut out = Vec::new();
    for (run, name) in [("ssl", "SSL"), ("sl", "SL"), ("sign", "SSL sign-only")] {
        for (q, j) in [("proj_e1", "e1"), ("proj_e2", "e2")] {
            if let Some(c) = data.curve(run, q) {
                out.push(series(
                    &format!("{name} ‖P e_{}‖", &j[1..]),
                    c.t.clone(),
                    c.mean.clone(),
                    None,
                    Style::Line,
                ));
            }
        }
    }
    write_figure(
        &Figure {
            title: "mean projection of e1, e2 on the row space over training".to_string(),
            x_label: "step t".to_string(),
            y_label: "‖P_W e_j‖ (mean over seeds)".to_string(),
            log_x: false,
            log_y: false,
            series: out,
        },
        &stem("projections_over_time"),
    )?;
    files.push(landscape_csv);
    Ok(files)
}

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

/// Runs `seeds` seeds of the paper's configuration (`quick`: without the long run), checks
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
    fn the_preset_is_registered() {
        let p = crate::presets::find("yang-ssl").expect("registered");
        assert!(matches!(p.kind, crate::presets::PresetKind::Custom(_)));
    }

    #[test]
    fn histogram_counts_every_value_once() {
        let (x, y) = histogram(&[0.0, 0.01, 0.5, 0.99, 1.0, f64::NAN], 10);
        assert_eq!(x.len(), 10);
        assert_eq!(y.iter().sum::<f64>(), 5.0);
        assert_eq!((y[0], y[5], y[9]), (2.0, 1.0, 2.0));
    }

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
        let plots = write_plots(&dir, &data).unwrap();
        for p in &plots {
            assert!(std::fs::metadata(p).unwrap().len() > 100, "{}", p.display());
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
