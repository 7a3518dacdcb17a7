"""Experiments and presets from Python; Ctrl-C (KeyboardInterrupt) stops cleanly and a
later call resumes to the same results."""

import _thread
import threading
import time

import numpy as np
import pytest

import pretrainlab as pl

EXPERIMENT = {
    "name": "py-sweep",
    "description": "factor along alpha, from Python",
    "model": "factor",
    "actions": ["check"],
    "n": 2000,
    "trials": 200,
    "chunk": 50,
    "seed": 1,
    "params": {"d": 5, "k": 2},
    "sweep": {"axes": {"alpha": {"list": [1.0, 4.0]}}},
}


def test_a_dict_experiment_runs_and_gives_dataframes(tmp_path):
    res = pl.run(EXPERIMENT, output=tmp_path / "out", progress=False)
    points = res.points
    assert len(points) == 2
    assert "alpha" in points.columns
    trials = res.trials
    assert len(trials) == 400
    assert res.report is not None and res.report.is_file()
    assert res.figures and all(f.is_file() for f in res.figures)
    assert "<svg" in res._repr_html_()
    again = pl.run(EXPERIMENT, output=tmp_path / "out", progress=False)
    assert again.points.equals(points)


def test_a_preset_runs_by_name(tmp_path):
    assert "factor-demo" in pl.presets()
    res = pl.run("factor-demo", output=tmp_path / "demo", quick=True, progress=False)
    assert len(res.points) == 5


def test_keyboard_interrupt_stops_a_simulation_cleanly():
    m = pl.Model("factor", d=40, k=2, m=20000, n=10000, sampler="raw")
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        m.simulate(trials=100000, progress=False)
    assert time.monotonic() - started < 20
    assert len(m.simulate(trials=3, progress=False)) == 3


def test_keyboard_interrupt_stops_a_run_and_it_resumes(tmp_path):
    slow = dict(EXPERIMENT, name="py-slow", trials=400, chunk=10, params={"d": 30, "k": 2, "sampler": "raw"})
    slow["sweep"] = {"axes": {"alpha": {"list": [1.0, 2.0, 4.0]}}}
    timer = threading.Timer(1.0, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        pl.run(slow, output=tmp_path / "slow", progress=False)
    units = list((tmp_path / "slow" / "units").glob("*.txt"))
    assert 0 < len(units) < 120
    resumed = pl.run(slow, output=tmp_path / "slow", progress=False)
    fresh = pl.run(slow, output=tmp_path / "fresh", progress=False)
    assert np.array_equal(resumed.trials.to_numpy(), fresh.trials.to_numpy())
