"""Label outputs: equal, or a tie of the float outputs within the tolerance (counted)."""

from __future__ import annotations

import numpy as np
from builders import init, make_model
from onnx import helper

from exactprune.domain import Box
from exactprune.equivalence import compare


def classifier(shift: float):
    """logits = [x, x + shift] and label = ArgMax(logits): two outputs."""
    nodes = [helper.make_node("Gemm", ["x", "W", "b"], ["logits"], name="G", transB=1),
             helper.make_node("ArgMax", ["logits"], ["label"], name="A", axis=1, keepdims=0)]
    inits = [init("W", np.array([[1.0], [1.0]])), init("b", np.array([0.0, shift]))]
    model = make_model(nodes, [("x", ["N", 1])], [("logits", ["N", 2])], inits)
    label = helper.make_tensor_value_info("label", 7, ["N"])  # INT64
    model.graph.output.append(label)
    return model


def test_another_label_at_a_tie_is_counted_not_failed():
    box = Box(np.array([-1.0]), np.array([1.0]), "box")
    report = compare(classifier(0.0), classifier(1e-7), box)  # ArgMax flips from 0 to 1
    assert report.passed and report.label_ties == report.n_points


def test_another_label_without_a_tie_fails():
    box = Box(np.array([-1.0]), np.array([1.0]), "box")
    report = compare(classifier(0.0), classifier(0.5), box)
    assert not report.passed and report.label_ties == 0 and report.max_abs == np.inf
