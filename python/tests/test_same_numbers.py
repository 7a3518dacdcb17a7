"""The per-trial metrics from Python equal the command line's `trials.csv` bit for bit at
the same seed, for every model, and do not depend on `threads`."""

import csv
import json
import subprocess

import numpy as np
import pytest

import pretrainlab as pl
from conftest import cli, small

TRIALS = 5
SEED = 11


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return repr(v)


def test_python_equals_the_cli_bit_for_bit(model_name, tmp_path):
    binary = cli()
    if binary is None:
        pytest.skip("the release CLI is not built (cargo build --release)")
    params = small(model_name)
    config = tmp_path / "params.toml"
    config.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in params.items()))
    out = tmp_path / "out"
    run = subprocess.run(
        [str(binary), "simulate", model_name, "--config", str(config), "--trials", str(TRIALS),
         "--seed", str(SEED), "--output", str(out), "--quiet"],
        capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stderr
    with open(out / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    sim = pl.Model(model_name, **params).simulate(trials=TRIALS, seed=SEED, progress=False)
    assert [int(r["trial"]) for r in rows] == sim.trial.tolist()
    for name, values in sim.metrics.items():
        cli_values = np.array([float(r[name]) for r in rows])
        same = (cli_values == values) | (np.isnan(cli_values) & np.isnan(values))
        assert same.all(), (name, cli_values, values)


def test_results_do_not_depend_on_threads_or_chunks():
    m = pl.Model("factor", d=5, k=2, m=4000, n=2000, sampler="raw")
    one = m.simulate(trials=40, seed=5, threads=1, progress=False)
    two = m.simulate(trials=40, seed=5, threads=2, progress=False)
    for name in one.metrics:
        assert np.array_equal(one[name], two[name]), name
    whole = m._core.simulate(5, 0, 40, 2)
    for name in one.metrics:
        assert whole.column(name) == one[name].tolist()
