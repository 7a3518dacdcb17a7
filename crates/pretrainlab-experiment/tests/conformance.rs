//! The model contract, checked for every registry entry (in the spirit of
//! scikit-learn's `check_estimator`). A model added to the registry gets all of this
//! without writing a test. Each check runs the entry's `small` instance.

use pretrainlab::budget::{Cost, Need};
use pretrainlab::criteria::{Simulation, assess};
use pretrainlab::model::{DynModel, MetricSpec, Model, Prediction};
use pretrainlab::registry::{ENTRIES, Entry};
use pretrainlab::runner::{Trials, run};
use pretrainlab_experiment::store::{Expected, Unit, read_unit, unit_text};
use rand::rngs::ChaCha8Rng;

fn small(e: &Entry) -> toml::Table {
    e.small
        .parse()
        .unwrap_or_else(|err| panic!("{}: small: {err}", e.name))
}

fn build(e: &Entry, table: toml::Table) -> Box<dyn DynModel> {
    (e.build)(table).unwrap_or_else(|err| panic!("{}: {err}", e.name))
}

fn bits(t: &Trials) -> (Vec<u64>, Vec<u64>, Vec<(u64, String)>) {
    (
        t.ids.clone(),
        t.values.iter().map(|x| x.to_bits()).collect(),
        t.failures.clone(),
    )
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

/// Trials to run per check: enough for two chunks, few enough to stay fast.
const TRIALS: u64 = 4;

#[test]
fn schema_is_named_and_unique() {
    for e in ENTRIES {
        let m = build(e, small(e));
        assert_eq!(m.name(), e.name);
        let names: Vec<&str> = m.metrics().iter().map(|x| x.name.as_str()).collect();
        assert!(!names.is_empty(), "{}: no metrics", e.name);
        for (i, x) in m.metrics().iter().enumerate() {
            assert!(
                !names[..i].contains(&x.name.as_str()),
                "{}: duplicate {}",
                e.name,
                x.name
            );
            assert!(
                !x.meaning.is_empty() && !x.unit.is_empty(),
                "{}: {} undocumented",
                e.name,
                x.name
            );
        }
        assert!(m.default_trials() >= 1);
    }
}

/// The same seed gives the same bits at 1 and 2 threads and however the trials are
/// chunked; a different seed gives different bits.
#[test]
fn trials_are_bitwise_reproducible() {
    for e in ENTRIES {
        let m = build(e, small(e));
        let m = m.as_ref();
        let one = in_pool(1, || run(m, 3, 0..TRIALS, &|_| {}));
        let two = in_pool(2, || run(m, 3, 0..TRIALS, &|_| {}));
        assert_eq!(bits(&one), bits(&two), "{}: 1 vs 2 threads", e.name);
        let mut chunked = in_pool(2, || run(m, 3, 0..1, &|_| {}));
        chunked.extend(in_pool(1, || run(m, 3, 1..TRIALS, &|_| {})));
        assert_eq!(bits(&one), bits(&chunked), "{}: chunks", e.name);
        assert_eq!(one.attempted() as u64, TRIALS);
        let other = run(m, 4, 0..1, &|_| {});
        assert_ne!(
            bits(&one).1[..m.metrics().len()],
            bits(&other).1[..],
            "{}: seeds",
            e.name
        );
    }
}

/// Every documented default is the default: giving it explicitly changes nothing.
#[test]
fn registry_defaults_are_the_defaults() {
    for e in ENTRIES {
        assert!(
            (e.build)(toml::Table::new()).is_ok(),
            "{}: bare build",
            e.name
        );
        let base = small(e);
        let reference = bits(&run(build(e, base.clone()).as_ref(), 5, 0..2, &|_| {}));
        for p in (e.info)().params {
            if base.contains_key(p.name) {
                continue;
            }
            let Ok(value) = format!("v = {}", p.default).parse::<toml::Table>() else {
                continue; // a default computed from other parameters, given in words
            };
            let mut table = base.clone();
            table.insert(p.name.to_string(), value["v"].clone());
            let with = bits(&run(build(e, table).as_ref(), 5, 0..2, &|_| {}));
            assert_eq!(
                reference, with,
                "{}: `{}` = {} is not the default",
                e.name, p.name, p.default
            );
        }
    }
}

/// A value of the wrong type, a negative value and an unknown name are errors naming the
/// parameter (a value a model accepts is fine; one it rejects must be named).
#[test]
fn bad_parameters_are_named() {
    for e in ENTRIES {
        let base = small(e);
        let named = |table: toml::Table, field: &str, what: &str| match (e.build)(table) {
            Ok(_) => false,
            Err(pretrainlab::Error::InvalidParameter { field: f, .. }) => {
                assert_eq!(f, field, "{}: {what} of `{field}` named `{f}`", e.name);
                true
            }
            Err(other) => panic!("{}: {what} of `{field}`: {other}", e.name),
        };
        for p in (e.info)().params {
            let mut wrong = base.clone();
            let is_text = p.default.starts_with('"');
            let bad = if is_text {
                toml::Value::Integer(7)
            } else {
                toml::Value::String("x".into())
            };
            wrong.insert(p.name.into(), bad);
            assert!(
                named(wrong, p.name, "a wrong type"),
                "{}: `{}` took a wrong type",
                e.name,
                p.name
            );
            if !is_text {
                let mut negative = base.clone();
                negative.insert(p.name.into(), toml::Value::Integer(-1));
                named(negative, p.name, "-1");
            }
        }
        let mut unknown = base.clone();
        unknown.insert("no_such_parameter".into(), toml::Value::Integer(1));
        assert!(named(unknown, "no_such_parameter", "an unknown name"));
    }
}

/// The prediction is finite and names only metrics of the schema.
#[test]
fn predict_is_finite() {
    for e in ENTRIES {
        let m = build(e, small(e));
        let p: Prediction = m
            .predict()
            .unwrap_or_else(|err| panic!("{}: {err}", e.name));
        assert!(p.is_finite(), "{}: non-finite prediction", e.name);
        let names: Vec<&str> = m.metrics().iter().map(|x| x.name.as_str()).collect();
        for metric in p
            .means
            .iter()
            .map(|x| &x.metric)
            .chain(p.laws.iter().map(|x| &x.metric))
        {
            assert!(
                names.contains(&metric.as_str()),
                "{}: predicts unknown {metric}",
                e.name
            );
        }
        for law in &p.laws {
            let (a, b) = (law.law.quantile(0.25), law.law.quantile(0.75));
            assert!(
                a.is_finite() && a <= b,
                "{}: quantiles of {}",
                e.name,
                law.metric
            );
            assert!(
                (law.law.cdf(b) - 0.75).abs() < 1e-6,
                "{}: cdf∘quantile",
                e.name
            );
        }
    }
}

/// A unit written by the store reads back bit for bit, and a check of the read-back
/// trials equals the check of the computed ones.
#[test]
fn the_store_round_trips() {
    let dir = std::env::temp_dir().join(format!("plab-conformance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for e in ENTRIES {
        let m = build(e, small(e));
        let trials = run(m.as_ref(), 9, 0..TRIALS, &|_| {});
        let path = dir.join(format!("{}.txt", e.name));
        std::fs::write(&path, unit_text("0123456789abcdef", &trials)).unwrap();
        let unit = Unit {
            point: 0,
            chunk: 0,
            lo: 0,
            hi: TRIALS,
        };
        let back = read_unit(
            &path,
            &Expected {
                fingerprint: "0123456789abcdef",
                columns: &Trials::for_model(m.as_ref()),
                unit: &unit,
            },
        )
        .unwrap_or_else(|err| panic!("{}: {err}", e.name));
        assert_eq!(bits(&trials), bits(&back), "{}", e.name);
        let sim = Simulation::of(m.as_ref(), 9, &back);
        assert_eq!(sim.completed + sim.failed, TRIALS as usize);
    }
}

/// A model whose odd trials fail and whose trials `t ≡ 2 (mod 4)` return a NaN metric:
/// both kinds are counted, listed and never averaged.
struct OddFails(Vec<MetricSpec>);

impl Model for OddFails {
    type Workspace = ();
    fn name(&self) -> &'static str {
        "odd-fails"
    }
    fn metrics(&self) -> &[MetricSpec] {
        &self.0
    }
    fn workspace(&self) {}
    fn trial(&self, _: &mut ChaCha8Rng, t: u64, _: &mut (), out: &mut [f64]) -> Result<(), String> {
        out[0] = if t % 4 == 2 { f64::NAN } else { t as f64 };
        if t % 2 == 1 {
            Err(format!("odd {t}"))
        } else {
            Ok(())
        }
    }
    fn predict(&self) -> pretrainlab::Result<Prediction> {
        Ok(Prediction::default())
    }
    fn default_trials(&self) -> u64 {
        10
    }
    fn cost(&self) -> Cost {
        let need = Need::new(8.0, 1.0, "t");
        Cost {
            trial: need,
            predict: need,
        }
    }
}

#[test]
fn failed_trials_are_counted_never_averaged() {
    let m = OddFails(vec![MetricSpec::new("t", "1", "the trial id")]);
    let trials = run(&m, 1, 0..10, &|_| {});
    assert_eq!(trials.ids, vec![0, 4, 8]);
    assert_eq!(trials.failures.len(), 7);
    assert!(trials.failures[1].1.contains("non-finite metric `t`"));
    let check = assess(&m, Prediction::default(), 1, &trials);
    let s = check.simulation.metric("t").unwrap();
    assert_eq!(s.mean, 4.0);
    assert_eq!(
        (check.simulation.completed, check.simulation.failed),
        (3, 7)
    );
    assert!(!check.pass, "most trials failed: {:?}", check.reasons());
}

/// A random valid configuration of a two-stage model, from `rng`: dimension, rank,
/// strengths or noise, downstream noise and target, and sizes in the regime where the
/// asymptotics apply (m ≫ d, well separated strengths).
fn random_two_stage(name: &str, rng: &mut ChaCha8Rng) -> toml::Table {
    use rand::RngExt;
    let mut t = toml::Table::new();
    if name == "gmm" {
        let k: i64 = rng.random_range(2..=3);
        t.insert("K".into(), k.into());
        t.insert("d".into(), rng.random_range(k..=k + 3).into());
        t.insert("beta".into(), rng.random_range(2.5..4.0).into());
        t.insert("noise_var".into(), rng.random_range(0.001..0.01).into());
        for (key, value) in [
            ("risk_samples", 5_000),
            ("fisher_samples", 30_000),
            ("proj_samples", 100_000),
            ("eval_samples", 100_000),
            ("m", 4_000),
        ] {
            t.insert(key.into(), value.into());
        }
        t.insert("n".into(), rng.random_range(200_i64..1000).into());
        return t;
    }
    let d: i64 = rng.random_range(3..=7);
    let k: i64 = rng.random_range(1..=2);
    t.insert("d".into(), d.into());
    t.insert("k".into(), k.into());
    t.insert("noise_var".into(), rng.random_range(0.2..2.0).into());
    let beta: Vec<toml::Value> = (0..k).map(|_| rng.random_range(-2.0..2.0).into()).collect();
    t.insert("beta".into(), beta.into());
    if name == "factor" {
        let top: f64 = rng.random_range(3.0..10.0);
        let strengths: Vec<toml::Value> =
            (0..k).map(|i| (top / 2f64.powi(i as i32)).into()).collect();
        t.insert("strengths".into(), strengths.into());
        t.insert("m".into(), 40_000.into());
        t.insert("n".into(), rng.random_range(200_i64..2000).into());
    } else {
        t.insert("m".into(), 10_000.into());
        t.insert("n".into(), rng.random_range(200_i64..2000).into());
    }
    t
}

/// Calibration: at seeded random valid configurations of `factor` (12), `spectral` (6)
/// and `gmm` (4, where the finite-`n` terms are estimated), the z-scores of the decisive `mean_scaled_excess` criterion must look like
/// N(0, 1). Two tests on the pooled z: `z²` against χ²₁ (KS, p ≥ 10⁻³) and the pooled
/// mean `Σz/√N` within ±3.3, each a false-alarm rate of about 10⁻³ when the theory is
/// right. A theory or simulator off by a few standard errors fails one of them.
#[test]
fn two_stage_z_scores_are_calibrated() {
    use pretrainlab::theory::WeightedChiSquare;
    use pretrainlab::theory::weighted_chisq::{ks_p_value, ks_statistic};
    let mut rng = pretrainlab::rng::trial_rng(2026, 12, 4);
    let mut z = Vec::new();
    for (name, configs, trials) in [("factor", 12, 2000), ("spectral", 6, 600), ("gmm", 4, 300)] {
        for i in 0..configs {
            let table = random_two_stage(name, &mut rng);
            let m = pretrainlab::registry::build(name, table.clone())
                .unwrap_or_else(|e| panic!("{name} {table:?}: {e}"));
            let check = pretrainlab::criteria::check(m.as_ref(), i, trials, &|_| {}).unwrap();
            let c = check
                .means
                .iter()
                .find(|c| c.quantity == "scaled_excess")
                .unwrap();
            z.push(c.z);
        }
    }
    let chi1 = WeightedChiSquare::new(&[1.0]).unwrap();
    let squares: Vec<f64> = z.iter().map(|z| z * z).collect();
    let p = ks_p_value(ks_statistic(&squares, |x| chi1.cdf(x)), squares.len());
    let pooled = z.iter().sum::<f64>() / (z.len() as f64).sqrt();
    eprintln!("calibration: KS p = {p}, pooled = {pooled}, z = {z:?}");
    assert!(p >= 1e-3, "z² is not χ²₁ (KS p = {p}): {z:?}");
    assert!(pooled.abs() <= 3.3, "pooled mean z = {pooled}: {z:?}");
}

/// Every declared claim has a unique, file-safe id, a paper cited with its arXiv id, a
/// location, trials, and an instance that builds; a closed-form claim names a reference
/// that the instance's prediction gives and a metric it simulates.
#[test]
fn declared_claims_are_well_formed() {
    use pretrainlab::audit::ClaimTest;
    let mut ids = std::collections::HashSet::new();
    for e in pretrainlab::registry::ENTRIES {
        for c in e.claims {
            assert!(ids.insert(c.id), "duplicate claim id {}", c.id);
            assert!(
                c.id.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-._".contains(ch)),
                "{}",
                c.id
            );
            assert!(c.paper.contains("arXiv "), "{}: {}", c.id, c.paper);
            assert!(
                !c.location.is_empty() && !c.statement.is_empty(),
                "{}",
                c.id
            );
            assert!(
                c.trials >= c.quick_trials && c.quick_trials >= 1,
                "{}",
                c.id
            );
            let table: toml::Table = c.params.parse().unwrap();
            let model = pretrainlab::registry::build(e.name, table)
                .unwrap_or_else(|err| panic!("{}: {err}", c.id));
            if let ClaimTest::PaperForm { reference, metric } = c.test {
                assert!(model.metrics().iter().any(|m| m.name == metric), "{}", c.id);
                let p = model.predict().unwrap();
                assert!(
                    p.references.iter().any(|r| r.key.starts_with(reference)),
                    "{}: no reference {reference}",
                    c.id
                );
            }
        }
    }
    assert!(ids.len() >= 6);
}
