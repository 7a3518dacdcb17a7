"""Bad input raises ValueError naming the field, with the command line's text; nothing
crashes the interpreter."""

import subprocess
import sys

import pytest

import pretrainlab as pl
from conftest import cli


def test_a_bad_parameter_names_it_with_the_cli_text():
    with pytest.raises(ValueError) as err:
        pl.Model("factor", k=0)
    assert "invalid `k`" in str(err.value)
    binary = cli()
    if binary is not None:
        out = subprocess.run([str(binary), "predict", "factor", "--set", "k=0"], capture_output=True, text=True)
        assert out.returncode == 2
        assert str(err.value) in out.stderr


@pytest.mark.parametrize(
    "name, params, field",
    [
        ("factor", {"d": -3}, "d"),
        ("factor", {"noise_var": float("nan")}, "noise_var"),
        ("factor", {"strengths": "many"}, "strengths"),
        ("factor", {"no_such": 1}, "no_such"),
        ("spectral", {"d": 2**70}, "d"),
        ("gmm", {"K": 10**9}, "K"),
        ("factorization", {"t_end": float("inf")}, "t_end"),
        ("diagonal", {"d": None}, "d"),
        ("nope", {}, "model"),
    ],
)
def test_bad_values_raise_value_error_naming_the_field(name, params, field):
    with pytest.raises(ValueError) as err:
        pl.Model(name, **params)
    assert field in str(err.value)


def test_bad_run_arguments():
    m = pl.Model("factor", d=5, k=2, m=4000, n=2000)
    with pytest.raises(ValueError, match="trials"):
        m.simulate(trials=0)
    with pytest.raises(ValueError, match="seed"):
        m.simulate(trials=2, seed=-1)
    with pytest.raises(ValueError, match="threads"):
        m.simulate(trials=2, threads=0, progress=False)
    with pytest.raises(ValueError):
        pl.Model("factor", d=4000, m=10**9).simulate(trials=10**8, progress=False)


def test_extreme_inputs_never_abort_the_interpreter():
    code = (
        "import pretrainlab as pl\n"
        "for kw in [dict(d=4096), dict(m=1), dict(n=1), dict(strengths=[1e300, 1e-300]), dict(beta=[float('inf')])]:\n"
        "    try:\n"
        "        pl.Model('factor', **kw).check(trials=2, progress=False)\n"
        "    except (ValueError, RuntimeError):\n"
        "        pass\n"
        "print('alive')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "alive" in out.stdout
