//! Times the `yang-ssl` SSL loop alone (condition 0, `--steps` steps, `--seeds` seeds, one
//! thread), the computation `bench/ssl_peer.py` does in NumPy:
//! `cargo run --release -p pretrainlab --example ssl_timing -- 20 4000`.

use std::time::Instant;

use pretrainlab::dynamics::ssl::{Trace, YangSsl, YangSslParams};
use pretrainlab::rng::{experiment_key, trial_rng};

fn main() {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .map_or(default, |s| s.parse().expect("a number"))
    };
    let (seeds, steps) = (arg(1, 20), arg(2, 4000));
    let model = YangSsl::new(YangSslParams {
        steps_ssl: steps,
        steps_long: 0,
        ..Default::default()
    })
    .expect("valid parameters");
    let start = Instant::now();
    let mut e2 = 0.0;
    let mut sample = model.blank_sample();
    let mut w = vec![0.0; 2 * model.dim()];
    let mut trace = Trace::default();
    let mut buf = model.step_buffers();
    for t in 0..seeds as u64 {
        let mut rng = trial_rng(1, experiment_key("yang-ssl"), t);
        model.draw_sample(&mut rng, &mut sample);
        model.init_box(&mut rng, &mut w);
        trace.clear();
        model.train_ssl(&sample, &mut w, 0, steps, &mut rng, &mut trace, &mut buf);
        e2 += pretrainlab::dynamics::ssl::projection(&w, model.dim(), 1);
    }
    println!(
        "seeds={seeds} steps={steps} wall_s={:.3} mean_proj_e2={:.4}",
        start.elapsed().as_secs_f64(),
        e2 / seeds as f64
    );
}
