//! Experiment files: parsing, validation and the resolved grid of points.
//!
//! An experiment file is TOML:
//!
//! ```toml
//! name = "factor-alpha"
//! model = "factor"
//! actions = ["check"]          # any of predict, simulate, check
//! n = 2000                     # a model parameter given at the top (m, n, sampler); or alpha: m = round(α n)
//! trials = 400
//! seed = 1
//! chunk = 100                  # trials per unit of work (resume granularity)
//!
//! [params]                     # fixed model parameters
//! d = 5
//! k = 2
//!
//! [sweep]
//! combine = "product"          # or "zip"
//! [sweep.axes]                 # axes in file order; the first numeric one is the x of the plots
//! alpha = { geomspace = [0.25, 16, 7] }
//! noise_var = { list = [0.5, 1.0] }
//!
//! [quick]                      # overrides under --quick
//! trials = 100
//! [quick.params]               # model parameters that change under --quick
//! noise_var = 0.5
//! [quick.axes]                 # sweep axes whose values change under --quick
//! alpha = { list = [1, 4] }
//! ```
//!
//! Every model takes the same file. The keys `m`, `n` and `sampler` are shorthands for
//! the model parameters of those names and are errors for a model without them (the
//! training-dynamics models); `alpha` (a key or an axis) sets `m = round(α n)` for a model
//! with both `m` and `n`. Every other axis is a model parameter. `trials` counts Monte
//! Carlo trials or seeds, and the optional `metric` and `predicted` choose what the sweep
//! figure draws.
//!
//! Every error names the line and the key.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// A problem with an experiment file, located at a line and key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}`{key}`: {message}", line.map(|l| format!("line {l}, ")).unwrap_or_default())]
pub struct SpecError {
    /// 1-based line of the offending key, when known.
    pub line: Option<usize>,
    /// The key (a dotted path for nested keys).
    pub key: String,
    pub message: String,
}

/// What to compute at each grid point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Actions {
    /// The limit law from the theory.
    pub predict: bool,
    /// Monte Carlo trials of the two-stage pipeline.
    pub simulate: bool,
    /// Both, compared, with a verdict.
    pub check: bool,
}

impl Actions {
    /// Whether trials are run.
    pub fn runs_trials(&self) -> bool {
        self.simulate || self.check
    }
    /// Whether the theory is evaluated.
    pub fn needs_theory(&self) -> bool {
        self.predict || self.check
    }
}

/// How sweep axes combine into points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Combine {
    /// Every combination, the last axis varying fastest.
    Product,
    /// The i-th values of all axes together; the axes must have equal lengths.
    Zip,
}

/// One sweep axis, resolved to its values.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Axis {
    /// `m`, `n`, `alpha` or a model parameter.
    pub name: String,
    /// `list`, `linspace`, `geomspace` or `logspace`.
    pub kind: String,
    pub values: Vec<toml::Value>,
}

impl Axis {
    /// Whether the points are evenly spaced on a log scale (plots use a log axis).
    pub fn geometric(&self) -> bool {
        matches!(self.kind.as_str(), "geomspace" | "logspace")
    }
}

/// One grid point: its coordinates and the full model parameters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    pub index: usize,
    /// The axis values of this point, in axis order.
    pub coords: Vec<(String, toml::Value)>,
    /// The fixed parameters with this point's axes applied (an `alpha` axis as `m`).
    pub params: toml::Table,
}

