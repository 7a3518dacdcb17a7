//! User formulas: links, channels and preprocessings given as strings such as
//! `"g1*g2"`, `"z^2 + 0.5*eps"` or `"tanh(y/2)"`.
//!
//! A [`Formula`] is parsed and compiled once by the `exmex` crate (a flat, operator-
//! precedence expression evaluator) and then evaluated per sample on a slice of values.
//! The caller names the variables a formula may use, in the order it will pass them;
//! any other symbol is an error that names the parameter.
//!
//! **Syntax.** Numbers, the variables, `+ - * / ^`, parentheses, the constants `PI` and
//! `E`, the functions `abs signum sqrt cbrt exp ln log log2 log10 sin cos tan asin acos
//! atan sinh cosh tanh asinh acosh atanh floor ceil round trunc fract`, and the binary
//! functions `min(a, b)`, `max(a, b)` and `atan2(y, x)`.
//!
//! **Cost.** Evaluation walks the compiled node list on the stack: it allocates nothing
//! for formulas of up to [`MAX_NODES`] numbers, variables and functions and as many
//! operators, which [`Formula::parse`] enforces, and costs tens of nanoseconds for a typical formula.

use exmex::{Express, FlatEx};

use crate::{Error, Result};

/// Longest formula text accepted, in bytes.
pub const MAX_LEN: usize = 256;
/// Most variables a formula may be given.
pub const MAX_VARS: usize = 8;
/// Most numbers, variables and function names a formula may use, and most operator
/// symbols. exmex keeps evaluation on the stack up to 32 nodes and operators.
pub const MAX_NODES: usize = 30;

/// A compiled formula over a fixed, named list of variables.
#[derive(Clone, Debug)]
pub struct Formula {
    text: String,
    expr: FlatEx<f64>,
    /// `slots[j]` is the caller's index of the `j`-th variable in exmex's (sorted) order.
    slots: Vec<usize>,
    /// The caller's variable names, in the caller's order.
    vars: Vec<String>,
}

impl Formula {
    /// Parse and compile `text`, a value of parameter `field`, over the variables `vars`
    /// (in the order [`Formula::eval`] receives their values). An empty text, a syntax
    /// error, a symbol outside `vars`, or a formula longer than [`MAX_LEN`] bytes or
    /// [`MAX_NODES`] tokens is an error naming `field`.
    pub fn parse(field: &str, text: &str, vars: &[&str]) -> Result<Formula> {
        debug_assert!(vars.len() <= MAX_VARS);
        let allowed = || {
            if vars.is_empty() {
                "no variables".to_string()
            } else {
                format!("the variables {}", vars.join(", "))
            }
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(Error::invalid(
                field,
                format!("must be a formula in {}, got an empty string", allowed()),
            ));
        }
        if trimmed.len() > MAX_LEN {
            return Err(Error::invalid(
                field,
                format!("must be a formula of at most {MAX_LEN} characters"),
            ));
        }
        let expr = exmex::parse::<f64>(trimmed).map_err(|e| {
            Error::invalid(
                field,
                format!(
                    "`{trimmed}` is not a formula in {}: {}",
                    allowed(),
                    first_line(&e.to_string())
                ),
            )
        })?;
        let mut slots = Vec::with_capacity(expr.var_names().len());
        for name in expr.var_names() {
            match vars.iter().position(|v| v == name) {
                Some(i) => slots.push(i),
                None => {
                    return Err(Error::invalid(
                        field,
                        format!(
                            "`{trimmed}` uses the unknown symbol `{name}`; allowed are {} and the functions and constants of the formula syntax",
                            allowed()
                        ),
                    ));
                }
            }
        }
        let (atoms, operators) = token_counts(trimmed);
        if atoms > MAX_NODES || operators > MAX_NODES {
            return Err(Error::invalid(
                field,
                format!(
                    "`{trimmed}` is too long: at most {MAX_NODES} numbers, variables and functions, and {MAX_NODES} operators"
                ),
            ));
        }
        Ok(Formula {
            text: trimmed.to_string(),
            expr,
            slots,
            vars: vars.iter().map(|v| v.to_string()).collect(),
        })
    }

