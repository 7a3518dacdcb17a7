"""Every model's predict, simulate and check from Python, at its small instance; the
DataFrame conversions; the laws."""

import numpy as np
import pytest

import pretrainlab as pl
from conftest import small

TRIALS = 6


def test_models_lists_every_model_with_its_parameters():
    table = pl.models()
    names = set(table["model"]) if hasattr(table, "columns") else {r["model"] for r in table}
    assert {"factor", "spectral", "gmm", "yang-ssl", "factorization", "diagonal"} <= names
    if hasattr(table, "columns"):
        assert {"parameter", "default", "meaning"} <= set(table.columns)


def test_predict_simulate_check(model_name):
    m = pl.Model(model_name, **small(model_name))
    p = m.predict()
    assert p.model == model_name
    assert all(np.isfinite(v) for v in p.quantities.values())
    sim = m.simulate(trials=TRIALS, seed=3, progress=False)
    assert len(sim) + len(sim.failures) == TRIALS
    for name in m.metrics:
        assert sim[name].shape == (len(sim),)
    frame = sim.to_pandas()
    assert list(frame.columns) == ["trial"] + m.metrics
    assert len(frame) == len(sim)
    res = m.check(trials=TRIALS, seed=3, progress=False)
    assert res.verdict in ("pass", "fail")
    assert res.criteria and all("pass" in c for c in res.criteria)
    assert "<table>" in res._repr_html_()
    assert len(res.to_pandas()) == len(res.criteria)
    for law in p.laws.values():
        assert law.metric in res.ks


def test_laws_are_vectorised_and_consistent():
    m = pl.Model("factor", d=5, k=2, m=4000, n=2000)
    law = m.predict().laws["m_rep"]
    q = np.array([[0.1, 0.5], [0.9, 0.99]])
    x = law.quantile(q)
    assert x.shape == (2, 2)
    np.testing.assert_allclose(law.cdf(x), q, atol=1e-6)
    assert isinstance(law.cdf(1.0), float)
    assert law.mean() > 0 and law.var() > 0
    with pytest.raises(ValueError, match="quantile"):
        law.quantile(1.5)


def test_check_shows_its_figure_inline():
    res = pl.Model("factor", d=5, k=2, m=4000, n=2000).check(trials=200, progress=False)
    assert res.passed, res.reasons
    assert res.figure_svg and res.figure_svg.lstrip().startswith("<svg")
    assert "<svg" in res._repr_html_()
    assert res.simulation["m_rep"].mean() == pytest.approx(res.simulation.summary["m_rep"]["mean"])


def test_plan_matches_its_closed_form_and_the_cli():
    m = pl.Model("factor")
    p = m.plan(cost_unlabeled=1.0, cost_labeled=10.0, budget=1e5)
    k, plan = p["constants"], p["plan"]
    s = np.sqrt(k["variance"] * 10.0) + np.sqrt(k["interaction"] * 1.0)
    assert plan["risk"] == pytest.approx(s * s / 1e5, rel=1e-12)
    assert plan["m"] + 10.0 * plan["n"] == pytest.approx(1e5, rel=1e-12)
    assert p["figure_svg"].lstrip().startswith("<svg")
    target = m.plan(1.0, 10.0, target_risk=plan["risk"])["plan"]
    assert target["budget"] == pytest.approx(1e5, rel=1e-9)
    with pytest.raises(ValueError, match="two-stage"):
        pl.Model("factorization").plan(1.0, 1.0, budget=10.0)
