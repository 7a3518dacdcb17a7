//! # pretrainlab-papers
//!
//! Paper reproductions. A preset is one or more experiments (TOML text, run by
//! `pretrainlab_experiment::run` through the one runner and store, so it resumes after an
//! interruption, shows progress, obeys `fresh` and `quick`, and writes a manifest) and,
//! for a paper figure, a post-processing step that draws the paper's panels from the
//! finished points, beside the paper's digitised values.
//!
//! Modules:
//! - [`demos`]: presets that are experiment files only (factor, spectral, diagonal sweeps).
//! - [`dynamics_papers`]: matrix factorization gradient flow (arXiv 2411.15972) and
//!   diagonal networks PT → FT (arXiv 2602.20062), the papers' panels over seeds.
//! - [`tinati_tu`]: Tinati & Tu (arXiv 2603.27631), Figs. 2–4 of the Gaussian mixture.
//! - [`nc_depth`]: neural collapse with depth (arXiv 2505.15239): NC1–NC3 of a deep
//!   LayerNorm ResNet against depth for CE and MSE, the fitted log-log trend.
//! - [`rf_reconstruction`]: the law of data reconstruction for random features (arXiv
//!   2509.22214): success, distance and local dimension along p/(dn).
//! - [`spurious`]: spurious correlations in ridge regression (arXiv 2502.01347): C(λ), L(λ)
//!   and their arg-optima, random features, C against the coupling and the simplicity of y.
//! - [`attention`]: attention with trained embeddings selects tokens (arXiv 2505.17282).
//! - [`ttt`]: test-time training of a linear in-context learner (arXiv 2503.11842): the
//!   excess risk along k, exact theory, proportional heuristic and simulation.
//! - [`multi_index`]: spectral estimators of multi-index models (arXiv 2502.01583):
//!   eigenvalues and overlaps against δ, staggered and double outliers, theory against simulation.
//! - [`glm_oi`]: spectral estimator and GVAMP for GLMs with orthogonally invariant designs
//!   (arXiv 2602.09240): overlap against δ, state evolution and Lu–Li against simulation.
//! - [`dp_sgd`]: one-pass DP-SGD with aggressive clipping (arXiv 2505.16329): the risk ODE
//!   against simulation, D(1) against c at fixed ρ-zCDP, learning-rate decay.
//! - [`yang_ssl`]: nonlinear SSL vs SL (arXiv 2401.03214): 20 seeds checked, the paper's figures.
//!
//! Add a preset by adding its experiment files under `presets/`, its post-processing (if
//! any) in a module of its own, and one entry in [`all`].

pub mod attention;
pub mod audit;
pub mod demos;
pub mod dp_sgd;
pub mod dynamics_papers;
pub mod glm_oi;
pub mod multi_index;
pub mod nc_depth;
pub mod rf_reconstruction;
pub mod single_index;
pub mod spurious;
pub mod tinati_tu;
pub mod ttt;
pub mod yang_ssl;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use pretrainlab_experiment::{Finished, Outcome, PointResult, Progress, RunOptions, StoreError};

/// Why a preset could not run.
#[derive(Debug, thiserror::Error)]
pub enum PaperError {
    /// One of the preset's experiment files does not parse (a bug of the preset).
    #[error("preset `{preset}`, experiment `{part}`: {source}")]
    Spec {
        preset: &'static str,
        part: &'static str,
        source: pretrainlab_experiment::SpecError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The post-processing found results it cannot draw.
    #[error("post-processing: {0}")]
    Post(String),
}

/// One experiment of a preset.
#[derive(Clone, Copy, Debug)]
pub struct Part {
    /// Its results folder inside the preset's folder (empty: the preset's folder itself).
    pub folder: &'static str,
    /// The experiment file.
    pub text: &'static str,
}

/// What a post-processing step sees: the finished parts and where to write.
pub struct Context<'a> {
    /// The preset's results folder; post-processing writes under `paper/` in it.
    pub dir: &'a Path,
    pub quick: bool,
    /// Each part's folder name and finished points, in the preset's order.
    pub parts: Vec<(&'static str, &'a [PointResult])>,
}

