use pretrainlab::dynamics::ssl::{YangSsl, YangSslParams};
fn main() {
    let seeds: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(20);
    let iso = std::env::args().nth(2).is_some();
    let mut p = YangSslParams::default();
    if iso {
        p.data_noise = pretrainlab::dynamics::ssl::DataNoise::Isotropic;
    }
    let m = YangSsl::new(p).unwrap();
    let recs = m.simulate(1, seeds, None).unwrap();
    for r in &recs {
        let r = r.as_ref().unwrap();
        let o = m.outcome(r);
        let g = |k: &str| o.metric(k).unwrap();
        println!(
            "seed {:2} counts {:?} long.nuis {:.3} pred {:.3} gap {:.3} dfull {:.3} dist {:.3} | SL w1 ({:.3},{:.3}) w2 ({:.3},{:.3}) F ({:.2},{:.2}) pe2 {:.4} cos12 {:.3} bce {:.4} | sign coll {} pe2 {:.3} init w11 {:.2}",
            r.seed,
            r.counts,
            g("long.nuis_max"),
            g("long.nuis_pred_max"),
            g("long.nuis_gap"),
            g("long.dist_sample_opt"),
            g("long.dist_opt"),
            g("sl.w1_1"),
            g("sl.w1_2"),
            g("sl.w2_1"),
            g("sl.w2_2"),
            g("sl.F1"),
            g("sl.F2"),
            g("sl.proj_e2"),
            g("sl.cos_w1w2"),
            g("sl.bce"),
            g("sign.collapsed"),
            g("sign.proj_e2"),
            r.ssl_sign.init[0]
        );
    }
}
