//! The one registry: every model pretrainlab knows, registered once with its name, its
//! description and parameters, and how to build it from a parameter table.
//!
//! Front ends (the CLI, experiment files, the Python package) only call [`build`],
//! [`catalogue`] and [`names`]; nothing outside this file needs to know which family a
//! model belongs to. Adding a model is one line in [`ENTRIES`].

use crate::audit::Claim;
use crate::dynamics::{Trajectory, diagonal::Diagonal, factorization::Factorization, ssl::YangSsl};
use crate::model::DynModel;
use crate::models::two_stage::TwoStage;
use crate::models::{
    factor::FactorModel, gmm::GmmModel, nc_resnet::NcResnet, neural_collapse::NeuralCollapse,
    rf_reconstruction::RfReconstruction, spectral::SpectralModel, spurious::SpuriousRidge,
    ttt::TttLinear,
};
use crate::params::ModelInfo;
use crate::{Error, Result};

/// One registered model.
pub struct Entry {
    pub name: &'static str,
    /// Name, summary, source and parameters with their defaults and meanings.
    pub info: fn() -> ModelInfo,
    /// Builds the model from its parameters; errors name the offending parameter.
    pub build: fn(toml::Table) -> Result<Box<dyn DynModel>>,
    /// Parameters (TOML) of a small, fast instance: what the conformance suite runs.
    pub small: &'static str,
    /// The papers' statements about the model that `pretrainlab audit` tests.
    pub claims: &'static [Claim],
}

