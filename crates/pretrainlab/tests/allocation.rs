//! Trials allocate nothing once their workspace is warm: for every registry entry, at its
//! `small` instance, the heap allocations of three trials after a first (warm-up) trial
//! with the same workspace are counted, and must be zero. Allocations are counted per
//! thread, so the test harness's own threads do not disturb the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use pretrainlab::registry::ENTRIES;
use pretrainlab::runner::{Trials, run_one};

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

#[test]
fn warm_trials_allocate_nothing() {
    let mut report = Vec::new();
    for e in ENTRIES {
        let table: toml::Table = e.small.parse().unwrap();
        let model = (e.build)(table).unwrap();
        let mut out = vec![0.0; Trials::for_model(model.as_ref()).width()];
        let mut ws = model.workspace_any();
        run_one(model.as_ref(), 7, 0, ws.as_mut(), &mut out).unwrap();
        let before = allocs();
        for t in 1..4 {
            run_one(model.as_ref(), 7, t, ws.as_mut(), &mut out)
                .unwrap_or_else(|err| panic!("{}: trial {t} failed: {err}", e.name));
        }
        let n = allocs() - before;
        if n > 0 {
            report.push(format!("{}: {n} allocations in 3 warm trials", e.name));
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}