impl Point {
    /// A short description such as `alpha=0.5, noise_var=1` (floats to 4 significant digits).
    pub fn label(&self) -> String {
        if self.coords.is_empty() {
            return "fixed parameters".into();
        }
        self.coords
            .iter()
            .map(|(k, v)| match v {
                toml::Value::Float(f) => format!("{k}={}", pretrainlab_report::format_number(*f)),
                _ => format!("{k}={}", value_text(v)),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A TOML value as compact text (`0.5`, `[4, 0.25]`, `wishart`).
pub fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Float(f) => format!("{f}"),
        other => other.to_string(),
    }
}

/// A validated experiment with its grid resolved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Experiment {
    pub name: String,
    pub description: String,
    pub model: String,
    /// The metric the sweep figure shows (default: the metrics with a decisive predicted
    /// mean, else the first metric) and a predicted quantity drawn against it (default:
    /// the metric's predicted mean, or the quantity of the same name).
    pub metric: Option<String>,
    pub predicted: Option<String>,
    pub actions: Actions,
    /// Monte Carlo trials per point (0 when no trials are run).
    pub trials: u64,
    pub seed: u64,
    /// Trials per unit of work.
    pub chunk: u64,
    /// The output folder as written in the file (or the default `results/<name>`).
    pub output: PathBuf,
    pub combine: Combine,
    pub axes: Vec<Axis>,
    pub points: Vec<Point>,
}

impl Experiment {
    /// Describes a valid experiment in a few lines (for `validate`).
    pub fn describe(&self) -> String {
        let exp = self;
        let axes: Vec<String> = exp
            .axes
            .iter()
            .map(|a| format!("{} ({} values, {})", a.name, a.values.len(), a.kind))
            .collect();
        let units: usize = if exp.actions.runs_trials() {
            exp.points.len() * exp.trials.div_ceil(exp.chunk) as usize
        } else {
            0
        };
        let mut actions = Vec::new();
        if exp.actions.predict {
            actions.push("predict");
        }
        if exp.actions.simulate {
            actions.push("simulate");
        }
        if exp.actions.check {
            actions.push("check");
        }
        format!(
            "valid: `{}` on model {}, actions {}\n  {} point(s){}\n  {} trial(s) per point, seed {}, {} unit(s) of up to {} trial(s)\n  output {}\n",
            exp.name,
            exp.model,
            actions.join(", "),
            exp.points.len(),
            if axes.is_empty() {
                String::new()
            } else {
                format!(
                    " from {} of {}",
                    match exp.combine {
                        Combine::Product => "the product",
                        Combine::Zip => "the zip",
                    },
                    axes.join(", ")
                )
            },
            exp.trials,
            exp.seed,
            units,
            exp.chunk,
            exp.output.display()
        )
    }
}

/// Default trials per unit.
const DEFAULT_CHUNK: i64 = 100;
/// Most points a file may resolve to.
const MAX_POINTS: usize = 100_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: Option<Spanned<String>>,
    description: Option<String>,
    model: Spanned<String>,
    #[serde(default)]
    params: BTreeMap<Spanned<String>, toml::Value>,
    actions: Option<Spanned<Vec<Spanned<String>>>>,
    m: Option<Spanned<i64>>,
    n: Option<Spanned<i64>>,
    alpha: Option<Spanned<f64>>,
    trials: Option<Spanned<i64>>,
    seed: Option<Spanned<i64>>,
    chunk: Option<Spanned<i64>>,
    sampler: Option<Spanned<toml::Value>>,
    output: Option<String>,
    sweep: Option<Spanned<RawSweep>>,
    quick: Option<RawQuick>,
    metric: Option<Spanned<String>>,
    predicted: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSweep {
    combine: Option<Spanned<String>>,
    #[serde(default)]
    axes: BTreeMap<Spanned<String>, Spanned<RawAxis>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAxis {
    list: Option<Vec<toml::Value>>,
    linspace: Option<Vec<f64>>,
    geomspace: Option<Vec<f64>>,
    logspace: Option<Vec<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuick {
    trials: Option<Spanned<i64>>,
    n: Option<Spanned<i64>>,
    chunk: Option<Spanned<i64>>,
    #[serde(default)]
    params: BTreeMap<Spanned<String>, toml::Value>,
    #[serde(default)]
    axes: BTreeMap<Spanned<String>, Spanned<RawAxis>>,
}

/// Maps byte offsets to 1-based line numbers.
struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn at(&self, offset: usize) -> usize {
        self.0[..offset.min(self.0.len())].matches('\n').count() + 1
    }
    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> Result<T, SpecError> {
        Err(SpecError {
            line: Some(self.at(span.start)),
            key: key.to_string(),
            message: message.into(),
        })
    }
}

/// Parses and validates an experiment file. `quick` applies the file's `[quick]` overrides.
///
/// Validation builds the model at every grid point, so a parameter the model does not have,
/// or a value outside its range at some point, is reported here, before anything runs.
pub fn parse(text: &str, quick: bool) -> Result<Experiment, SpecError> {
    let lines = Lines(text);
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
        let at_span = e
            .span()
            .and_then(|s| text.get(s))
            .map(|k| k.trim().trim_matches('"').to_string())
            .filter(|k| !k.is_empty() && !k.contains(['\n', '=']));
        let key = message
            .split('`')
            .nth(1)
            .map(str::to_string)
            .or(at_span)
            .unwrap_or_else(|| "file".to_string());
        SpecError {
            line: e.span().map(|s| lines.at(s.start)),
            key,
            message,
        }
    })?;