/// Every model, in the order `pretrainlab models` lists them.
pub const ENTRIES: &[Entry] = &[
    Entry {
        name: "factor",
        info: TwoStage::<FactorModel>::info,
        build: |t| Ok(Box::new(TwoStage::<FactorModel>::build(t)?)),
        small: "d = 5\nk = 2\nm = 400\nn = 200",
        claims: crate::models::factor::CLAIMS,
    },
    Entry {
        name: "spectral",
        info: TwoStage::<SpectralModel>::info,
        build: |t| Ok(Box::new(TwoStage::<SpectralModel>::build(t)?)),
        small: "m = 2000\nn = 500",
        claims: crate::models::spectral::CLAIMS,
    },
    Entry {
        name: "gmm",
        info: TwoStage::<GmmModel>::info,
        build: |t| Ok(Box::new(TwoStage::<GmmModel>::build(t)?)),
        small: "K = 2\nd = 3\nbeta = 3.0\nm = 600\nn = 300\nrisk_samples = 2000\nfisher_samples = 4000\nproj_samples = 4000\neval_samples = 4000",
        claims: crate::models::gmm::CLAIMS,
    },
    Entry {
        name: "spurious-ridge",
        info: SpuriousRidge::info,
        build: |t| Ok(Box::new(SpuriousRidge::build(t)?)),
        small: "d = 10\nn = 60",
        claims: crate::models::spurious::CLAIMS,
    },
    Entry {
        name: "rf-reconstruction",
        info: RfReconstruction::info,
        build: |t| Ok(Box::new(RfReconstruction::build(t)?)),
        small: "d = 4\nn = 3\nratio = 8.0\nsteps = 500",
        claims: crate::models::rf_reconstruction::CLAIMS,
    },
    Entry {
        name: "neural-collapse",
        info: NeuralCollapse::info,
        build: |t| Ok(Box::new(NeuralCollapse::build(t)?)),
        small: "classes = 3\nwidth = 5\nper_class = 3",
        claims: crate::models::neural_collapse::CLAIMS,
    },
    Entry {
        name: "neural-collapse-resnet",
        info: NcResnet::info,
        build: |t| Ok(Box::new(NcResnet::build(t)?)),
        small: "classes = 3\nper_class = 3\ninput_dim = 4\nwidth = 5\ndepth = 2\nsteps = 300\nrecord = 3",
        claims: crate::models::nc_resnet::CLAIMS,
    },
    Entry {
        name: "ttt-linear",
        info: TttLinear::info,
        build: |t| Ok(Box::new(TttLinear::build(t)?)),
        small: "d = 6\nn = 10\nk = 20\ntasks = 40",
        claims: crate::models::ttt::CLAIMS,
    },
    Entry {
        name: "attention-tokens",
        info: crate::models::attention_tokens::AttentionTokens::info,
        build: |t| {
            Ok(Box::new(
                crate::models::attention_tokens::AttentionTokens::build(t)?,
            ))
        },
        small: "tiers = [[1, 1.0]]\nneutral = 6\nseq_len = 4\nn = 20\nd = 12\np_steps = 50",
        claims: crate::models::attention_tokens::CLAIMS,
    },
    Entry {
        name: "single-index-gd-sgd",
        info: crate::models::single_index::SingleIndex::info,
        build: |t| {
            Ok(Box::new(crate::models::single_index::SingleIndex::build(
                t,
            )?))
        },
        small: "d = 16\ndelta = 4.0\nsteps = 50\nspectral = true",
        claims: crate::models::single_index::CLAIMS,
    },
    Entry {
        name: "multi-index-spectral",
        info: crate::models::multi_index::MultiIndex::info,
        build: |t| Ok(Box::new(crate::models::multi_index::MultiIndex::build(t)?)),
        small: "d = 40\ndelta = 4.0\np = 2",
        claims: crate::models::multi_index::CLAIMS,
    },
    Entry {
        name: "glm-oi-amp",
        info: crate::models::glm_oi::GlmOi::info,
        build: |t| Ok(Box::new(crate::models::glm_oi::GlmOi::build(t)?)),
        small: "d = 60\ndelta = 2.0",
        claims: crate::models::glm_oi::CLAIMS,
    },
    Entry {
        name: "dp-sgd",
        info: crate::models::dp_sgd::DpSgd::info,
        build: |t| Ok(Box::new(crate::models::dp_sgd::DpSgd::build(t)?)),
        small: "d = 40\nclip = 0.3\nnoise = 0.5\nlr_decay = 1.0",
        claims: crate::models::dp_sgd::CLAIMS,
    },
    Entry {
        name: "yang-ssl",
        info: Trajectory::<YangSsl>::info,
        build: |t| Ok(Box::new(Trajectory::<YangSsl>::build(t)?)),
        small: "d = 4\nsteps_ssl = 150\nsteps_sl = 150\nsteps_long = 300\nrecord_every = 7",
        claims: crate::dynamics::ssl::CLAIMS,
    },
    Entry {
        name: "factorization",
        info: Trajectory::<Factorization>::info,
        build: |t| Ok(Box::new(Trajectory::<Factorization>::build(t)?)),
        small: "t_end = 20.0\nt_fast = 5.0",
        claims: crate::dynamics::factorization::CLAIMS,
    },
    Entry {
        name: "diagonal",
        info: Trajectory::<Diagonal>::info,
        build: |t| Ok(Box::new(Trajectory::<Diagonal>::build(t)?)),
        small: "d = 40\nmax_steps = 20000",
        claims: crate::dynamics::diagonal::CLAIMS,
    },
];

/// The registered names, in order.
pub fn names() -> Vec<&'static str> {
    ENTRIES.iter().map(|e| e.name).collect()
}

/// The entry of model `name`, or an error listing the known models.
pub fn entry(name: &str) -> Result<&'static Entry> {
    ENTRIES.iter().find(|e| e.name == name).ok_or_else(|| {
        Error::invalid(
            "model",
            format!(
                "unknown model `{name}`; known models: {}",
                names().join(", ")
            ),
        )
    })
}

/// Every model's description, for `pretrainlab models`.
pub fn catalogue() -> Vec<ModelInfo> {
    ENTRIES.iter().map(|e| (e.info)()).collect()
}

/// Builds model `name` from a parameter table (absent parameters take their defaults).
pub fn build(name: &str, params: toml::Table) -> Result<Box<dyn DynModel>> {
    (entry(name)?.build)(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_match_their_info() {
        let names = names();
        for (i, e) in ENTRIES.iter().enumerate() {
            assert!(!names[..i].contains(&e.name), "duplicate {}", e.name);
            assert_eq!((e.info)().name, e.name);
        }
    }

    #[test]
    fn unknown_models_name_the_field() {
        let e = build("nope", toml::Table::new()).err().unwrap();
        assert!(matches!(e, Error::InvalidParameter { ref field, .. } if field == "model"));
        assert!(e.to_string().contains("factor"));
    }
}