impl Context<'_> {
    /// The points of part `folder`.
    pub fn part(&self, folder: &str) -> Result<&[PointResult], PaperError> {
        self.parts
            .iter()
            .find(|(f, _)| *f == folder)
            .map(|(_, r)| *r)
            .ok_or_else(|| PaperError::Post(format!("no part `{folder}`")))
    }
}

/// Where a post-processing step writes (`<preset folder>/paper/`) and what it wrote,
/// relative to the preset's folder.
pub struct Out<'a> {
    dir: &'a Path,
    files: Vec<String>,
}

impl<'a> Out<'a> {
    pub fn new(dir: &'a Path) -> Self {
        Out {
            dir,
            files: Vec::new(),
        }
    }

    /// Writes `paper/<name>` atomically.
    pub fn text(&mut self, name: &str, text: &str) -> Result<(), PaperError> {
        let rel = format!("paper/{name}");
        pretrainlab_experiment::store::atomic_write(&self.dir.join(&rel), text.as_bytes())?;
        self.files.push(rel);
        Ok(())
    }

    /// Writes `paper/<name>` as pretty JSON.
    pub fn json(&mut self, name: &str, value: &serde_json::Value) -> Result<(), PaperError> {
        let text =
            serde_json::to_string_pretty(value).map_err(|e| PaperError::Post(e.to_string()))?;
        self.text(name, &text)
    }

    /// Draws `paper/<stem>.svg` and `.png` with `draw`.
    pub fn image(
        &mut self,
        stem: &str,
        draw: impl FnOnce(&Path) -> Result<(), pretrainlab_report::PlotError>,
    ) -> Result<(), PaperError> {
        let rel = format!("paper/{stem}");
        let path = self.dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|error| StoreError::Io {
                path: parent.to_path_buf(),
                error,
            })?;
        }
        draw(&path).map_err(StoreError::from)?;
        self.files.push(format!("{rel}.svg"));
        self.files.push(format!("{rel}.png"));
        Ok(())
    }

    /// Draws one figure as `paper/<stem>.svg` and `.png`.
    pub fn figure(
        &mut self,
        fig: &pretrainlab_report::Figure,
        stem: &str,
    ) -> Result<(), PaperError> {
        self.image(stem, |p| pretrainlab_report::write_figure(fig, p))
    }

    /// Draws figures side by side as `paper/<stem>.svg` and `.png`.
    pub fn panels(
        &mut self,
        figs: &[pretrainlab_report::Figure],
        stem: &str,
    ) -> Result<(), PaperError> {
        self.image(stem, |p| pretrainlab_report::write_panels(figs, p))
    }

    /// Draws a heatmap as `paper/<stem>.svg` and `.png`.
    pub fn heatmap(
        &mut self,
        map: &pretrainlab_report::Heatmap,
        stem: &str,
    ) -> Result<(), PaperError> {
        self.image(stem, |p| pretrainlab_report::write_heatmap(map, p))
    }

    /// The files written, relative to the preset's folder.
    pub fn files(self) -> Vec<String> {
        self.files
    }
}

