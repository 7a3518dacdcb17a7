//! The same seed gives bitwise-identical results whatever the thread count and however
//! the trials are split into shards; the Wishart and raw samplers give the same laws.

use pretrainlab::model::DynModel;
use pretrainlab::runner::{Trials, run};
use pretrainlab::theory::weighted_chisq::ks_p_value;

/// The factor model at d = 6, k = 2, m = 300, n = 120 with the given sampler.
fn model(sampler: &str) -> Box<dyn DynModel> {
    let table = format!("d = 6\nk = 2\nm = 300\nn = 120\nsampler = \"{sampler}\"");
    pretrainlab::registry::build("factor", table.parse().unwrap()).unwrap()
}

fn bits(r: &Trials) -> (Vec<u64>, Vec<u64>) {
    (
        r.ids.clone(),
        r.values.iter().map(|x| x.to_bits()).collect(),
    )
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
    for sampler in ["wishart", "raw"] {
        let m = model(sampler);
        let m = m.as_ref();
        let one = in_pool(1, || run(m, 42, 0..64, &|_| {}));
        let two = in_pool(2, || run(m, 42, 0..64, &|_| {}));
        assert_eq!(bits(&one), bits(&two), "{sampler}: 1 vs 2 threads");
        let mut sharded = in_pool(2, || run(m, 42, 0..10, &|_| {}));
        for range in [10..37, 37..64] {
            sharded.extend(in_pool(1, || run(m, 42, range.clone(), &|_| {})));
        }
        assert_eq!(bits(&one), bits(&sharded), "{sampler}: shards");
        assert_eq!(one.completed(), 64);
    }
}

#[test]
fn different_seeds_give_different_results() {
    let m = model("wishart");
    let a = run(m.as_ref(), 42, 0..4, &|_| {});
    let b = run(m.as_ref(), 43, 0..4, &|_| {});
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
    let trials = 1500;
    let w = run(model("wishart").as_ref(), 42, 0..trials, &|_| {});
    let r = run(model("raw").as_ref(), 43, 0..trials, &|_| {});
    for name in ["scaled_excess", "n_var", "n_leak", "n_rep", "m_rep"] {
        let d = ks_two_sample(&w.column(name).unwrap(), &r.column(name).unwrap());
        let p = ks_p_value(d, (trials / 2) as usize);
        assert!(p > 1e-3, "{name}: KS {d}, p {p}");
    }
}
