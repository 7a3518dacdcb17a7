//! The same seed gives bitwise-identical results whatever the thread count and however
//! the trials are split into shards; the Wishart and raw samplers give the same laws.

use pretrainlab::engine::{RunResult, RunSpec, run};
use pretrainlab::linalg::Sampler;
use pretrainlab::models::TrialRecord;
use pretrainlab::models::factor::{FactorModel, FactorParams};
use pretrainlab::theory::weighted_chisq::ks_p_value;

fn model() -> FactorModel {
    FactorModel::new(FactorParams {
        d: 6,
        k: 2,
        ..Default::default()
    })
    .unwrap()
}

fn spec(sampler: Sampler, trials: u64) -> RunSpec {
    RunSpec {
        m: 300,
        n: 120,
        trials,
        seed: 42,
        experiment: 7,
        sampler,
    }
}

fn bits(r: &RunResult) -> Vec<(u64, [u64; 5])> {
    r.records
        .iter()
        .map(|(t, x)| {
            (
                *t,
                [x.scaled_excess, x.n_var, x.n_leak, x.n_rep, x.m_rep].map(f64::to_bits),
            )
        })
        .collect()
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn bitwise_identical_across_thread_counts_and_shards() {
    let m = model();
    for sampler in [Sampler::Wishart, Sampler::Raw] {
        let s = spec(sampler, 64);
        let one = in_pool(1, || run(&m, &s, 0..64, &|_| {}));
        let two = in_pool(2, || run(&m, &s, 0..64, &|_| {}));
        assert_eq!(bits(&one), bits(&two), "{sampler:?}: 1 vs 2 threads");
        let mut sharded = in_pool(2, || run(&m, &s, 0..10, &|_| {}));
        for range in [10..37, 37..64] {
            sharded.extend(in_pool(1, || run(&m, &s, range.clone(), &|_| {})));
        }
        assert_eq!(bits(&one), bits(&sharded), "{sampler:?}: shards");
        assert_eq!(one.records.len(), 64);
    }
}

#[test]
fn different_seeds_give_different_results() {
    let m = model();
    let a = run(&m, &spec(Sampler::Wishart, 4), 0..4, &|_| {});
    let mut other = spec(Sampler::Wishart, 4);
    other.seed = 43;
    let b = run(&m, &other, 0..4, &|_| {});
    assert_ne!(bits(&a), bits(&b));
}

/// Two-sample Kolmogorov–Smirnov distance.
fn ks_two_sample(a: &[f64], b: &[f64]) -> f64 {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    d
}

/// Every reported quantity has the same law under both samplers: the two-sample KS
/// test over 1500 trials each must not reject at level 0.001 (effective size 750).
/// A wrong Bartlett degree of freedom (N−i+1 instead of N−i) shifts n·Var and fails this.
#[test]
fn wishart_and_raw_samplers_agree_in_law() {
    let m = model();
    let trials = 1500;
    let w = run(&m, &spec(Sampler::Wishart, trials), 0..trials, &|_| {});
    let mut raw_spec = spec(Sampler::Raw, trials);
    raw_spec.experiment = 8;
    let r = run(&m, &raw_spec, 0..trials, &|_| {});
    type Field = (&'static str, fn(&TrialRecord) -> f64);
    let fields: [Field; 5] = [
        ("scaled_excess", |t| t.scaled_excess),
        ("n_var", |t| t.n_var),
        ("n_leak", |t| t.n_leak),
        ("n_rep", |t| t.n_rep),
        ("m_rep", |t| t.m_rep),
    ];
    for (name, f) in fields {
        let d = ks_two_sample(&w.column(f), &r.column(f));
        let p = ks_p_value(d, (trials / 2) as usize);
        assert!(p > 1e-3, "{name}: KS {d}, p {p}");
    }
}
