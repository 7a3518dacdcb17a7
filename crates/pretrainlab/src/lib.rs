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
//! Every system is one [`model::Model`]; front ends build models by name through the
//! [`registry`] and run them through the [`runner`]. The crate does no I/O. Layout:
//! - [`model`]: the one model trait, its object-safe face, predictions and criteria;
//! - [`registry`]: every model, registered once;
//! - [`runner`]: the only place that derives random streams and runs trials in parallel;
//! - [`budget`]: resource bounds (memory and work) checked before a run starts;
//! - [`criteria`]: summaries, the generic criteria and the verdict of a check;
//! - [`extrapolate`]: a check repeated at growing sizes, fitted to its `1/m` trend;
//! - [`law`]: the [`law::Law`] trait of limit laws;
//! - [`plan`]: the budget split between unlabeled and labeled samples, in closed form;
//! - [`models`]: the two-stage family: one module per pre-training estimator behind
//!   [`models::TwoStageModel`], made a model by [`models::two_stage::TwoStage`];
//! - [`dynamics`]: the training-dynamics family behind [`dynamics::Dynamics`], made a
//!   model by [`dynamics::Trajectory`];
//! - shared numerics: [`linalg`] (faer helpers, Wishart draws), [`downstream`] (the
//!   exact conditional risk decomposition), [`theory`] (tangent covariance, first-order
//!   map, weighted χ² laws), [`krylov`] (top eigenpairs by block Krylov), [`optim`] (L-BFGS), [`ode`] (DOPRI5), [`fit`] (curve fits),
//!   [`stats`] (summaries), [`rng`] (per-trial streams), [`params`] (parameter
//!   descriptions and checks), [`quadrature`] (Gauss–Hermite rules for Gaussian
//!   expectations), [`expr`] (user formulas for links, channels and preprocessings),
//!   [`qp`] (the hard-margin SVM).

pub mod audit;
pub mod budget;
pub mod criteria;
pub mod downstream;
pub mod dynamics;
pub mod expr;
pub mod extrapolate;
pub mod fit;
pub mod inline_exp;
pub mod krylov;
pub mod law;
pub mod linalg;
pub mod model;
pub mod models;
pub mod ode;
pub mod optim;
pub mod params;
pub mod plan;
pub mod qp;
pub mod quadrature;
pub mod registry;
pub mod rng;
pub mod runner;
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
    /// The theory gives a number that is not finite (an overflow at extreme parameters);
    /// `what` names the number.
    #[error(
        "the predicted {what} is {value}: the theory overflows at these parameter values; use values of smaller magnitude"
    )]
    NotFinite { what: String, value: f64 },
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
