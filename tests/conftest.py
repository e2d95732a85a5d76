"""Shared fixtures. The tests mirror the package (tests/<unit>/ for exactprune/<unit>/); what
they build (tiny ONNX models, planted networks, third-party models) lives in builders.py, which
this directory being on sys.path makes importable from every test module."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from builders import SAMPLE_MODELS, random_mlp, save_model


@pytest.fixture
def tiny_model(tmp_path) -> Path:
    """A copy of the shipped 2-8-8-2 sample model (it stores its domain), in tmp_path."""
    return Path(shutil.copy(SAMPLE_MODELS / "tiny_2d.onnx", tmp_path / "m.onnx"))


@pytest.fixture
def mlp_file(tmp_path):
    """make(widths=(3, 4, 2), name="m.onnx", **random_mlp options) -> the path of a random
    Gemm + Relu model written into tmp_path."""

    def make(widths=(3, 4, 2), name: str = "m.onnx", **kwargs) -> Path:
        return save_model(random_mlp(list(widths), **kwargs), tmp_path / name)

    return make
