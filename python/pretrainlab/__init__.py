"""pretrainlab: simulate, predict and check the theory of pre-training and of
high-dimensional learning dynamics, from Python, with the same engine as the command line.

Every model answers a question three ways:

>>> import pretrainlab as pl
>>> m = pl.Model("factor", d=5, k=2, m=4000, n=2000)
>>> pred = m.predict()            # the theory: quantities, predicted means, limit laws
>>> sim = m.simulate(trials=200)  # Monte Carlo trials: one NumPy array per metric
>>> res = m.check(trials=200)     # both, compared: criteria and a verdict
>>> res.verdict
'pass'

``pl.models()`` lists the models with their parameters; ``pl.run(...)`` runs experiment
files and the built-in presets (``pl.presets()``) into a results folder.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

import numpy as np

from . import _core

__all__ = [
    "CheckResult",
    "Law",
    "Model",
    "Prediction",
    "RunResult",
    "Simulation",
    "models",
    "presets",
    "run",
]
__version__ = "0.1.0"


def _pandas():
    try:
        import pandas

        return pandas
    except ImportError:
        return None


def _plain(value: Any) -> Any:
    """NumPy arrays and scalars as plain Python values (lists, floats, ints)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _table_html(rows: List[Dict[str, Any]], columns: List[str]) -> str:
    import html

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