    let model_name = raw.model.get_ref().clone();
    let Some(entry) = pretrainlab::registry::ENTRIES
        .iter()
        .find(|e| e.name == model_name)
    else {
        return lines.err(
            raw.model.span(),
            "model",
            format!(
                "unknown model `{model_name}`; known models: {}",
                pretrainlab::registry::names().join(", ")
            ),
        );
    };
    let info = (entry.info)();
    let param_names: Vec<&str> = info.params.iter().map(|p| p.name).collect();
    let has_sizes = param_names.contains(&"m") && param_names.contains(&"n");
    let shorthand = [
        ("m", raw.m.as_ref().map(Spanned::span)),
        ("n", raw.n.as_ref().map(Spanned::span)),
        ("sampler", raw.sampler.as_ref().map(Spanned::span)),
        (
            "quick.n",
            raw.quick
                .as_ref()
                .and_then(|q| q.n.as_ref())
                .map(Spanned::span),
        ),
    ];
    for (key, span) in shorthand {
        let param = key.trim_start_matches("quick.");
        if let (Some(span), false) = (span, param_names.contains(&param)) {
            return lines.err(
                span,
                key,
                format!(
                    "model `{model_name}` has no parameter `{param}`; its parameters are {}",
                    param_names.join(", ")
                ),
            );
        }
    }
    if let (Some(a), false) = (&raw.alpha, has_sizes) {
        return lines.err(
            a.span(),
            "alpha",
            format!("`alpha` sets m = round(α n), and model `{model_name}` has no m and n"),
        );
    }

    let name = match &raw.name {
        Some(n) if n.get_ref().trim().is_empty() => {
            return lines.err(n.span(), "name", "must not be empty");
        }
        Some(n) if n.get_ref().chars().all(|c| c == '.') => {
            return lines.err(
                n.span(),
                "name",
                "must be one plain folder name, not `.` or `..` (it names the output folder)",
            );
        }
        Some(n)
            if !n
                .get_ref()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
        {
            return lines.err(
                n.span(),
                "name",
                "use letters, digits, `-`, `_` and `.` only (it names the output folder)",
            );
        }
        Some(n) => n.get_ref().clone(),
        None => model_name.clone(),
    };

    let mut actions = Actions::default();
    match &raw.actions {
        None => actions.check = true,
        Some(list) => {
            if list.get_ref().is_empty() {
                return lines.err(
                    list.span(),
                    "actions",
                    "list at least one of predict, simulate, check",
                );
            }
            for a in list.get_ref() {
                match a.get_ref().as_str() {
                    "predict" => actions.predict = true,
                    "simulate" => actions.simulate = true,
                    "check" => actions.check = true,
                    other => {
                        return lines.err(
                            a.span(),
                            "actions",
                            format!(
                                "unknown action `{other}`; expected predict, simulate or check"
                            ),
                        );
                    }
                }
            }
        }
    }