    /// The formula's text, trimmed.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the formula uses the variable `var`.
    pub fn uses(&self, var: &str) -> bool {
        self.vars
            .iter()
            .position(|v| v == var)
            .is_some_and(|i| self.slots.contains(&i))
    }

    /// The formula at `values` (one per variable, in the order given to
    /// [`Formula::parse`]); NaN if the evaluation fails.
    pub fn eval(&self, values: &[f64]) -> f64 {
        debug_assert_eq!(values.len(), self.vars.len());
        let mut ordered = [0.0; MAX_VARS];
        for (o, &s) in ordered.iter_mut().zip(&self.slots) {
            *o = values[s];
        }
        self.expr
            .eval(&ordered[..self.slots.len()])
            .unwrap_or(f64::NAN)
    }
}

/// The numbers, variables and function names (maximal runs of letters, digits, `_` and
/// `.`) and the operator symbols of `text`: bounds on exmex's node and operator lists.
fn token_counts(text: &str) -> (usize, usize) {
    let mut atoms = 0;
    let mut in_atom = false;
    let mut operators = 0;
    for c in text.chars() {
        let atomic = c.is_alphanumeric() || c == '_' || c == '.';
        if atomic && !in_atom {
            atoms += 1;
        }
        in_atom = atomic;
        if "+-*/^,".contains(c) {
            operators += 1;
        }
    }
    (atoms, operators)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluates_in_the_callers_order() {
        let f = Formula::parse("link", "g2 - 2*g1 + 0*eps", &["g1", "g2", "eps"]).unwrap();
        assert_eq!(f.eval(&[1.0, 5.0, 7.0]), 3.0);
        let t = Formula::parse("preprocessing", "tanh(y/2)", &["y"]).unwrap();
        assert!((t.eval(&[1.3]) - (0.65f64).tanh()).abs() < 1e-15);
        let m = Formula::parse("preprocessing", "min(y, 3) + max(y, 0)^2", &["y"]).unwrap();
        assert_eq!(m.eval(&[5.0]), 28.0);
        assert_eq!(m.eval(&[-1.0]), -1.0);
        let c = Formula::parse("channel", "z^2 + 0.5*eps", &["z", "eps"]).unwrap();
        assert_eq!(c.eval(&[3.0, 2.0]), 10.0);
        assert!(c.uses("eps") && c.uses("z"));
        let p = Formula::parse("link", "g1*g1", &["g1", "g2", "eps"]).unwrap();
        assert!(p.uses("g1") && !p.uses("g2") && !p.uses("eps"));
        let k = Formula::parse("preprocessing", "2*PI", &["y"]).unwrap();
        assert_eq!(k.eval(&[0.0]), 2.0 * std::f64::consts::PI);
    }

    #[test]
    fn bad_formulas_name_the_field() {
        for (text, needle) in [
            ("g1 * g4", "unknown symbol `g4`"),
            ("g1 * (g2", "not a formula"),
            ("", "empty"),
            ("foo(g1)", "g1"),
        ] {
            let e = Formula::parse("link", text, &["g1", "g2"]).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("`link`"), "{msg}");
            assert!(msg.contains(needle), "{text}: {msg}");
        }
        let long = vec!["y"; 40].join("+");
        assert!(Formula::parse("preprocessing", &long, &["y"]).is_err());
    }

    #[test]
    fn failed_evaluations_are_nan_not_panics() {
        let f = Formula::parse("preprocessing", "ln(y)", &["y"]).unwrap();
        assert!(f.eval(&[-1.0]).is_nan());
        let g = Formula::parse("preprocessing", "1/y", &["y"]).unwrap();
        assert!(g.eval(&[0.0]).is_infinite());
    }
}
