"""Shared helpers of the pytest suite: the small instance of every model and the CLI."""

import json
import os
import subprocess
from pathlib import Path

import pytest

import pretrainlab
from pretrainlab import _core

ROOT = Path(__file__).resolve().parents[2]


def small(name):
    """The registry's small instance of model `name` (what the conformance suite runs)."""
    return json.loads(_core.small_params(name))


def cli():
    """The release CLI binary (built by `cargo test --release --workspace` or
    `cargo build --release`), or None."""
    path = Path(os.environ.get("PRETRAINLAB_BIN", ROOT / "target" / "release" / "pretrainlab"))
    return path if path.is_file() else None


@pytest.fixture(params=_core.model_names())
def model_name(request):
    return request.param
