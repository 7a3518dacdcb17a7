//! Self-description of model parameters, for `pretrainlab models` and for errors.

use serde::Serialize;

/// One parameter of a model: its name, its default written as a TOML value, and its meaning.
#[derive(Clone, Debug, Serialize)]
pub struct ParamSpec {
    pub name: &'static str,
    pub default: String,
    pub meaning: &'static str,
}

impl ParamSpec {
    pub fn new(name: &'static str, default: &str, meaning: &'static str) -> Self {
        ParamSpec {
            name,
            default: default.to_string(),
            meaning,
        }
    }
}

/// Describes the parameters of a parameter type from its one `impl Default`: each
/// default is read off `P::default()` serialised as TOML, so it is written only there.
/// `meanings` names every parameter, in the order to show them, with its meaning;
/// `computed` gives the default in words for parameters whose default depends on
/// others (they serialise to nothing by default, e.g. an `Option` left `None`).
///
/// A parameter named in `meanings` that has neither a serialised nor a computed default
/// is shown with the default "(none)"; the conformance suite checks that none is.
pub fn describe<P: Default + Serialize>(
    meanings: &[(&'static str, &'static str)],
    computed: &[(&'static str, &'static str)],
) -> Vec<ParamSpec> {
    let defaults = toml::Value::try_from(P::default())
        .ok()
        .and_then(|v| v.as_table().cloned())
        .unwrap_or_default();
    meanings
        .iter()
        .map(|&(name, meaning)| {
            let default = match (defaults.get(name), computed.iter().find(|c| c.0 == name)) {
                (_, Some((_, words))) => words.to_string(),
                (Some(v), None) => v.to_string(),
                (None, None) => "(none)".to_string(),
            };
            ParamSpec {
                name,
                default,
                meaning,
            }
        })
        .collect()
}

/// A model's name, one-line summary, source and parameters.
#[derive(Clone, Debug, Serialize)]
pub struct ModelInfo {
    pub name: &'static str,
    pub summary: &'static str,
    pub source: &'static str,
    pub params: Vec<ParamSpec>,
}

/// Largest magnitude of a real-valued parameter: beyond it the theory's products
/// overflow or lose all precision.
pub const MAX_MAGNITUDE: f64 = 1e12;

/// Largest dimension `d` of the models that hold dense `d×d` matrices (128 MiB each at
/// the ceiling).
pub const MAX_DIM: usize = 4096;

/// Checks that a length-`k` vector parameter has the right length and finite entries of
/// magnitude at most [`MAX_MAGNITUDE`], and, when `positive`, that every entry is `> 0`.
pub fn check_vector(field: &str, values: &[f64], k: usize, positive: bool) -> crate::Result<()> {
    if values.len() != k {
        return Err(crate::Error::invalid(
            field,
            format!("must have exactly k = {k} entries, got {}", values.len()),
        ));
    }
    for (i, &v) in values.iter().enumerate() {
        if !(-MAX_MAGNITUDE..=MAX_MAGNITUDE).contains(&v) || (positive && v <= 0.0) {
            let want = if positive {
                "a number in (0, 1e12]"
            } else {
                "a number in [-1e12, 1e12]"
            };
            return Err(crate::Error::invalid(
                field,
                format!("entry {i} is {v}; each entry must be {want}"),
            ));
        }
    }
    Ok(())
}

/// Checks `1 ≤ k < d ≤ MAX_DIM`, naming `k` or `d`.
pub fn check_rank(k: usize, d: usize) -> crate::Result<()> {
    check_at_most("d", d, MAX_DIM)?;
    if k == 0 || k >= d {
        return Err(crate::Error::invalid(
            "k",
            format!("must satisfy 1 ≤ k < d = {d}, got k = {k}"),
        ));
    }
    Ok(())
}

/// Checks that a scalar parameter is in `[0, MAX_MAGNITUDE]`.
pub fn check_nonnegative(field: &str, value: f64) -> crate::Result<()> {
    if !(0.0..=MAX_MAGNITUDE).contains(&value) {
        return Err(crate::Error::invalid(
            field,
            format!("must be a number in [0, 1e12], got {value}"),
        ));
    }
    Ok(())
}

/// Checks a documented ceiling on a size, step count or sample count.
pub fn check_at_most(field: &str, value: usize, max: usize) -> crate::Result<()> {
    if value > max {
        return Err(crate::Error::invalid(
            field,
            format!("must be at most {max}, got {value}"),
        ));
    }
    Ok(())
}

/// Checks a sample size `value > bound`, naming the field and what the bound is
/// (e.g. `check_size_above("n", n, k, "k")`).
pub fn check_size_above(field: &str, value: usize, bound: usize, what: &str) -> crate::Result<()> {
    if value <= bound {
        return Err(crate::Error::invalid(
            field,
            format!("must be > {what} = {bound}, got {value}"),
        ));
    }
    Ok(())
}

/// Test support: asserts that `shown` (a model's `info().params`) describes `P`. The shown
/// defaults, other than the `computed` ones, parse back as TOML to `P::default()` (so
/// every name is a field); every field of the serialised default is shown; each computed
/// name is shown, in words, and has no serialised default; an unknown field is rejected.
#[cfg(test)]
pub(crate) fn assert_describes<P>(shown: &[ParamSpec], computed: &[&str])
where
    P: Default + Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut table = toml::Table::new();
    for spec in shown.iter().filter(|s| !computed.contains(&s.name)) {
        let line: toml::Table = format!("v = {}", spec.default).parse().unwrap_or_else(|e| {
            panic!("{}: {:?} is not a TOML value: {e}", spec.name, spec.default)
        });
        table.insert(spec.name.to_string(), line["v"].clone());
    }
    let parsed: P = toml::Value::Table(table)
        .try_into()
        .unwrap_or_else(|e| panic!("the shown defaults do not deserialise: {e}"));
    assert_eq!(format!("{parsed:?}"), format!("{:?}", P::default()));
    let names: Vec<&str> = shown.iter().map(|s| s.name).collect();
    let defaults = toml::Table::try_from(P::default()).unwrap();
    for key in defaults.keys() {
        assert!(names.contains(&key.as_str()), "field {key} is not shown");
    }
    for name in computed {
        assert!(names.contains(name), "{name} is not shown");
        assert!(
            !defaults.contains_key(*name),
            "{name} has a serialised default"
        );
        let spec = shown.iter().find(|s| s.name == *name).unwrap();
        assert_ne!(spec.default, "(none)", "{name} has no default text");
    }
    let mut bad = toml::Table::new();
    bad.insert("no_such_field".into(), toml::Value::Integer(1));
    assert!(toml::Value::Table(bad).try_into::<P>().is_err());
}