/// Draws a paper's panels; returns the files written, relative to the preset's folder.
pub type PostFn = fn(&Context<'_>) -> Result<Vec<String>, PaperError>;

/// A named preset with its one-line summary.
#[derive(Clone, Copy)]
pub struct Preset {
    pub name: &'static str,
    /// One line, citing the paper by title and arXiv id where there is one.
    pub summary: &'static str,
    pub parts: &'static [Part],
    pub post: Option<PostFn>,
}

/// Every preset, in the order `reproduce --list` shows them.
pub fn all() -> Vec<Preset> {
    let mut all = demos::presets();
    all.extend(tinati_tu::presets());
    all.push(yang_ssl::preset());
    all.push(spurious::preset());
    all.push(rf_reconstruction::preset());
    all.push(ttt::preset());
    all.push(glm_oi::preset());
    all.push(attention::preset());
    all.push(single_index::preset());
    all.push(multi_index::preset());
    all.push(dp_sgd::preset());
    all.push(nc_depth::preset());
    all.extend(dynamics_papers::presets());
    all
}

/// The preset called `name`.
pub fn find(name: &str) -> Option<Preset> {
    all().into_iter().find(|p| p.name == name)
}

/// How to run a preset.
pub struct Options<'a> {
    /// The preset's results folder.
    pub output: PathBuf,
    pub fresh: bool,
    pub quick: bool,
    /// Checked between units: when set, the run stops after the unit in flight.
    pub stop: &'a AtomicBool,
    pub progress: &'a dyn Progress,
    /// The most memory and work one point's run may take.
    pub limits: pretrainlab::budget::Limits,
    /// Compute only this shard's pending units of every part, without assembling.
    pub shard: Option<pretrainlab_experiment::store::Shard>,
}

/// How a preset run ended.
#[derive(Debug)]
pub enum PresetOutcome {
    /// Every part finished and the post-processing wrote its files.
    Finished {
        parts: Vec<Finished>,
        /// Files written by the post-processing, relative to the preset's folder.
        files: Vec<String>,
    },
    /// Stopped on request during part `part`; finished units are kept.
    Interrupted {
        part: &'static str,
        units_done: usize,
        units_total: usize,
    },
    /// A shard computed its share of every part; a plain run assembles.
    Shard {
        units_run: usize,
        units_missing: usize,
        units_total: usize,
    },
}

/// Parses every part of a preset (with its `[quick]` overrides under `quick`).
pub fn parse(
    preset: &Preset,
    quick: bool,
) -> Result<Vec<pretrainlab_experiment::Experiment>, PaperError> {
    preset
        .parts
        .iter()
        .map(|p| {
            pretrainlab_experiment::parse(p.text, quick).map_err(|source| PaperError::Spec {
                preset: preset.name,
                part: p.folder,
                source,
            })
        })
        .collect()
}

/// Units a shard ran and units still missing, summed over the experiments it visited.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ShardTally {
    pub units_run: usize,
    pub units_missing: usize,
    pub units_total: usize,
}

/// How one experiment of a preset or of the audit ended.
pub(crate) enum PartOutcome {
    Finished(Finished),
    /// A shard did its share (counted in the tally).
    Sharded,
    Interrupted {
        units_done: usize,
        units_total: usize,
    },
}

/// Runs (or resumes) experiment `e`, whose text is `source`, into `output` with the
/// settings of `opts` and, for a shard, `shard` (`opts.shard` moved past the units of the
/// experiments before); a shard adds its counts to `tally`.
pub(crate) fn run_part(
    e: &pretrainlab_experiment::Experiment,
    source: &str,
    output: PathBuf,
    opts: &Options<'_>,
    shard: Option<pretrainlab_experiment::store::Shard>,
    tally: &mut ShardTally,
) -> Result<PartOutcome, PaperError> {
    let outcome = pretrainlab_experiment::run(
        e,
        &RunOptions {
            output,
            fresh: opts.fresh,
            stop: opts.stop,
            progress: opts.progress,
            source: source.to_string(),
            limits: opts.limits,
            shard,
        },
    )?;
    Ok(match outcome {
        Outcome::Finished(f) => PartOutcome::Finished(f),
        Outcome::Shard {
            units_run,
            units_missing,
            units_total,
        } => {
            tally.units_run += units_run;
            tally.units_missing += units_missing;
            tally.units_total += units_total;
            PartOutcome::Sharded
        }
        Outcome::Interrupted {
            units_done,
            units_total,
        } => PartOutcome::Interrupted {
            units_done,
            units_total,
        },
    })
}