    let positive = |v: &Option<Spanned<i64>>, key: &str| -> Result<Option<i64>, SpecError> {
        match v {
            Some(s) if *s.get_ref() < 1 => {
                lines.err(s.span(), key, format!("must be ≥ 1, got {}", s.get_ref()))
            }
            Some(s) => Ok(Some(*s.get_ref())),
            None => Ok(None),
        }
    };
    let quick_over =
        |base: &Option<Spanned<i64>>, over: Option<&Option<Spanned<i64>>>| match (quick, over) {
            (true, Some(Some(o))) => Some(o.clone()),
            _ => base.clone(),
        };
    let q = raw.quick.as_ref();
    let trials_raw = quick_over(&raw.trials, q.map(|q| &q.trials));
    let n_raw = quick_over(&raw.n, q.map(|q| &q.n));
    let chunk_raw = quick_over(&raw.chunk, q.map(|q| &q.chunk));
    if let Some(q) = q {
        positive(&q.trials, "quick.trials")?;
        positive(&q.n, "quick.n")?;
        positive(&q.chunk, "quick.chunk")?;
    }
    let trials = positive(&trials_raw, "trials")?;
    let trials = match (actions.runs_trials(), trials) {
        (true, None) => {
            return Err(SpecError {
                line: None,
                key: "trials".into(),
                message: "required when actions include simulate or check".into(),
            });
        }
        (true, Some(t)) => t as u64,
        (false, _) => 0,
    };
    let chunk = positive(&chunk_raw, "chunk")?.unwrap_or(DEFAULT_CHUNK) as u64;
    let seed = match &raw.seed {
        Some(s) if *s.get_ref() < 0 => {
            return lines.err(
                s.span(),
                "seed",
                format!("must be ≥ 0, got {}", s.get_ref()),
            );
        }
        Some(s) => *s.get_ref() as u64,
        None => 1,
    };
    let base_m = positive(&raw.m, "m")?;
    let base_n = positive(&n_raw, "n")?;
    let base_alpha = match &raw.alpha {
        Some(a) if !(a.get_ref().is_finite() && *a.get_ref() > 0.0) => {
            return lines.err(
                a.span(),
                "alpha",
                format!("must be a positive number, got {}", a.get_ref()),
            );
        }
        Some(a) => Some(*a.get_ref()),
        None => None,
    };
    if let (Some(m), Some(_)) = (&raw.m, &raw.alpha) {
        return lines.err(m.span(), "m", "give either m or alpha (with n), not both");
    }

    let quick_params = raw.quick.as_ref().map(|q| &q.params);
    let param_keys = raw.params.keys().map(|k| ("params", k)).chain(
        quick_params
            .into_iter()
            .flatten()
            .map(|(k, _)| ("quick.params", k)),
    );
    for (table, key) in param_keys {
        if !param_names.contains(&key.get_ref().as_str()) {
            return lines.err(
                key.span(),
                &format!("{table}.{}", key.get_ref()),
                format!(
                    "model `{model_name}` has no parameter `{}`; its parameters are {}",
                    key.get_ref(),
                    param_names.join(", ")
                ),
            );
        }
    }

    // Axes, in file order.
    let mut combine = Combine::Product;
    let mut axes: Vec<(Axis, std::ops::Range<usize>)> = Vec::new();
    if let Some(sweep) = &raw.sweep {
        let s = sweep.get_ref();
        if let Some(c) = &s.combine {
            combine = match c.get_ref().as_str() {
                "product" => Combine::Product,
                "zip" => Combine::Zip,
                other => {
                    return lines.err(
                        c.span(),
                        "sweep.combine",
                        format!("unknown combination `{other}`; expected product or zip"),
                    );
                }
            };
        }
        if s.axes.is_empty() {
            return lines.err(
                sweep.span(),
                "sweep.axes",
                "empty sweep: give at least one axis, e.g. alpha = { geomspace = [0.5, 8, 5] }",
            );
        }
        let mut ordered: Vec<_> = s.axes.iter().collect();
        ordered.sort_by_key(|(k, _)| k.span().start);
        for (key, spec) in ordered {
            let name = key.get_ref().clone();
            let full = format!("sweep.axes.{name}");
            let size = has_sizes && name == "alpha";
            if !size && !param_names.contains(&name.as_str()) {
                return lines.err(
                    key.span(),
                    &full,
                    format!(
                        "unknown axis `{name}`: an axis is {}a parameter of model `{model_name}` ({})",
                        if has_sizes { "alpha or " } else { "" },
                        param_names.join(", ")
                    ),
                );
            }
            let axis =
                resolve_axis(&name, spec.get_ref()).or_else(|m| lines.err(key.span(), &full, m))?;
            axes.push((axis, key.span()));
        }
    }
    for (key, spec) in raw.quick.iter().flat_map(|q| &q.axes) {
        let full = format!("quick.axes.{}", key.get_ref());
        let Some((axis, _)) = axes.iter_mut().find(|(a, _)| a.name == *key.get_ref()) else {
            return lines.err(
                key.span(),
                &full,
                "a quick axis replaces the values of an axis of [sweep.axes]; there is none of that name",
            );
        };
        let resolved = resolve_axis(key.get_ref(), spec.get_ref())
            .or_else(|m| lines.err(key.span(), &full, m))?;
        if quick {
            *axis = resolved;
        }
    }
    let axis_named = |n: &str| axes.iter().find(|(a, _)| a.name == n);
    if let (Some((_, span)), Some(_)) = (axis_named("alpha"), axis_named("m")) {
        return lines.err(
            span.clone(),
            "sweep.axes.alpha",
            "sweep either m or alpha, not both",
        );
    }
    if let (Some((_, span)), Some(_)) = (axis_named("alpha"), &raw.m) {
        return lines.err(
            span.clone(),
            "sweep.axes.alpha",
            "an alpha axis sets m = round(α n): remove the fixed `m`",
        );
    }
    if let (Some((_, span)), Some(_)) = (axis_named("m"), &raw.alpha) {
        return lines.err(
            span.clone(),
            "sweep.axes.m",
            "an m axis conflicts with the fixed `alpha`",
        );
    }
    for (key, fixed) in [
        ("m", raw.m.is_some()),
        ("n", n_raw.is_some()),
        ("alpha", raw.alpha.is_some()),
    ] {
        if let (Some((_, span)), true) = (axis_named(key), fixed) {
            return lines.err(
                span.clone(),
                &format!("sweep.axes.{key}"),
                format!("`{key}` is both a fixed key and an axis; keep one"),
            );
        }
    }
    for key in raw.params.keys() {
        if let Some((_, span)) = axis_named(key.get_ref()) {
            return lines.err(
                span.clone(),
                &format!("sweep.axes.{}", key.get_ref()),
                format!(
                    "`{}` is both a fixed parameter and an axis; keep one",
                    key.get_ref()
                ),
            );
        }
    }

