//! Model parameters from `--config FILE` and repeated `--set KEY=VALUE`.

use std::path::Path;

use toml::Table;

/// Reads the config file (if any) and applies the `--set` overrides in order.
/// Errors name the file and line, or the offending `--set` argument.
pub fn collect(config: Option<&Path>, sets: &[String]) -> Result<Table, String> {
    let mut table = match config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
            text.parse::<Table>().map_err(|e| {
                format!(
                    "malformed TOML in {}: {}",
                    path.display(),
                    one_line(&e.to_string())
                )
            })?
        }
        None => Table::new(),
    };
    for item in sets {
        let (key, value) = parse_set(item)?;
        table.insert(key, value);
    }
    Ok(table)
}

/// Parses `KEY=VALUE`, the value as a TOML value.
fn parse_set(item: &str) -> Result<(String, toml::Value), String> {
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| format!("invalid --set `{item}`: expected KEY=VALUE, e.g. --set k=3"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("invalid --set `{item}`: the key is empty"));
    }
    let doc = format!("value = {}", raw.trim());
    let mut parsed: Table = doc.parse().map_err(|e: toml::de::Error| {
        format!(
            "invalid value for `{key}` in --set `{item}`: not a TOML value ({})",
            one_line(e.message())
        )
    })?;
    Ok((key.to_string(), parsed.remove("value").expect("parsed key")))
}

/// Collapses a multi-line parser message into one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_values_are_toml() {
        let t = collect(
            None,
            &[
                "k=3".into(),
                "strengths=[4, 0.25]".into(),
                "noise_var = 0.5".into(),
            ],
        )
        .unwrap();
        assert_eq!(t["k"].as_integer(), Some(3));
        assert_eq!(t["strengths"].as_array().unwrap().len(), 2);
        assert_eq!(t["noise_var"].as_float(), Some(0.5));
        assert!(
            collect(None, &["k".into()])
                .unwrap_err()
                .contains("KEY=VALUE")
        );
        assert!(
            collect(None, &["k=[1,".into()])
                .unwrap_err()
                .contains("`k`")
        );
    }
}
