"""Verification on the shared models: float32 rounding noise against the tolerance, and speed.

Noise: each float32 model against its exact float64 copy (same weights, float64 arithmetic) on
its VNN-LIB box and on the unit box; `margin` = tolerance / deviation (how far the defaults are
from a false failure). Speed: `compare(a, a)` against the baseline of feeding the same points
one by one to a bare onnxruntime session, measured in the same run.
Run: .venv/bin/python bench/verify_noise.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, numpy_helper

from exactprune.domain import load_vnnlib
from exactprune.verify import DEFAULT_SAMPLES, DEFAULT_VERTICES, compare, input_spec

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
CASES = [("acasxu_1_1", "acasxu_prop_1"), ("cartpole", "cartpole_case_safe_14"),
         ("mnistfc_256x2", "mnistfc_prop_0_0.03"), ("oval21_cifar_base_kw", "oval21_cifar_base_kw")]


def float64_copy(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same model with float64 initializers, inputs and outputs."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    for t in graph.initializer:
        if t.data_type == TensorProto.FLOAT:
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float64), t.name))
    for v in (*graph.input, *graph.output, *graph.value_info):
        if v.type.tensor_type.elem_type == TensorProto.FLOAT:
            v.type.tensor_type.elem_type = TensorProto.DOUBLE
    return model


def baseline_seconds(model: onnx.ModelProto, points: int) -> float:
    """Feeding `points` inputs one at a time to a bare session (no sampling, no comparison)."""
    name, dtype, dims = input_spec(model)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).uniform(size=(points, *[d or 1 for d in dims])).astype(dtype)
    start = time.perf_counter()
    for row in x:
        session.run(None, {name: row})
    return time.perf_counter() - start


def noise(model, box) -> str:
    try:
        report = compare(model, float64_copy(model), box)
    except Exception as exc:  # e.g. no float64 kernel for Conv in onnxruntime
        return f"n/a ({type(exc).__name__}) | |"
    margin = report.tolerance / report.max_abs if report.max_abs else float("inf")
    return f"{report.max_abs:.2e} | {report.tolerance:.2e} | {margin:.0f}x"


def main() -> None:
    if not MODELS.is_dir():
        raise SystemExit(f"{MODELS} is absent")
    print("| model | domain | f32 vs f64 max abs | tolerance | margin | points "
          "| compare(a, a) s | bare ORT (1 model) s | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, spec in CASES:
        model = onnx.load(str(MODELS / f"{name}.onnx"))
        box = load_vnnlib(MODELS / f"{spec}.vnnlib")
        for domain, label in ((box, spec), (None, "unit box")):
            start = time.perf_counter()
            report = compare(model, model, domain)
            elapsed = time.perf_counter() - start
            base = baseline_seconds(model, report.n_points)
            print(f"| {name} | {label} | {noise(model, domain)} | {report.n_points} "
                  f"| {elapsed:.3f} | {base:.3f} | {elapsed / base:.2f} |")
    print(f"\ndefaults: {DEFAULT_SAMPLES} samples, {DEFAULT_VERTICES} vertices; compare runs both "
          "models, so a ratio near 2 means no overhead beyond onnxruntime.")


if __name__ == "__main__":
    main()
