use pretrainlab::dynamics::Dynamics;
use pretrainlab::dynamics::ssl::{YangSsl, YangSslParams};
fn main() {
    let seeds: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(20);
    let threads: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1);
    let m = YangSsl::new(YangSslParams::default()).unwrap();
    let pred = m.predict().unwrap();
    for (k, v) in &pred.quantities {
        println!("{k} = {v:.6}");
    }
    let t0 = std::time::Instant::now();
    let recs = m.simulate(1, seeds, Some(threads)).unwrap();
    println!("wall {:.2}s", t0.elapsed().as_secs_f64());
    let runs: Vec<_> = recs
        .iter()
        .map(|r| m.outcome(r.as_ref().unwrap()))
        .collect();
    for c in m.criteria(&pred, &runs) {
        println!(
            "{} {:<55} pred {:?} meas {:.5} se {:?}",
            if c.pass { "PASS" } else { "FAIL" },
            c.name,
            c.predicted.map(|x| (x * 1e4).round() / 1e4),
            c.measured,
            c.se.map(|x| (x * 1e4).round() / 1e4)
        );
    }
}