    // The grid.
    let coords: Vec<Vec<(String, toml::Value)>> = match combine {
        Combine::Zip => {
            let len = axes.first().map_or(1, |(a, _)| a.values.len());
            if let Some((a, span)) = axes.iter().find(|(a, _)| a.values.len() != len) {
                return lines.err(
                    span.clone(),
                    &format!("sweep.axes.{}", a.name),
                    format!(
                        "zip needs axes of equal length: `{}` has {}, `{}` has {len}",
                        a.name,
                        a.values.len(),
                        axes[0].0.name
                    ),
                );
            }
            (0..len)
                .map(|i| {
                    axes.iter()
                        .map(|(a, _)| (a.name.clone(), a.values[i].clone()))
                        .collect()
                })
                .collect()
        }
        Combine::Product => {
            let total = axes
                .iter()
                .try_fold(1usize, |acc, (a, _)| acc.checked_mul(a.values.len()));
            if total.is_none_or(|t| t > MAX_POINTS) {
                return Err(SpecError {
                    line: None,
                    key: "sweep".into(),
                    message: format!("the product of the axes has more than {MAX_POINTS} points"),
                });
            }
            let mut grid: Vec<Vec<(String, toml::Value)>> = vec![Vec::new()];
            for (a, _) in &axes {
                grid = grid
                    .into_iter()
                    .flat_map(|prefix| {
                        a.values.iter().map(move |v| {
                            let mut p = prefix.clone();
                            p.push((a.name.clone(), v.clone()));
                            p
                        })
                    })
                    .collect();
            }
            grid
        }
    };

