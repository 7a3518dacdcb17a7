//! The SSL and SL training loops allocate nothing: their per-step buffers and the room of
//! their traces are given to them. Allocations are counted per thread, so the test
//! harness's own threads do not disturb the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use pretrainlab::dynamics::ssl::{Trace, YangSsl, YangSslParams};
use pretrainlab::rng::trial_rng;

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn bump() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn count(steps: usize) -> (usize, usize) {
    let model = YangSsl::new(YangSslParams {
        steps_sl: steps,
        steps_ssl: steps,
        steps_long: 0,
        record_every: 10,
        ..Default::default()
    })
    .unwrap();
    let mut rng = trial_rng(1, 2, 3);
    let mut sample = model.blank_sample();
    model.draw_sample(&mut rng, &mut sample);
    let (mut w, mut wt) = (vec![0.0; 2 * model.dim()], vec![0.0; 2 * model.dim()]);
    model.init_box(&mut rng, &mut w);
    let mut f = model.init_sl(&mut rng, &mut wt);
    let mut trace = Trace::with_capacity(steps / 10 + 2);
    let mut trace_sl = Trace::with_capacity(steps / 10 + 2);
    let mut buf = model.step_buffers();
    let before = allocs();
    model.train_ssl(&sample, &mut w, 0, steps, &mut rng, &mut trace, &mut buf);
    let mid = allocs();
    model.train_sl(&sample, &mut wt, &mut f, &mut trace_sl, &mut buf);
    let after = allocs();
    (mid - before, after - mid)
}

#[test]
fn training_loops_do_not_allocate() {
    for steps in [20, 2000] {
        assert_eq!(
            count(steps),
            (0, 0),
            "allocations (SSL, SL) for {steps} steps"
        );
    }
}
