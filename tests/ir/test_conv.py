"""Conv2d against an independent dense reference (explicit loops over ONNX's formula) and
onnxruntime: every protocol method, for strides, pads, dilations and groups."""

import numpy as np
import pytest
from builders import init, make_model, run_ort
from onnx import helper

from exactprune.errors import UnsupportedModelError
from exactprune.ir.conv import Conv2d

CASES = [  # in_shape, (C_out, KH, KW), strides, pads, dilations, groups
    ((3, 7, 6), (4, 3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 1),
    ((2, 8, 9), (3, 4, 2), (2, 3), (1, 0, 2, 1), (1, 1), 1),
    ((4, 9, 9), (4, 2, 3), (1, 2), (1, 1, 1, 1), (2, 2), 4),  # depthwise, dilated
    ((4, 6, 7), (6, 3, 3), (2, 1), (0, 2, 1, 0), (1, 2), 2),
]


def layer_of(case, seed=0) -> Conv2d:
    in_shape, (co, kh, kw), strides, pads, dil, groups = case
    rng = np.random.default_rng(seed)
    kernel = rng.normal(size=(co, in_shape[0] // groups, kh, kw))
    return Conv2d(kernel, rng.normal(size=co), in_shape, strides, pads, dil, groups)


def reference(layer: Conv2d) -> np.ndarray:
    """The dense matrix of the convolution, entry by entry from ONNX's definition."""
    c, hh, ww = layer.in_shape
    co, ho, wo = layer.out_shape
    cg, kh, kw = layer.kernel.shape[1:]
    og = co // layer.groups
    w = np.zeros((co, ho, wo, c, hh, ww))
    for o in range(co):
        for y in range(ho):
            for x in range(wo):
                for q in range(cg):
                    for i in range(kh):
                        for j in range(kw):
                            r = y * layer.strides[0] - layer.pads[0] + i * layer.dilations[0]
                            s = x * layer.strides[1] - layer.pads[1] + j * layer.dilations[1]
                            if 0 <= r < hh and 0 <= s < ww:
                                w[o, y, x, (o // og) * cg + q, r, s] += layer.kernel[o, q, i, j]
    return w.reshape(layer.n_out, layer.n_in)


@pytest.mark.parametrize("case", CASES)
def test_protocol_matches_dense_reference(case):
    layer = layer_of(case)
    w, b = reference(layer), layer.bias
    rng = np.random.default_rng(1)
    h = rng.normal(size=(5, layer.n_in))
    assert np.allclose(layer.affine(h), h @ w.T + b)
    lo, up = h - rng.uniform(size=h.shape), h + rng.uniform(size=h.shape)
    wp, wn = np.maximum(w, 0), np.minimum(w, 0)
    got = layer.interval(lo, up)
    assert np.allclose(got[0], lo @ wp.T + up @ wn.T + b)
    assert np.allclose(got[1], up @ wp.T + lo @ wn.T + b)
    assert np.allclose(got[2], np.maximum(abs(lo), abs(up)) @ abs(w).T + abs(b))
    d = rng.normal(size=(2, 3, layer.n_out))
    assert np.allclose(layer.backward(d), d @ w)
    sub = layer.substitute(d, abs(d))
    for got, want in zip(sub, (d @ w, abs(d) @ abs(w), d @ b, abs(d) @ abs(b))):
        assert np.allclose(got, want)
    dense = np.zeros_like(w)
    for j, cols, coef in layer.rows():
        dense[j, cols] = coef
    assert np.allclose(dense, w)
    assert np.allclose(layer.as_dense().weight, w)
    assert np.allclose(layer.row_l1(), abs(w).sum(axis=1))
    assert np.allclose(layer.weight_rows(np.array([3, 0, 3])), w[[3, 0, 3]])


@pytest.mark.parametrize("case", CASES)
def test_affine_matches_onnxruntime(case):
    layer = layer_of(case, seed=3)
    c, hh, ww = layer.in_shape
    node = helper.make_node("Conv", ["x", "K", "B"], ["y"], strides=list(layer.strides),
                            pads=list(layer.pads[:1] + layer.pads[1:2] + layer.pads[2:]),
                            dilations=list(layer.dilations), group=layer.groups)
    model = make_model([node], [("x", ["N", c, hh, ww])], [("y", ["N", *layer.out_shape])],
                       [init("K", layer.kernel), init("B", layer.channel_bias)])
    x = np.random.default_rng(2).normal(size=(4, c, hh, ww)).astype(np.float32)
    got = layer.affine(x.reshape(4, -1).astype(np.float64))
    assert np.allclose(got, run_ort(model, x).reshape(4, -1), atol=1e-4)


def test_as_dense_refuses_large_layers():
    layer = Conv2d(np.ones((64, 3, 3, 3)), np.zeros(64), (3, 64, 64), pads=(1, 1, 1, 1))
    with pytest.raises(UnsupportedModelError, match="dense"):
        layer.as_dense()


def test_channel_edits():
    layer = layer_of(CASES[1])
    keep = np.array([True, False, True])
    fewer = layer.keep_channels(keep)
    full = layer.affine(np.ones((1, layer.n_in))).reshape(layer.out_shape)
    assert np.allclose(fewer.affine(np.ones((1, layer.n_in))).reshape(fewer.out_shape),
                       full[keep])
    assert len(fewer.origin) == fewer.n_out
    narrow = layer.keep_inputs(np.array([False, True]))
    x = np.random.default_rng(0).normal(size=(1,) + layer.in_shape)
    x[:, 0] = 0.0
    assert np.allclose(narrow.affine(x[:, 1:].reshape(1, -1)), layer.affine(x.reshape(1, -1)))