    let mut fixed: toml::Table = raw
        .params
        .iter()
        .map(|(k, v)| (k.get_ref().clone(), v.clone()))
        .collect();
    if quick {
        for (k, v) in quick_params.into_iter().flatten() {
            if let Some((_, span)) = axis_named(k.get_ref()) {
                return lines.err(
                    span.clone(),
                    &format!("sweep.axes.{}", k.get_ref()),
                    format!(
                        "`{}` is both a quick parameter and an axis; use [quick.axes]",
                        k.get_ref()
                    ),
                );
            }
            fixed.insert(k.get_ref().clone(), v.clone());
        }
    }
    let line_of_key = |key: &str| -> Option<usize> {
        axis_named(key).map(|(_, s)| lines.at(s.start)).or_else(|| {
            raw.params
                .keys()
                .find(|k| k.get_ref() == key)
                .map(|k| lines.at(k.span().start))
        })
    };
    let mut points = Vec::with_capacity(coords.len());
    for (index, coords) in coords.into_iter().enumerate() {
        let at = |key: &str, message: String| SpecError {
            line: line_of_key(key),
            key: key.to_string(),
            message: format!("at point {index} ({}): {message}", describe(&coords)),
        };
        let invalid = |e: pretrainlab::Error| match e {
            pretrainlab::Error::InvalidParameter { field, message } => {
                at(&field, format!("invalid `{field}`: {message}"))
            }
            other => at("params", other.to_string()),
        };
        let mut params = fixed.clone();
        for (key, v) in [
            ("m", base_m.map(toml::Value::Integer)),
            ("n", base_n.map(toml::Value::Integer)),
            ("sampler", raw.sampler.as_ref().map(|s| s.get_ref().clone())),
        ] {
            if let Some(v) = v {
                params.insert(key.to_string(), v);
            }
        }
        let mut alpha = base_alpha;
        for (k, v) in &coords {
            if has_sizes && k == "alpha" {
                alpha = v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
            } else {
                params.insert(k.clone(), v.clone());
            }
        }
        if let Some(a) = alpha {
            let n = match params.get("n").and_then(toml::Value::as_integer) {
                Some(n) if n >= 1 => n,
                _ => {
                    return Err(at(
                        "n",
                        "alpha sets m = round(α n): give n as an integer ≥ 1 (a key or an axis)"
                            .into(),
                    ));
                }
            };
            if !(a.is_finite() && a > 0.0) {
                return Err(at("alpha", format!("must be positive, got {a}")));
            }
            let m = ((a * n as f64).round() as i64).max(1);
            params.insert("m".into(), toml::Value::Integer(m));
        }
        let model =
            pretrainlab::registry::build(&model_name, params.clone()).map_err(|e| match e {
                pretrainlab::Error::InvalidParameter { field, message }
                    if field == "m" && alpha.is_some() =>
                {
                    at("alpha", format!("invalid `m` = round(α n): {message}"))
                }
                other => invalid(other),
            })?;
        if let Some(metric) = &raw.metric {
            let known: Vec<&str> = model.metrics().iter().map(|m| m.name.as_str()).collect();
            if !known.contains(&metric.get_ref().as_str()) {
                return Err(at(
                    "metric",
                    format!(
                        "model `{model_name}` has no metric `{}`; it has {}",
                        metric.get_ref(),
                        known.join(", ")
                    ),
                ));
            }
        }
        points.push(Point {
            index,
            coords,
            params,
        });
    }

    Ok(Experiment {
        output: raw
            .output
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("results").join(&name)),
        name,
        description: raw.description.unwrap_or_default(),
        model: model_name,
        metric: raw.metric.map(Spanned::into_inner),
        predicted: raw.predicted.map(Spanned::into_inner),
        actions,
        trials,
        seed,
        chunk,
        combine,
        axes: axes.into_iter().map(|(a, _)| a).collect(),
        points,
    })
}

