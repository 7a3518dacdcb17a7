//! Self-description of model parameters, for `pretrainlab models` and for errors.

use serde::Serialize;

/// One parameter of a model: its name, its default written as a TOML value, and its meaning.
#[derive(Clone, Debug, Serialize)]
pub struct ParamSpec {
    pub name: &'static str,
    pub default: String,
    pub meaning: &'static str,
}

/// A model's name, one-line summary, source and parameters.
#[derive(Clone, Debug, Serialize)]
pub struct ModelInfo {
    pub name: &'static str,
    pub summary: &'static str,
    pub source: &'static str,
    pub params: Vec<ParamSpec>,
}

/// Checks that a length-`k` vector parameter has the right length and finite entries,
/// and, when `positive`, that every entry is `> 0`.
pub fn check_vector(field: &str, values: &[f64], k: usize, positive: bool) -> crate::Result<()> {
    if values.len() != k {
        return Err(crate::Error::invalid(
            field,
            format!("must have exactly k = {k} entries, got {}", values.len()),
        ));
    }
    for (i, &v) in values.iter().enumerate() {
        if !v.is_finite() || (positive && v <= 0.0) {
            let want = if positive {
                "a finite number > 0"
            } else {
                "a finite number"
            };
            return Err(crate::Error::invalid(
                field,
                format!("entry {i} is {v}; each entry must be {want}"),
            ));
        }
    }
    Ok(())
}