/// Runs (or resumes) every part of `preset`, then its post-processing.
pub fn run(preset: &Preset, opts: &Options<'_>) -> Result<PresetOutcome, PaperError> {
    let experiments = parse(preset, opts.quick)?;
    let mut finished = Vec::with_capacity(experiments.len());
    let mut tally = ShardTally::default();
    let mut shard = opts.shard;
    for (part, e) in preset.parts.iter().zip(&experiments) {
        let output = if part.folder.is_empty() {
            opts.output.clone()
        } else {
            opts.output.join(part.folder)
        };
        let outcome = run_part(e, part.text, output, opts, shard, &mut tally)?;
        shard = shard.map(|s| s.after(pretrainlab_experiment::store::unit_count(e)));
        match outcome {
            PartOutcome::Finished(f) => finished.push(f),
            PartOutcome::Sharded => {}
            PartOutcome::Interrupted {
                units_done,
                units_total,
            } => {
                return Ok(PresetOutcome::Interrupted {
                    part: part.folder,
                    units_done,
                    units_total,
                });
            }
        }
    }
    if opts.shard.is_some() {
        return Ok(PresetOutcome::Shard {
            units_run: tally.units_run,
            units_missing: tally.units_missing,
            units_total: tally.units_total,
        });
    }
    let files = match preset.post {
        Some(post) => post(&Context {
            dir: &opts.output,
            quick: opts.quick,
            parts: preset
                .parts
                .iter()
                .zip(&finished)
                .map(|(p, f)| (p.folder, f.results.as_slice()))
                .collect(),
        })?,
        None => Vec::new(),
    };
    Ok(PresetOutcome::Finished {
        parts: finished,
        files,
    })
}

/// The swept value of `axis` and the mean ± 1.96 s.e. of `metric` at each point that
/// has both.
pub(crate) fn simulated_along(
    points: &[PointResult],
    axis: &str,
    metric: &str,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut out = (Vec::new(), Vec::new(), Vec::new());
    for p in points {
        let x = p
            .labels
            .iter()
            .find(|(name, _)| name == axis)
            .and_then(|(_, v)| v.as_f64());
        let values = p.trials.column(metric).unwrap_or_default();
        if let (Some(x), Some(s)) = (x, pretrainlab::stats::Summary::of(&values)) {
            out.0.push(x);
            out.1.push(s.mean);
            out.2.push(1.96 * s.se);
        }
    }
    out
}

/// A plain line series of a theory curve.
pub(crate) fn theory_line(label: &str, x: &[f64], y: Vec<f64>) -> pretrainlab_report::Series {
    pretrainlab_report::Series {
        label: label.into(),
        x: x.to_vec(),
        y,
        err: None,
        style: pretrainlab_report::Style::Line,
    }
}

/// Runs `preset` under `--quick` into a fresh temporary folder named after `tag`; returns
/// the folder, the finished parts and the post-processing's files (tests of the presets).
#[cfg(test)]
pub(crate) fn run_quick(preset: &Preset, tag: &str) -> (PathBuf, Vec<Finished>, Vec<String>) {
    let dir = std::env::temp_dir().join(format!("pretrainlab-{tag}-{}", std::process::id()));
    let stop = AtomicBool::new(false);
    let outcome = run(
        preset,
        &Options {
            output: dir.clone(),
            fresh: true,
            quick: true,
            stop: &stop,
            progress: &pretrainlab_experiment::Silent,
            limits: pretrainlab::budget::Limits::default(),
            shard: None,
        },
    )
    .unwrap();
    let PresetOutcome::Finished { parts, files } = outcome else {
        panic!("the preset `{}` did not finish", preset.name);
    };
    (dir, parts, files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every preset's experiment files parse, in full and in quick form.
    #[test]
    fn every_preset_parses() {
        let presets = all();
        for (i, p) in presets.iter().enumerate() {
            assert!(
                !presets[..i].iter().any(|q| q.name == p.name),
                "duplicate {}",
                p.name
            );
            assert!(!p.parts.is_empty(), "{}", p.name);
            for quick in [false, true] {
                parse(p, quick).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}