class _Progress:
    """A progress display: tqdm when installed, else a line on stderr every few seconds."""

    def __init__(self, total: int, label: str, enabled: bool):
        self.total, self.label, self.done = total, label, 0
        self.bar = None
        self.enabled = enabled
        self.last = time.monotonic()
        if enabled:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, desc=label, unit="trial")
            except ImportError:
                self.bar = None

    def update(self, k: int) -> None:
        self.done += k
        if self.bar is not None:
            self.bar.update(k)
        elif self.enabled and time.monotonic() - self.last >= 2.0:
            self.last = time.monotonic()
            print(f"{self.label}: {self.done}/{self.total} trials", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def models():
    """Every model with its parameters, defaults and meanings: a pandas DataFrame (one
    row per parameter) when pandas is installed, else a list of dicts."""
    rows = []
    for m in json.loads(_core.models_json()):
        for p in m["params"]:
            rows.append(
                {
                    "model": m["name"],
                    "parameter": p["name"],
                    "default": p["default"],
                    "meaning": p["meaning"],
                    "summary": m["summary"],
                    "source": m["source"],
                }
            )
    pd = _pandas()
    return pd.DataFrame(rows) if pd is not None else rows


def presets() -> Dict[str, str]:
    """The built-in presets (paper figures and demos): name → one-line summary."""
    return dict(_core.presets())


class Law:
    """A predicted law of one metric: ``cdf``, ``quantile``, ``mean`` and ``var``, the
    first two vectorised over NumPy arrays."""

    def __init__(self, inner: Any):
        self._inner = inner
        self.metric: str = inner.metric
        self.decisive: bool = inner.decisive

    def mean(self) -> float:
        """E X."""
        return self._inner.mean()

    def var(self) -> float:
        """Var X."""
        return self._inner.var()

    def cdf(self, x):
        """P(X ≤ x), elementwise; a float for a scalar."""
        a = np.asarray(x, dtype=float)
        out = np.asarray(self._inner.cdf(a.ravel().tolist()), dtype=float).reshape(a.shape)
        return float(out) if out.ndim == 0 else out

    def quantile(self, q):
        """The q-quantile, elementwise, q in (0, 1); ValueError outside."""
        a = np.asarray(q, dtype=float)
        out = np.asarray(self._inner.quantile(a.ravel().tolist()), dtype=float).reshape(a.shape)
        return float(out) if out.ndim == 0 else out

    def __repr__(self) -> str:
        return f"Law({self.metric}: {self._inner.describe()})"


class Prediction:
    """The theory's answer for one model instance.

    Attributes: ``quantities`` (name → value) and ``se`` (name → Monte Carlo s.e. where
    the theory is estimated), ``means`` (predicted mean of each metric), ``laws`` (metric
    → :class:`Law`), ``references`` (papers' closed forms and other labelled values),
    ``curves``, ``warnings`` (where the instance is outside the asymptotic regime) and
    ``raw`` (the CLI's ``predict --format json`` object).
    """

    def __init__(self, raw: Dict[str, Any], quantities: List[tuple], laws: List[Any]):
        self.raw = raw
        self.model: str = raw["model"]
        self.means: List[Dict[str, Any]] = raw.get("means", [])
        self.references: List[Dict[str, Any]] = raw.get("references", [])
        self.curves: Dict[str, Any] = raw.get("curves", {})
        self.warnings: List[str] = raw.get("warnings", [])
        self.laws: Dict[str, Law] = {l.metric: Law(l) for l in laws}
        self.quantities: Dict[str, float] = {}
        self.se: Dict[str, float] = {}
        for name, value, se in quantities:
            self.quantities[name] = value
            if se is not None:
                self.se[name] = se

    def __getitem__(self, name: str) -> float:
        return self.quantities[name]

    def to_pandas(self):
        """The quantities as a DataFrame (``name``, ``value``, ``se``)."""
        rows = [{"name": k, "value": v, "se": self.se.get(k)} for k, v in self.quantities.items()]
        pd = _pandas()
        return pd.DataFrame(rows) if pd is not None else rows

    def _repr_html_(self) -> str:
        rows = [{"name": k, "value": v, "s.e.": self.se.get(k)} for k, v in self.quantities.items()]
        html = f"<h4>{self.model}: prediction</h4>" + _table_html(rows, ["name", "value", "s.e."])
        if self.means:
            html += "<p>predicted means</p>" + _table_html(self.means, ["metric", "value", "se", "decisive"])
        for w in self.warnings:
            html += f"<p><b>warning:</b> {w}</p>"
        return html

    def __repr__(self) -> str:
        return f"Prediction({self.model}, {len(self.quantities)} quantities, laws: {list(self.laws)})"


class Simulation:
    """Per-trial metrics of a run.

    ``metrics`` maps each metric to a NumPy array over the completed trials (in trial
    order, ``trial`` holds their ids); ``failures`` lists ``(trial, reason)`` of failed
    ones; ``summary`` is the CLI's ``simulate --format json`` object (mean, s.e. and
    quantiles per metric).
    """

    def __init__(self, model: "Model", trials: Any, seed: int):
        self._trials = trials
        self.model: str = model.name
        self.seed = seed
        self.trial = np.asarray(trials.ids(), dtype=np.uint64)
        self.metrics: Dict[str, np.ndarray] = {
            name: np.asarray(trials.column(name), dtype=float) for name in trials.metrics()
        }
        self.failures = trials.failures()
        self.summary: Dict[str, Any] = json.loads(model._core.summary_json(trials, seed))

    def __getitem__(self, metric: str) -> np.ndarray:
        return self.metrics[metric]

    def __len__(self) -> int:
        return len(self.trial)

    def trace(self, i: int, name: str) -> np.ndarray:
        """Curve ``name`` of the ``i``-th completed trial (dynamics models)."""
        return np.asarray(self._trials.trace(i, name), dtype=float)

    def to_pandas(self):
        """One row per completed trial: ``trial`` then one column per metric."""
        pd = _pandas()
        if pd is None:
            raise ImportError("to_pandas needs pandas: pip install pandas")
        frame = pd.DataFrame({"trial": self.trial})
        for k, v in self.metrics.items():
            frame[k] = v
        return frame

    def _repr_html_(self) -> str:
        rows = []
        for name in self.metrics:
            s = self.summary.get(name)
            if isinstance(s, dict):
                rows.append({"metric": name, **s})
        cols = ["metric", "mean", "se", "q05", "q50", "q95"]
        return (
            f"<h4>{self.model}: {len(self)} trials ({len(self.failures)} failed), seed {self.seed}</h4>"
            + _table_html(rows, cols)
        )

    def __repr__(self) -> str:
        return f"Simulation({self.model}, {len(self)} trials, metrics {list(self.metrics)})"


class CheckResult:
    """Simulation against theory: ``criteria`` (name, statement, predicted, measured,
    se, pass), ``verdict`` (``"pass"`` or ``"fail"``), ``reasons``, ``ks`` (metric →
    (KS statistic, p-value)), ``means`` (simulated against predicted, with z), the
    ``prediction`` and the ``simulation``, ``figure_svg`` (empirical CDFs against the
    laws) and ``raw`` (the CLI's ``check --format json`` object)."""

    def __init__(self, raw: Dict[str, Any], svg: Optional[str], prediction: Prediction, simulation: Simulation):
        self.raw = raw
        self.verdict: str = raw["verdict"]
        self.passed: bool = self.verdict == "pass"
        self.criteria: List[Dict[str, Any]] = raw["criteria"]
        self.reasons: List[str] = raw.get("reasons", [])
        self.means: List[Dict[str, Any]] = raw.get("means", [])
        self.ks: Dict[str, tuple] = {l["metric"]: (l["ks"], l["p_value"]) for l in raw.get("laws", [])}
        self.prediction = prediction
        self.simulation = simulation
        self.figure_svg = svg

    def to_pandas(self):
        """The criteria as a DataFrame."""
        pd = _pandas()
        return pd.DataFrame(self.criteria) if pd is not None else self.criteria

    def _repr_html_(self) -> str:
        colour = "#2a7" if self.passed else "#c33"
        html = f"<h4>{self.prediction.model}: verdict <span style='color:{colour}'>{self.verdict}</span></h4>"
        html += _table_html(self.criteria, ["name", "predicted", "measured", "se", "pass", "statement"])
        for w in self.prediction.warnings:
            html += f"<p><b>warning:</b> {w}</p>"
        if self.figure_svg:
            html += f"<div style='max-width:900px'>{self.figure_svg}</div>"
        return html

    def __repr__(self) -> str:
        failed = [c["name"] for c in self.criteria if not c["pass"]]
        return f"CheckResult({self.prediction.model}: {self.verdict}" + (f", failing {failed})" if failed else ")")


class Model:
    """A model of the registry with validated parameters.

    ``Model(name, **params)``: parameters left out take their defaults
    (``pretrainlab.models()`` lists them). A bad value raises ``ValueError`` naming the
    parameter and its allowed range, with the command line's text.

    Examples
    --------
    >>> m = Model("spectral", d=3, k=1, m=20000, n=10000)
    >>> m.predict()["interaction_mean"]
    9.375
    """

    def __init__(self, name: str, **params: Any):
        self.params = _plain(params)
        self._core = _core.Model(name, self.params)
        self.name: str = self._core.name

    @property
    def metrics(self) -> List[str]:
        """The per-trial metrics, in column order."""
        return [m[0] for m in self._core.metrics()]

    def predict(self) -> Prediction:
        """The theory's answer: quantities, predicted means, limit laws and references."""
        raw, quantities = self._core.predict()
        return Prediction(json.loads(raw), quantities, self._core.laws())

    def _trials(self, trials: Optional[int], seed: int, threads: Optional[int], progress: bool):
        count = self._core.default_trials() if trials is None else int(trials)
        if count < 1 or count > 100_000_000:
            raise ValueError(f"invalid `trials`: must be an integer from 1 to 10^8, got {trials}")
        if seed < 0 or seed >= 2**64:
            raise ValueError(f"invalid `seed`: must be an integer from 0 to 2^64 - 1, got {seed}")
        self._core.admit(count)
        bar = _Progress(count, self.name, progress)
        done, step, out = 0, 1, None
        try:
            # Chunks grow until each takes about a quarter of a second, so Ctrl-C is
            # answered quickly; the bits do not depend on the chunking.
            while done < count:
                end = min(count, done + step)
                started = time.monotonic()
                part = self._core.simulate(seed, done, end, threads)
                if out is None:
                    out = part
                else:
                    out.extend(part)
                bar.update(end - done)
                done = end
                if time.monotonic() - started < 0.25:
                    step *= 2
        finally:
            bar.close()
        return out

    def simulate(self, trials: Optional[int] = None, seed: int = 1, threads: Optional[int] = None, progress: bool = True) -> Simulation:
        """Runs ``trials`` Monte Carlo trials (seeds of a dynamics model; default: the
        model's own) under master seed ``seed`` on ``threads`` workers (default: all
        cores). The results do not depend on ``threads``. Ctrl-C stops between chunks
        with ``KeyboardInterrupt``."""
        return Simulation(self, self._trials(trials, seed, threads, progress), seed)

    def check(self, trials: Optional[int] = None, seed: int = 1, threads: Optional[int] = None, progress: bool = True) -> CheckResult:
        """Simulates, predicts and compares: the criteria and the verdict."""
        t = self._trials(trials, seed, threads, progress)
        raw, svg = self._core.check(t, seed)
        raw = json.loads(raw)
        _, quantities = self._core.predict()
        prediction = Prediction(raw["prediction"], quantities, self._core.laws())
        return CheckResult(raw, svg, prediction, Simulation(self, t, seed))

    def plan(self, cost_unlabeled: float, cost_labeled: float, budget: Optional[float] = None, target_risk: Optional[float] = None) -> Dict[str, Any]:
        """The budget split of a two-stage model, as ``pretrainlab plan`` computes it: the
        (m, n) minimising the predicted excess risk A/n + C/m on c_m·m + c_n·n = budget,
        its risk, the downstream-only alternative and the verdict (``plan["pretrain"]``,
        ``plan["margin"]``). With ``target_risk``, the cheapest budget reaching it. The
        result also holds ``constants``, ``costs`` and ``figure_svg`` (the iso-risk
        contours with the budget line and the optimum)."""
        raw, svg = self._core.plan(float(cost_unlabeled), float(cost_labeled), budget, target_risk)
        out = json.loads(raw)
        out["figure_svg"] = svg
        return out

    def __repr__(self) -> str:
        return f"Model({self.name!r}, {self.params})"


class RunResult:
    """A finished experiment or preset: ``folders`` (its results folders), ``files``
    (relative to ``folder``), ``figures`` (SVG paths), ``report`` (path of
    ``report.html``), and ``points`` / ``trials``: the tables as DataFrames (pandas) or
    lists of dicts."""

    def __init__(self, folder: Path, outcome: Dict[str, Any]):
        self.folder = folder
        self.folders = [Path(f) for f in outcome.get("folders", [])]
        self.files: List[str] = outcome.get("files", [])
        self.figures = [folder / f for f in self.files if f.endswith(".svg")]
        reports = [folder / f for f in self.files if f.endswith("report.html")]
        self.report: Optional[Path] = reports[0] if reports else None

    def _table(self, name: str):
        paths = [d / name for d in self.folders if (d / name).is_file()]
        pd = _pandas()
        if pd is not None:
            frames = [pd.read_csv(p) for p in paths]
            return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        import csv

        rows: List[Dict[str, Any]] = []
        for p in paths:
            with open(p, newline="") as f:
                rows.extend(csv.DictReader(f))
        return rows

    @property
    def points(self):
        """One row per point of the sweep: its coordinates, summaries and verdict."""
        return self._table("points.csv")

    @property
    def trials(self):
        """One row per trial of every point."""
        return self._table("trials.csv")

    def _repr_html_(self) -> str:
        html = f"<h4>results in {self.folder}</h4><ul>" + "".join(f"<li>{f}</li>" for f in self.files[:30]) + "</ul>"
        if self.figures:
            html += f"<div style='max-width:900px'>{self.figures[0].read_text()}</div>"
        return html

    def __repr__(self) -> str:
        return f"RunResult({self.folder}, {len(self.files)} files)"


def run(
    experiment: Union[str, Path, Dict[str, Any]],
    output: Optional[Union[str, Path]] = None,
    quick: bool = False,
    fresh: bool = False,
    threads: Optional[int] = None,
    progress: bool = True,
) -> RunResult:
    """Runs (or resumes) an experiment: a TOML file, a dict of the same shape, or the
    name of a built-in preset (``pretrainlab.presets()``). Results go to ``output``
    (default: as the command line, ``results/<name>``, ``-quick`` appended under
    ``quick``). Returns a :class:`RunResult`. Ctrl-C stops after the unit in flight with
    ``KeyboardInterrupt``; a later call resumes."""
    bar: Optional[_Progress] = None

    def report(kind: str, value: Any) -> None:
        nonlocal bar
        if not progress:
            return
        if kind == "begin":
            bar = _Progress(int(value), "run", True)
        elif kind == "trials" and bar is not None:
            bar.update(int(value))
        elif kind == "end" and bar is not None:
            bar.close()
        elif kind == "note":
            print(f"note: {value}", file=sys.stderr)

    if isinstance(experiment, str) and experiment in presets():
        folder = Path(output) if output is not None else Path("results") / (experiment + ("-quick" if quick else ""))
        outcome = _core.run_preset(experiment, str(folder), quick, fresh, threads, report)
    else:
        if isinstance(experiment, dict):
            text = _core.experiment_toml(_plain(experiment))
        else:
            path = Path(experiment)
            if not path.is_file():
                raise ValueError(f"invalid `experiment`: {experiment} is neither a file nor a preset name")
            text = path.read_text()
        folder = Path(output) if output is not None else Path(_core.experiment_folder(text, quick))
        outcome = _core.run_experiment(text, str(folder), quick, fresh, threads, report)
    outcome = json.loads(outcome)
    if outcome["status"] != "finished":
        raise RuntimeError(outcome.get("message", "the run did not finish"))
    return RunResult(folder, outcome)