fn describe(coords: &[(String, toml::Value)]) -> String {
    if coords.is_empty() {
        return "no axes".into();
    }
    coords
        .iter()
        .map(|(k, v)| format!("{k}={}", value_text(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Resolves one axis to its values; the message names what is wrong.
fn resolve_axis(name: &str, raw: &RawAxis) -> Result<Axis, String> {
    let given: Vec<&str> = [
        ("list", raw.list.is_some()),
        ("linspace", raw.linspace.is_some()),
        ("geomspace", raw.geomspace.is_some()),
        ("logspace", raw.logspace.is_some()),
    ]
    .iter()
    .filter(|(_, on)| *on)
    .map(|(k, _)| *k)
    .collect();
    let kind = match given.as_slice() {
        [one] => *one,
        [] => return Err("empty sweep: give one of list, linspace, geomspace or logspace".into()),
        many => return Err(format!("give one of {} , not several", many.join(", "))),
    };
    let values: Vec<toml::Value> = if let Some(list) = &raw.list {
        if list.is_empty() {
            return Err("empty sweep: the list has no values".into());
        }
        list.clone()
    } else {
        let spec = raw
            .linspace
            .as_ref()
            .or(raw.geomspace.as_ref())
            .or(raw.logspace.as_ref())
            .expect("one is set");
        let [a, b, count] = spec.as_slice() else {
            return Err(format!(
                "{kind} takes [start, stop, count], got {} numbers",
                spec.len()
            ));
        };
        if count.fract() != 0.0 || *count < 0.0 {
            return Err(format!(
                "{kind}: the count must be a whole number, got {count}"
            ));
        }
        if *count > MAX_POINTS as f64 {
            return Err(format!(
                "{kind}: at most {MAX_POINTS} values per axis, got {count}"
            ));
        }
        let count = *count as usize;
        if count == 0 {
            return Err(format!("empty sweep: {kind} with count 0"));
        }
        if kind == "geomspace" && !(*a > 0.0 && *b > 0.0) {
            return Err(format!("geomspace needs positive ends, got [{a}, {b}]"));
        }
        if !(a.is_finite() && b.is_finite()) {
            return Err(format!("{kind}: the ends must be finite"));
        }
        let t = |i: usize| {
            if count == 1 {
                0.0
            } else {
                i as f64 / (count - 1) as f64
            }
        };
        (0..count)
            .map(|i| {
                let x = match kind {
                    "linspace" => a + (b - a) * t(i),
                    "geomspace" => (a.ln() + (b.ln() - a.ln()) * t(i)).exp(),
                    _ => 10f64.powf(a + (b - a) * t(i)),
                };
                number_value(name, x)
            })
            .collect()
    };
    Ok(Axis {
        name: name.to_string(),
        kind: kind.to_string(),
        values,
    })
}

/// A generated value as TOML: integers for sizes and for whole numbers (so integer
/// parameters accept them), floats otherwise.
fn number_value(name: &str, x: f64) -> toml::Value {
    if name == "m" || name == "n" {
        return toml::Value::Integer(x.round() as i64);
    }
    let r = x.round();
    if (x - r).abs() <= 1e-9 * r.abs().max(1.0) && r.abs() < 1e15 {
        toml::Value::Integer(r as i64)
    } else {
        toml::Value::Float(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "t"
model = "factor"
actions = ["check"]
n = 1000
trials = 10

[params]
d = 5
k = 2

[sweep]
combine = "product"
[sweep.axes]
alpha = { geomspace = [0.5, 8, 5] }
noise_var = { list = [0.5, 1.0] }
"#;

    #[test]
    fn a_product_sweep_resolves_in_file_order() {
        let e = parse(GOOD, false).unwrap();
        assert_eq!(e.points.len(), 10);
        assert_eq!(e.axes[0].name, "alpha");
        assert!(e.axes[0].geometric());
        let m = |p: &Point| p.params["m"].as_integer();
        assert_eq!(m(&e.points[0]), Some(500));
        assert_eq!(m(&e.points[9]), Some(8000));
        assert_eq!(e.points[9].params["n"].as_integer(), Some(1000));
        assert_eq!(e.points[1].params["noise_var"].as_float(), Some(1.0));
        assert_eq!(m(&e.points[2]), Some(1000));
        assert_eq!(e.output, PathBuf::from("results/t"));
    }

    #[test]
    fn zip_and_spaces() {
        let text = GOOD
            .replace("product", "zip")
            .replace("[0.5, 1.0]", "[0.5, 1.0, 2, 3, 4]");
        let e = parse(&text, false).unwrap();
        assert_eq!(e.points.len(), 5);
        assert_eq!(e.points[4].params["noise_var"].as_integer(), Some(4));
        let lin = resolve_axis(
            "x",
            &RawAxis {
                list: None,
                linspace: Some(vec![0.0, 1.0, 5.0]),
                geomspace: None,
                logspace: None,
            },
        )
        .unwrap();
        assert_eq!(lin.values[1].as_float(), Some(0.25));
        let log = resolve_axis(
            "x",
            &RawAxis {
                list: None,
                linspace: None,
                geomspace: None,
                logspace: Some(vec![0.0, 2.0, 3.0]),
            },
        )
        .unwrap();
        assert_eq!(log.values[2].as_integer(), Some(100));
    }

    fn error(text: &str) -> SpecError {
        parse(text, false).unwrap_err()
    }

    #[test]
    fn errors_name_the_line_and_key() {
        let e = error(&GOOD.replace("noise_var = { list", "colour = { list"));
        assert_eq!((e.line, e.key.as_str()), (Some(16), "sweep.axes.colour"));
        assert!(e.message.contains("unknown axis"), "{e}");

        let e = error(&GOOD.replace("[0.5, 1.0]", "[]"));
        assert_eq!((e.line, e.key.as_str()), (Some(16), "sweep.axes.noise_var"));
        assert!(e.message.contains("empty sweep"), "{e}");

        let e = error(&GOOD.replace("[0.5, 8, 5]", "[0.5, 8, 0]"));
        assert!(e.message.contains("empty sweep"), "{e}");

        let e = error(&GOOD.replace(
            "[sweep.axes]\nalpha = { geomspace = [0.5, 8, 5] }\nnoise_var = { list = [0.5, 1.0] }",
            "[sweep.axes]",
        ));
        assert!(e.message.contains("empty sweep"), "{e}");

        let e = error(&GOOD.replace("trials = 10", "trials = -3"));
        assert_eq!((e.line, e.key.as_str()), (Some(6), "trials"));

        let e = error(&GOOD.replace("k = 2", "k = 2\ncolour = 3"));
        assert_eq!((e.line, e.key.as_str()), (Some(11), "params.colour"));

        let e = error(&GOOD.replace("[0.5, 1.0]", "[0.5, -1.0]"));
        assert_eq!((e.line, e.key.as_str()), (Some(16), "noise_var"));
        assert!(e.message.contains("noise_var=-1"), "{e}");

        let e = error(&GOOD.replace("trials = 10", "trials = 10\ntrails = 4"));
        assert_eq!((e.line, e.key.as_str()), (Some(7), "trails"));

        let e = error(&GOOD.replace("trials = 10", "trials = 10\nalpha = 2"));
        assert_eq!((e.line, e.key.as_str()), (Some(16), "sweep.axes.alpha"));

        let e = error(&GOOD.replace("k = 2", "k = 7"));
        assert_eq!((e.line, e.key.as_str()), (Some(10), "k"));

        let e = error(&GOOD.replace(
            "trials = 10",
            "trials = 10
trials = 20",
        ));
        assert_eq!((e.line, e.key.as_str()), (Some(7), "trials"));
        assert!(e.message.contains("duplicate"), "{e}");

        let e = error(&GOOD.replace("[0.5, 8, 5]", "[0.5, 8, 1000000000]"));
        assert_eq!((e.line, e.key.as_str()), (Some(15), "sweep.axes.alpha"));
        assert!(e.message.contains("at most"), "{e}");
    }

    #[test]
    fn quick_tables_override_parameters_and_axes() {
        let text = format!(
            "{GOOD}[quick]\ntrials = 2\n[quick.params]\nk = 3\n[quick.axes]\nnoise_var = {{ list = [0.25] }}\n"
        );
        let full = parse(&text, false).unwrap();
        assert_eq!(full.points.len(), 10);
        assert_eq!(full.points[0].params["k"].as_integer(), Some(2));
        let quick = parse(&text, true).unwrap();
        assert_eq!((quick.points.len(), quick.trials), (5, 2));
        assert_eq!(quick.points[0].params["k"].as_integer(), Some(3));
        assert_eq!(quick.points[0].params["noise_var"].as_float(), Some(0.25));
        let e = error(&text.replace("[quick.params]\nk = 3", "[quick.params]\nwidth = 3"));
        assert_eq!(e.key, "quick.params.width");
        let e = error(&text.replace("noise_var = { list = [0.25] }", "colour = { list = [1] }"));
        assert_eq!(e.key, "quick.axes.colour");
    }

    const DYNAMICS: &str = r#"
model = "factorization"
trials = 3
[params]
init_scale = 0.3
[sweep.axes]
t_end = { list = [20, 30] }
"#;

    #[test]
    fn dynamics_models_sweep_their_own_parameters() {
        let e = parse(DYNAMICS, false).unwrap();
        assert_eq!(e.points.len(), 2);
        assert!(!e.points[1].params.contains_key("m"));
        assert_eq!(e.points[1].params["t_end"].as_integer(), Some(30));
        assert_eq!(e.points[1].label(), "t_end=30");

        let e = error(&DYNAMICS.replace("trials = 3", "trials = 3\nalpha = 2.0"));
        assert_eq!((e.line, e.key.as_str()), (Some(4), "alpha"));
        assert!(e.message.contains("has no m and n"), "{e}");
        let e = error(&DYNAMICS.replace("trials = 3", "trials = 3\nsampler = \"raw\""));
        assert_eq!((e.line, e.key.as_str()), (Some(4), "sampler"));
        assert!(e.message.contains("has no parameter `sampler`"), "{e}");
        let e = error(&DYNAMICS.replace("[20, 30]", "[20, -1]"));
        assert_eq!((e.line, e.key.as_str()), (Some(7), "t_end"));
    }
}
