//! Times the stages of one mixture trial (sampling, EM, features); used to find the
//! upper-register state penalty documented at `linalg::clean_simd_state`.
use faer::Mat;
use pretrainlab::models::gmm::{GmmModel, GmmParams, em};
use pretrainlab::rng::trial_rng;
fn main() {
    let m = GmmModel::new(GmmParams::default()).unwrap();
    let mut rng = trial_rng(1, 2, 3);
    let mut x = Mat::<f64>::zeros(8, 20000);
    let t = std::time::Instant::now();
    GmmModel::sample_mixture(m.u_star(), &mut rng, x.as_mut());
    println!("sample {:?}", t.elapsed());
    let mut u = m.u_star().to_owned();
    let mut s = em::EmScratch::default();
    let t = std::time::Instant::now();
    let f = em::fit(
        x.as_ref(),
        u.as_mut(),
        1e-8,
        5000,
        em::Accel::default(),
        &mut s,
    )
    .unwrap();
    println!("em {:?} {:?}", t.elapsed(), f);
    let proj = pretrainlab::models::gmm::Projection::new(u.as_ref(), 2).unwrap();
    let t = std::time::Instant::now();
    let mut pi = vec![0.0; 3];
    let mut psi = vec![0.0; 9];
    let z = [0.3, 0.2];
    let mut acc = 0.0;
    for _ in 0..100000 {
        proj.features(&z, &mut pi, &mut psi);
        acc += psi[0];
    }
    println!("features 1e5 {:?} {acc}", t.elapsed());
}
