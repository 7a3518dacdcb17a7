//! # pretrainlab
//!
//! Simulation and asymptotic theory of two-stage learning: an M-estimator is
//! pre-trained on `m` unlabeled samples, its representation is frozen, and a
//! minimum-norm least-squares head is fitted on `n` labeled samples.
//!
//! The theory follows Tinati & Tu, "On the Asymptotics of Self-Supervised
//! Pre-training: Two-Stage M-Estimation and Representation Symmetry"
//! (arXiv 2603.27631): the scaled excess risk `n(R - σ²)` converges in law to
//! `σ² d_eff + ‖L(Z)‖²/α`, with `Z ~ N(0, V)`, `V = H⁻¹ S H⁻¹` on the tangent
//! space of the quotient manifold and `α = m/n`.
//!
//! The crate does no I/O. Layout:
//! - [`linalg`]: faer helpers (symmetric eigen, pseudo-inverse, Wishart draws);
//! - [`rng`]: one random stream per (seed, experiment, trial);
//! - [`downstream`]: the exact conditional risk decomposition for linear features;
//! - [`theory`]: tangent covariance, first-order map, weighted χ² laws;
//! - [`models`]: one module per pre-training model behind [`models::TwoStageModel`];
//! - [`optim`]: L-BFGS for the pre-training M-estimators;
//! - [`engine`]: parallel, reproducible Monte Carlo over trials;
//! - [`compare`]: simulation against theory, with a verdict.

pub mod compare;
pub mod downstream;
pub mod dynamics;
pub mod engine;
pub mod fit;
pub mod linalg;
pub mod models;
pub mod ode;
pub mod optim;
pub mod params;
pub mod rng;
pub mod stats;
pub mod theory;

/// Errors of the library. Every variant names what went wrong in words a user can act on.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// A parameter is outside its allowed range; `field` is the parameter's name.
    #[error("invalid `{field}`: {message}")]
    InvalidParameter { field: String, message: String },
    /// A numerical step failed (a decomposition that did not converge, a singular system).
    #[error("numerical failure: {0}")]
    Numerical(String),
}

impl Error {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Error::InvalidParameter {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
