"""Fuzz test of stability claims and of compress, over random networks, boxes and ONNX encodings.

Every case is made from one integer seed (`make_case(seed)`), so any failure reproduces with
`.venv/bin/python bench/fuzz.py --networks 1 --seed SEED` or `run_case(SEED)` from this module.
A case is an abstract network (1-10 inputs, 1-4 hidden layers of 1-12 neurons, Relu / LeakyRelu
with alpha in [0, 1] / identity layers, planted stably inactive / active, equal, proportional,
zero-row and zero-column neurons), a box (eps-ball, [0, 1], [-5, 5], [1, 3], asymmetric, some
inputs fixed) and two random ONNX encodings of it (Gemm transB 0/1, alpha/beta, MatMul + Add,
Sub/Div normalisation, Flatten of [N,1,n] / [N,n,1], batch 1 or "N", opsets 11/13/17, Softmax).

Checks per case:
  encodings   each encoding imports to the generator's float64 reference of that encoding (the
              network with the float32 rounding its Gemm alpha/beta storage introduces), within
              1e-9 relative;
  claims      analyse_stability's claims hold on many float64 points of the box (uniform,
              vertices, points driven towards each claimed neuron's sign change, the result's
              witnesses and points between them): no ACTIVE neuron with g < -tol, no INACTIVE
              with g > tol (tol = FLIP_MARGIN for MILP proofs; 1e-9 relative for bounds proofs),
              every UNSTABLE neuron shown on both strict sides by the witnesses (all in the box),
              and the reported sound bounds contain every observed g;
  compress    report.verified; on fresh points (another seed than the tool's) onnxruntime of the
              original and of result.model agree within 1e-5 + 1e-4 * max(1, max |a|), and so do
              the float64 forward passes of the original and of the reduced network. The ratio of
              the compressed model's deviation from the original's float64 forward pass to the
              original model's own float32 error is recorded (not asserted; see `summarise`).

bench/fuzz.py imports this module (tests/ put on sys.path) and runs many more seeds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import onnx
import pytest
from builders import init, make_model, run_ort
from onnx import helper

from exactprune.domain import Box
from exactprune.ir import ACTIVE, INACTIVE, UNKNOWN, UNSTABLE, Dense, InputMap, Network
from exactprune.onnx_io.importer import convert
from exactprune.pipeline import compress
from exactprune.reductions import RULES
from exactprune.solvers.scip import FLIP_MARGIN
from exactprune.stability import analyse_stability

N_TEST_NETWORKS = 150
TEST_TIME_LIMIT = 20.0  # seconds per analysis / per compress run
ATOL, RTOL = 1e-5, 1e-4  # the tool's verification tolerance
BOUNDS_REL = 1e-9  # slack of bounds proofs, relative to 1 + |W| |h| + |b| at the point
ENCODING_REL = 1e-9  # imported function vs the generator's reference of the same encoding
F32_FLOOR = 2.0 ** -24  # floor of the float32 error in the ratio, relative to the output scale
OPSETS = {11: 6, 13: 7, 17: 8}  # opset -> ir_version


# ------------------------------------------------------------------------------ the generator
@dataclass
class Layer:
    weight: np.ndarray  # (n_out, n_in), float32 values in float64
    bias: np.ndarray
    activation: str  # relu, leaky_relu, identity
    alpha: float = 0.0
    roles: list = field(default_factory=list)


@dataclass
class Encoding:
    ops: list  # per layer: "gemm" or "matmul"
    trans_b: list  # gemm: transB 0 / 1
    gemm_ab: list  # gemm: (alpha, beta)
    bias_2d: list  # bias stored as (1, n) instead of (n,)
    bias_first: list  # matmul: Add(b, m) instead of Add(m, b)
    omit_zero_bias: list  # a zero bias is left out (Gemm without C, MatMul without Add)
    leaky_default: list  # LeakyRelu with alpha 0.01 written without the attribute
    input_shape: str  # flat, n1n ([N,1,n]), nn1 ([N,n,1])
    batch: object  # "N" or 1
    opset: int
    norm_shape: int  # 0: constants of shape (n,) (or (n,1) for nn1), 1: the sample shape
    softmax: bool
    softmax_axis: object  # None (default), 1 or -1

    def describe(self) -> str:
        ops = []
        for k, op in enumerate(self.ops):
            if op == "gemm":
                a, b = self.gemm_ab[k]
                ab = f",a={a:g},b={b:g}" if (a, b) != (1.0, 1.0) else ""
                ops.append(f"gemm(tB={self.trans_b[k]}{ab})")
            else:
                ops.append("matmul+add" + ("(b first)" if self.bias_first[k] else ""))
        shape = {"flat": "[B,n]", "n1n": "[B,1,n]", "nn1": "[B,n,1]"}[self.input_shape]
        return (f"{'/'.join(ops)}; input {shape.replace('B', str(self.batch))}; "
                f"opset {self.opset}" + ("; softmax" if self.softmax else ""))


@dataclass
class Case:
    seed: int
    n_inputs: int
    layers: list  # hidden layers and the output layer
    mean: np.ndarray | None
    std: np.ndarray | None
    lo: np.ndarray
    hi: np.ndarray
    box_kind: str
    encodings: list  # two Encodings of the same network
    scale: float = 1.0  # of the weights

    @property
    def box(self) -> Box:
        return Box(self.lo, self.hi, f"fuzz {self.box_kind}")

    def describe(self) -> str:
        parts = []
        for layer in self.layers[:-1]:
            act = {"relu": "relu", "identity": "id"}.get(layer.activation,
                                                          f"leaky({layer.alpha:.3g})")
            roles = {r: layer.roles.count(r) for r in list(ROLE_P)[1:] if r in layer.roles}
            planted = ",".join(f"{r}{n}" for r, n in roles.items())
            parts.append(f"{act} {layer.weight.shape[0]}" + (f"[{planted}]" if planted else ""))
        out = self.layers[-1]
        tail = " relu" if out.activation == "relu" else ""
        norm = "; sub/div" + (" (negative std)" if np.any(self.std < 0) else "") \
            if self.mean is not None else ""
        scale = f"; weight scale {self.scale:.3g}" if self.scale != 1.0 else ""
        return (f"seed {self.seed}: {self.n_inputs} -> {', '.join(parts)} -> {out.weight.shape[0]}"
                f"{tail}; box {self.box_kind}{norm}{scale}; encodings: "
                + " | ".join(e.describe() for e in self.encodings))


def f32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def _activate(layer: Layer, g: np.ndarray) -> np.ndarray:
    if layer.activation == "relu":
        return np.maximum(g, 0.0)
    if layer.activation == "leaky_relu":
        return np.where(g >= 0.0, g, layer.alpha * g)
    return g


def _interval(w, b, lo, hi):
    wp, wn = np.maximum(w, 0.0), np.minimum(w, 0.0)
    return wp @ lo + wn @ hi + b, wp @ hi + wn @ lo + b


def _box(rng, n: int) -> tuple[np.ndarray, np.ndarray, str]:
    kind = rng.choice(["ball", "ball", "unit", "wide", "shifted", "asym", "asym"])
    if kind == "ball":
        eps = float(10 ** rng.uniform(-6, -1) if rng.random() < 0.2 else 10 ** rng.uniform(-3, -1))
        c = rng.uniform(-2, 2, n)
        lo, hi, kind = c - eps, c + eps, f"ball eps={eps:.3g}"
    elif kind == "unit":
        lo, hi, kind = np.zeros(n), np.ones(n), "[0,1]"
    elif kind == "wide":
        lo, hi, kind = np.full(n, -5.0), np.full(n, 5.0), "[-5,5]"
    elif kind == "shifted":
        lo, hi, kind = np.full(n, 1.0), np.full(n, 3.0), "[1,3]"
    else:
        lo = rng.uniform(-3, 1, n)
        hi = lo + rng.uniform(0.1, 4, n)
        kind = "asymmetric"
    lo, hi = f32(lo), f32(hi)
    if n > 1 and rng.random() < 0.1:  # one input fixed
        i = rng.integers(n)
        hi[i] = lo[i]
        kind += " (one input fixed)"
    return lo, hi, kind


ROLE_P = {"generic": 0.36, "inactive": 0.1, "active": 0.1, "equal": 0.07, "prop": 0.08,
          "zero": 0.05, "dead": 0.06, "tight": 0.08, "negprop": 0.05, "nearprop": 0.05}
TIGHT = (0.0, 1e-7, -1e-7, 2e-5, -2e-5, 1e-3, -1e-3)  # margins of the tight neurons


def _hidden_layer(rng, n: int, plo, phi, hs, scale: float, exact: bool) -> Layer:
    """A random layer on inputs in [plo, phi] (hs: sampled inputs) with planted roles.

    tight: g <= -delta (or >= delta) on the box with delta in TIGHT (negative: just unstable),
    exact on the first layer, from the samples hs on later ones; negprop: a negative multiple of
    another row (not lumpable); nearprop: a multiple perturbed by about 1e-7 (not exactly
    lumpable)."""
    m = plo.size
    r = rng.random()
    activation = "relu" if r < 0.6 else ("leaky_relu" if r < 0.9 else "identity")
    alpha = 0.0
    if activation == "leaky_relu":
        choices = [0.0, 1.0, 0.01, rng.uniform(0, 1), rng.uniform(0, 1)]
        alpha = float(np.float32(rng.choice(choices)))
    zero_bias = rng.random() < 0.1
    w = f32(scale * rng.standard_normal((n, m)) / np.sqrt(m))
    b = np.zeros(n) if zero_bias else f32(scale * rng.standard_normal(n) * 0.3)
    roles = list(rng.choice(list(ROLE_P), size=n, p=list(ROLE_P.values())))
    for j, role in enumerate(roles):
        generic = [i for i in range(j) if roles[i] == "generic"]
        if (role in ("equal", "prop", "negprop", "nearprop") and not generic) \
                or (zero_bias and role in ("inactive", "active", "tight")):
            roles[j] = "generic"
            continue
        glo, ghi = _interval(w[j:j + 1], np.zeros(1), plo, phi)
        size = 1.0 + max(abs(glo[0]), abs(ghi[0]))
        src = generic[rng.integers(len(generic))] if generic else 0
        if role == "inactive":
            b[j] = f32(-ghi[0] - rng.uniform(0.05, 1.0) * size)
        elif role == "active":
            b[j] = f32(-glo[0] + rng.uniform(0.05, 1.0) * size)
        elif role == "tight":
            g = hs @ w[j]
            top, bottom = (ghi[0], glo[0]) if exact else (g.max(), g.min())
            delta = float(rng.choice(TIGHT))
            b[j] = f32(-top - delta) if rng.random() < 0.5 else f32(-bottom + delta)
        elif role == "equal":
            w[j], b[j] = w[src], b[src]
        elif role in ("prop", "negprop", "nearprop"):
            c = float(rng.choice([0.25, 0.5, 2.0, 4.0, rng.uniform(0.3, 3.0)]))
            c = -c if role == "negprop" else c
            w[j], b[j] = f32(c * w[src]), f32(c * b[src])
            if role == "nearprop":
                w[j, rng.integers(m)] *= 1.0 + 1e-7 * rng.choice([-1.0, 1.0]) * rng.uniform(1, 3)
                w[j] = f32(w[j])
        elif role == "zero":
            w[j] = 0.0
            if rng.random() < 0.3:
                b[j] = 0.0
    return Layer(w, b, activation, alpha, [str(r) for r in roles])


def make_case(seed: int) -> Case:
    """The network, box and two encodings of one seed."""
    rng = np.random.default_rng([seed, 11])
    n = int(rng.integers(1, 11))
    lo, hi, kind = _box(rng, n)
    mean = std = None
    plo, phi = lo, hi
    hs = box_points(Box(lo, hi), rng, uniform=200, vertices=64)
    if rng.random() < 0.3:
        mean = f32(rng.uniform(-1, 1, n))
        std = f32(rng.uniform(0.2, 3.0, n))
        if rng.random() < 0.15:
            std[rng.integers(n)] *= -1.0
        a, b = (lo - mean) / std, (hi - mean) / std
        plo, phi = np.minimum(a, b), np.maximum(a, b)
        hs = (hs - mean) / std
    scale = float(10 ** rng.uniform(-1.5, 1.5)) if rng.random() < 0.25 else 1.0
    n_hidden = int(rng.integers(1, 5))
    layers: list[Layer] = []
    for k in range(n_hidden):
        width = int(rng.integers(1, 13))
        layer = _hidden_layer(rng, width, plo, phi, hs, scale, exact=k == 0)
        glo, ghi = _interval(layer.weight, layer.bias, plo, phi)
        plo, phi = _activate(layer, glo), _activate(layer, ghi)  # both monotone
        hs = _activate(layer, hs @ layer.weight.T + layer.bias)
        layers.append(layer)
    n_out = int(rng.integers(1, 5))
    w = f32(scale * rng.standard_normal((n_out, plo.size)) / np.sqrt(plo.size))
    b = f32(scale * rng.standard_normal(n_out) * 0.3)
    layers.append(Layer(w, b, "relu" if rng.random() < 0.08 else "identity"))
    for k, layer in enumerate(layers[:-1]):  # dead neurons: zero outgoing columns
        for j, role in enumerate(layer.roles):
            if role == "dead":
                layers[k + 1].weight[:, j] = 0.0
    encodings = [_encoding(rng, layers), _encoding(rng, layers)]
    return Case(seed, n, layers, mean, std, lo, hi, kind, encodings, scale)


def _encoding(rng, layers) -> Encoding:
    n = len(layers)
    ab_choices = [(1.0, 1.0), (1.0, 1.0), (0.5, 2.0), (2.0, 1.0), (1.0, 0.25), (1.7, 0.3)]
    return Encoding(
        ops=[str(rng.choice(["gemm", "gemm", "matmul"])) for _ in range(n)],
        trans_b=[int(rng.integers(2)) for _ in range(n)],
        gemm_ab=[ab_choices[rng.integers(len(ab_choices))] for _ in range(n)],
        bias_2d=[bool(rng.random() < 0.3) for _ in range(n)],
        bias_first=[bool(rng.random() < 0.3) for _ in range(n)],
        omit_zero_bias=[bool(rng.random() < 0.7) for _ in range(n)],
        leaky_default=[bool(rng.random() < 0.5) for _ in range(n)],
        input_shape=str(rng.choice(["flat", "flat", "n1n", "nn1"])),
        batch="N" if rng.random() < 0.6 else 1,
        opset=int(rng.choice(list(OPSETS))),
        norm_shape=int(rng.integers(2)),
        softmax=bool(rng.random() < 0.2),
        softmax_axis=[None, 1, -1][rng.integers(3)])


def sample_shape(case: Case, enc: Encoding) -> list:
    n = case.n_inputs
    return {"flat": [n], "n1n": [1, n], "nn1": [n, 1]}[enc.input_shape]


def build_model(case: Case, enc: Encoding) -> onnx.ModelProto:
    """The ONNX model of `case` written with encoding `enc` (checked by onnx.checker)."""
    n = case.n_inputs
    shape = sample_shape(case, enc)
    nodes, inits, h = [], [], "input"
    if case.mean is not None:
        cshape = (n, 1) if enc.input_shape == "nn1" else ((n,) if enc.norm_shape == 0 else shape)
        inits += [init("mean", case.mean.reshape(cshape)), init("std", case.std.reshape(cshape))]
        nodes += [helper.make_node("Sub", [h, "mean"], ["centred"], name="Normalise_sub"),
                  helper.make_node("Div", ["centred", "std"], ["normed"], name="Normalise_div")]
        h = "normed"
    if len(shape) == 2:
        nodes.append(helper.make_node("Flatten", [h], ["flat"], name="Flatten_in", axis=1))
        h = "flat"
    for k, layer in enumerate(case.layers):
        w, b = layer.weight, layer.bias
        bias = b.reshape(1, -1) if enc.bias_2d[k] else b
        omit = enc.omit_zero_bias[k] and not b.any()
        if enc.ops[k] == "gemm":
            alpha, beta = enc.gemm_ab[k]
            attrs = {"transB": enc.trans_b[k]} if enc.trans_b[k] or k % 2 else {}
            if alpha != 1.0:
                attrs["alpha"] = alpha
            if beta != 1.0 and not omit:
                attrs["beta"] = beta
            mat = w if enc.trans_b[k] else w.T
            inits.append(init(f"B{k}", mat / alpha))
            inputs = [h, f"B{k}"]
            if not omit:
                inits.append(init(f"C{k}", bias / beta))
                inputs.append(f"C{k}")
            nodes.append(helper.make_node("Gemm", inputs, [f"g{k}"], name=f"Gemm_{k}", **attrs))
        else:
            inits.append(init(f"W{k}", w.T))
            out = f"m{k}" if not omit else f"g{k}"
            nodes.append(helper.make_node("MatMul", [h, f"W{k}"], [out], name=f"MatMul_{k}"))
            if not omit:
                inits.append(init(f"b{k}", bias))
                pair = [f"b{k}", out] if enc.bias_first[k] else [out, f"b{k}"]
                nodes.append(helper.make_node("Add", pair, [f"g{k}"], name=f"Add_{k}"))
        h = f"g{k}"
        if layer.activation == "relu":
            nodes.append(helper.make_node("Relu", [h], [f"h{k}"], name=f"Relu_{k}"))
            h = f"h{k}"
        elif layer.activation == "leaky_relu":
            attrs = {} if enc.leaky_default[k] and layer.alpha == np.float32(0.01) \
                else {"alpha": layer.alpha}
            nodes.append(helper.make_node("LeakyRelu", [h], [f"h{k}"], name=f"Leaky_{k}",
                                          **attrs))
            h = f"h{k}"
    if enc.softmax:
        attrs = {} if enc.softmax_axis is None else {"axis": enc.softmax_axis}
        nodes.append(helper.make_node("Softmax", [h], ["soft"], name="Softmax_out", **attrs))
    nodes[-1].output[0] = "output"
    n_out = case.layers[-1].weight.shape[0]
    return make_model(nodes, [("input", [enc.batch, *shape])], [("output", [enc.batch, n_out])],
                      inits, opset=enc.opset, ir_version=OPSETS[enc.opset])


def encoded_params(case: Case, enc: Encoding, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Layer k's weight and bias as `enc` stores them (Gemm alpha / beta: float32(W / alpha)
    times alpha, in float64): the exact function of the written model."""
    layer = case.layers[k]
    if enc.ops[k] != "gemm":
        return layer.weight, layer.bias
    alpha, beta = enc.gemm_ab[k]
    a, b = float(np.float32(alpha)), float(np.float32(beta))  # attributes are float32
    return a * f32(layer.weight / alpha), b * f32(layer.bias / beta)


def softmax(h: np.ndarray) -> np.ndarray:
    z = np.exp(h - h.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def reference_forward(case: Case, x: np.ndarray, enc: Encoding, tail: bool = True) -> np.ndarray:
    """The generator's own float64 forward pass of encoding `enc` on flat inputs (N, n); without
    the final Softmax unless `tail`."""
    h = np.asarray(x, dtype=np.float64)
    if case.mean is not None:
        h = (h - case.mean) / case.std
    for k, layer in enumerate(case.layers):
        w, b = encoded_params(case, enc, k)
        h = _activate(layer, h @ w.T + b)
    return softmax(h) if enc.softmax and tail else h


def ort_outputs(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """onnxruntime on flat inputs (N, n), fed in the model's own input shape; (N, n_out) float64."""
    dims = [d.dim_value if d.HasField("dim_value") else None
            for d in model.graph.input[0].type.tensor_type.shape.dim]
    y = run_ort(model, x.reshape(-1, *dims[1:]))
    return np.asarray(y, dtype=np.float64).reshape(len(x), -1)


# ------------------------------------------------------------------------------ the points
def box_points(box: Box, rng, uniform: int = 400, vertices: int = 256) -> np.ndarray:
    """The centre, uniform samples and vertices (all of them if there are at most `vertices`)."""
    n = box.size
    if 2 ** n <= vertices:
        bits = (np.arange(2 ** n)[:, None] >> np.arange(n)[None, :]) & 1
    else:
        bits = rng.integers(0, 2, size=(vertices, n))
    return np.vstack([box.center[None, :], rng.uniform(box.lo, box.hi, (uniform, n)),
                      np.where(bits == 1, box.hi, box.lo)])


def _grad(network: Network, x: np.ndarray, layer: int, neuron: np.ndarray) -> np.ndarray:
    """d g[layer][neuron[t]] / d x_flat at the rows x[t], through their activation patterns."""
    g = network.preactivations(x)
    grad = network.layers[layer].weight[neuron]
    for i in range(layer - 1, -1, -1):
        prev = network.layers[i]
        if prev.activation.kind == "relu":
            grad = grad * (g[i] > 0.0)
        elif prev.activation.kind == "leaky_relu":
            grad = grad * np.where(g[i] >= 0.0, 1.0, prev.activation.alpha)
        grad = grad @ prev.weight
    out = np.zeros((x.shape[0], network.n_inputs))
    np.add.at(out.T, network.input_map.perm, (grad * network.input_map.scale).T)
    return out


def search_points(network: Network, box: Box, points: np.ndarray, targets, rng,
                  steps: int = 10, starts: int = 2) -> np.ndarray:
    """Points of the box driven towards a sign change of each target (layer, neuron, s):
    Frank-Wolfe-like steps towards the box vertex that minimises the linearisation of s * g."""
    found = []
    steps_t = np.array([1.0, 0.5, 0.2, 0.05, 0.01])
    by_layer: dict[int, list] = {}
    for i, j, s in targets:
        by_layer.setdefault(i, []).append((j, s))
    g_all = network.preactivations(points)
    for i, pairs in by_layer.items():
        js = np.array([j for j, _ in pairs])
        ss = np.array([s for _, s in pairs], dtype=np.float64)
        val = g_all[i][:, js] * ss  # (P, T)
        best = np.argsort(val, axis=0)[:starts]  # (starts, T)
        x = points[best.T.reshape(-1)]  # rows: target-major
        x = np.vstack([x, rng.uniform(box.lo, box.hi, (len(js), box.size))])
        tj = np.concatenate([np.repeat(js, starts), js])
        ts = np.concatenate([np.repeat(ss, starts), ss])
        rows = np.arange(len(x))
        cur = network.preactivations(x)[i][rows, tj] * ts
        for _ in range(steps):
            d = _grad(network, x, i, tj) * ts[:, None]
            v = np.where(d > 0, box.lo, box.hi)
            cand = x[None] + steps_t[:, None, None] * (v - x)[None]  # (S, R, n)
            cand = np.clip(cand, box.lo, box.hi)
            flat = cand.reshape(-1, box.size)
            vals = network.preactivations(flat)[i][np.tile(rows, len(steps_t)),
                                                   np.tile(tj, len(steps_t))]
            vals = vals.reshape(len(steps_t), -1) * ts
            k = np.argmin(vals, axis=0)
            better = vals[k, rows] < cur
            if not better.any():
                break
            x = np.where(better[:, None], cand[k, rows], x)
            cur = np.where(better, vals[k, rows], cur)
        found.append(x)
    return np.vstack(found) if found else np.zeros((0, box.size))


def crossing_points(network: Network, witnesses: np.ndarray, targets, iters: int = 30):
    """For each (layer, neuron) with witnesses of both signs, a point next to its g = 0 on the
    segment between a positive and a negative witness (bisection)."""
    if len(witnesses) == 0 or not targets:
        return np.zeros((0, witnesses.shape[1] if witnesses.ndim == 2 else 0))
    g = network.preactivations(witnesses)
    out = []
    for i, j in targets:
        pos, neg = np.flatnonzero(g[i][:, j] > 0), np.flatnonzero(g[i][:, j] < 0)
        if not (pos.size and neg.size):
            continue
        a, b = witnesses[pos[0]], witnesses[neg[0]]
        for _ in range(iters):
            mid = 0.5 * (a + b)
            if network.preactivations(mid[None])[i][0, j] > 0:
                a = mid
            else:
                b = mid
        out += [a, b]
    return np.array(out) if out else np.zeros((0, witnesses.shape[1]))


# ------------------------------------------------------------------------------ the checkers
def check_claims(network: Network, box: Box, result, points: np.ndarray) -> dict:
    """Check every claim of a StabilityResult on float64 points of the box.

    Returns {"violations": [str], "active", "inactive", "unstable", "unknown": counts,
    "evidence": {evidence: stable claims}}."""
    out = {"violations": [], "active": 0, "inactive": 0, "unstable": 0, "unknown": 0,
           "evidence": {}}
    bad = out["violations"]
    wit = np.asarray(result.witnesses, dtype=np.float64).reshape(-1, network.n_inputs)
    outside = np.flatnonzero(((wit < box.lo) | (wit > box.hi)).any(axis=1))
    if outside.size:
        bad.append(f"{outside.size} witness(es) outside the box, e.g. {wit[outside[0]].tolist()}")
    allx = np.vstack([points, wit])
    g = network.preactivations(allx)
    gw = network.preactivations(wit) if len(wit) else None
    h0 = network.input_map.apply(network.flatten_input(allx))
    for ls in result.layers:
        i = ls.layer
        layer = network.layers[i]
        hprev = h0 if i == 0 else network.layers[i - 1].activation.apply(g[i - 1])
        mag = np.abs(hprev) @ np.abs(layer.weight).T + np.abs(layer.bias)
        slack = BOUNDS_REL * (1.0 + mag)  # (P, n)
        gi = g[i]
        lo_b, up_b = np.asarray(ls.lower), np.asarray(ls.upper)
        below = gi < lo_b - slack
        above = gi > up_b + slack
        for j in np.flatnonzero(below.any(0) | above.any(0)):
            bad.append(f"layer {i} neuron {j}: observed g in [{gi[:, j].min():.6g}, "
                       f"{gi[:, j].max():.6g}] outside its reported bounds "
                       f"[{lo_b[j]:.6g}, {up_b[j]:.6g}]")
        for j, code in enumerate(ls.status):
            how = ls.evidence[j]
            if code in (ACTIVE, INACTIVE):
                out["evidence"][how] = out["evidence"].get(how, 0) + 1
            tol = slack[:, j] if how == "bounds" else FLIP_MARGIN
            if code in (ACTIVE, INACTIVE):
                sign = 1.0 if code == ACTIVE else -1.0  # the claim: sign * g >= -tol
                out["active" if code == ACTIVE else "inactive"] += 1
                worst = np.flatnonzero(sign * gi[:, j] < -tol)
                if worst.size:
                    p = worst[np.argmin(sign * gi[worst, j])]
                    bad.append(f"layer {i} neuron {j} claimed "
                               f"{'ACTIVE' if code == ACTIVE else 'INACTIVE'} ({how}) but g = "
                               f"{gi[p, j]:.6g} at x = {allx[p].tolist()}")
            elif code == UNSTABLE:
                out["unstable"] += 1
                shown = gw is not None and (gw[i][:, j] > 0).any() and (gw[i][:, j] < 0).any()
                if not shown:
                    bad.append(f"layer {i} neuron {j} claimed UNSTABLE ({how}) without witnesses "
                               "of both strict signs")
            elif code == UNKNOWN:
                out["unknown"] += 1
            else:
                bad.append(f"layer {i} neuron {j}: unknown status code {code}")
    return out


def claim_points(network: Network, box: Box, result, rng) -> np.ndarray:
    """Points for check_claims: box points, the search towards every claimed stable neuron's
    sign change, and points next to g = 0 of the unstable ones."""
    pts = box_points(box, rng)
    stable, unstable = [], []
    for ls in result.layers:
        for j, code in enumerate(ls.status):
            if code == ACTIVE:
                stable.append((ls.layer, j, 1.0))
            elif code == INACTIVE:
                stable.append((ls.layer, j, -1.0))
            elif code == UNSTABLE:
                unstable.append((ls.layer, j))
    wit = np.asarray(result.witnesses, dtype=np.float64).reshape(-1, network.n_inputs)
    wit = wit[((wit >= box.lo) & (wit <= box.hi)).all(axis=1)]
    return np.vstack([pts, search_points(network, box, np.vstack([pts, wit]), stable, rng),
                      crossing_points(network, wit, unstable)])


def compare_compressed(original: onnx.ModelProto, compressed: onnx.ModelProto, network: Network,
                       reduced: Network | None, x: np.ndarray, tail=lambda y: y) -> dict:
    """onnxruntime of both models and the float64 forward passes on points x (`tail` applied:
    the ops the models compute after the network).

    Returns violations, max_abs / max_rel (onnxruntime original vs compressed), dev64_rel
    (float64 original vs reduced network), err32_orig / err32_comp (|onnxruntime - float64
    forward of the original|, max) and their ratio (both floored at F32_FLOOR * scale, so that
    errors far below float32 resolution, e.g. a Softmax of one output, count as ratio 1)."""
    ya, yb = ort_outputs(original, x), ort_outputs(compressed, x)
    y64 = tail(network.forward(x))
    out = {"violations": []}
    scale = max(1.0, float(np.abs(ya).max()))
    if ya.shape != yb.shape:
        out["violations"].append(f"output shapes differ: {ya.shape} vs {yb.shape}")
        return out
    out["max_abs"] = float(np.abs(ya - yb).max())
    out["max_rel"] = out["max_abs"] / scale
    if not out["max_abs"] <= ATOL + RTOL * scale:
        p = int(np.argmax(np.abs(ya - yb).max(axis=1)))
        out["violations"].append(
            f"onnxruntime: compressed deviates by {out['max_abs']:.3g} > {ATOL + RTOL * scale:.3g}"
            f" at x = {x[p].tolist()} (original {ya[p].tolist()}, compressed {yb[p].tolist()})")
    if reduced is not None:
        y64r = tail(reduced.forward(x))
        dev = float(np.abs(y64 - y64r).max())
        out["dev64_rel"] = dev / max(1.0, float(np.abs(y64).max()))
        if not dev <= ATOL + RTOL * max(1.0, float(np.abs(y64).max())):
            p = int(np.argmax(np.abs(y64 - y64r).max(axis=1)))
            out["violations"].append(f"float64: reduced network deviates by {dev:.3g} at "
                                     f"x = {x[p].tolist()}")
    out["err32_orig"] = float(np.abs(ya - y64).max())
    out["err32_comp"] = float(np.abs(yb - y64).max())
    floor = F32_FLOOR * max(1.0, float(np.abs(y64).max()))
    out["ratio"] = max(out["err32_comp"], floor) / max(out["err32_orig"], floor)
    return out


# ------------------------------------------------------------------------------ one case
def run_case(seed: int, time_limit: float = TEST_TIME_LIMIT) -> dict:
    """Every check on the case of `seed`; returns counts, metrics and violations (never raises
    for a failed check, only for an exception of the code under test)."""
    start = time.monotonic()
    case = make_case(seed)
    rng = np.random.default_rng([seed, 22])  # not the tool's seed
    box = case.box
    models = [build_model(case, enc) for enc in case.encodings]
    networks = [convert(m).network for m in models]
    rec = {"seed": seed, "case": case.describe(), "violations": []}
    bad = rec["violations"]

    # encodings: the same function as the generator's reference
    x = box_points(box, rng, uniform=100, vertices=32)
    for k, (net, enc) in enumerate(zip(networks, case.encodings)):
        ref = reference_forward(case, x, enc, tail=False)
        got = net.forward(x)
        dev = float(np.abs(ref - got).max()) if ref.shape == got.shape else np.inf
        if not dev <= ENCODING_REL * max(1.0, float(np.abs(ref).max())):
            bad.append(f"encoding {k} imports to another function (max deviation {dev:.3g})")

    # claims of the stability analysis, on the first encoding
    network = networks[0]
    result = analyse_stability(network, box, time_limit=time_limit)
    points = claim_points(network, box, result, rng)
    claims = check_claims(network, box, result, points)
    bad += claims.pop("violations")
    rec.update(claims)
    rec["complete"] = bool(result.complete)

    # compress, on the second encoding (and its own analysis)
    model_c, network_c = models[1], networks[1]
    res = compress(model_c, box, time_limit=time_limit)
    rec["verified"] = bool(res.report.verified)
    if not res.report.verified:
        bad.append(f"compress: verification failed (tool's max_rel {res.report.max_rel})")
    rec["rules"] = sorted(res.report.by_rule)
    rec["neurons"] = (res.report.neurons_before, res.report.neurons_after)
    fresh = np.vstack([box_points(box, rng, uniform=300, vertices=128), points])
    cmp = compare_compressed(model_c, res.model, network_c, res.network, fresh,
                             softmax if case.encodings[1].softmax else (lambda y: y))
    bad += cmp.pop("violations")
    rec.update(cmp)
    rec["time_s"] = time.monotonic() - start
    return rec


def summarise(records: list[dict]) -> dict:
    """Totals over run_case records (shared with bench/fuzz.py)."""
    ratios = np.array([r["ratio"] for r in records if "ratio" in r])
    rels = [r["max_rel"] for r in records if "max_rel" in r]
    return {
        "networks": len(records),
        "encodings": 2 * len(records),
        "active": sum(r.get("active", 0) for r in records),
        "inactive": sum(r.get("inactive", 0) for r in records),
        "unstable": sum(r.get("unstable", 0) for r in records),
        "unknown": sum(r.get("unknown", 0) for r in records),
        "violations": sum(len(r["violations"]) for r in records),
        "failing": [r for r in records if r["violations"]],
        "compress": sum("verified" in r for r in records),
        "verified": sum(bool(r.get("verified")) for r in records),
        "max_rel": max(rels) if rels else float("nan"),
        "ratio_median": float(np.median(ratios)) if ratios.size else float("nan"),
        "ratio_p90": float(np.quantile(ratios, 0.9)) if ratios.size else float("nan"),
        "ratio_max": float(ratios.max()) if ratios.size else float("nan"),
        "ratio_over_10": int((ratios > 10).sum()),
        "rules": {rule: sum(rule in r.get("rules", ()) for r in records) for rule in RULES},
        "evidence": {how: sum(r.get("evidence", {}).get(how, 0) for r in records)
                     for how in sorted({h for r in records for h in r.get("evidence", {})})},
        "time_s": sum(r.get("time_s", 0.0) for r in records),
    }


# ------------------------------------------------------------------------------ the tests
RECORDS: dict[int, dict] = {}
@pytest.mark.parametrize("seed", range(N_TEST_NETWORKS))
def test_fuzz_case(seed):
    rec = run_case(seed)
    RECORDS[seed] = rec
    assert not rec["violations"], rec["case"] + "\n" + "\n".join(rec["violations"])


def test_fuzz_covers_every_rule_and_status():
    """Over the test's networks every reduction rule fired and every status was claimed
    (runs after the cases; skipped when they were not all run)."""
    if len(RECORDS) < N_TEST_NETWORKS:
        pytest.skip("run together with every test_fuzz_case")
    total = summarise(list(RECORDS.values()))
    never = [rule for rule, n in total["rules"].items()
             if n == 0 and rule not in ("channel", "position")]  # dense networks: channels in
             # test_channels.py, positions in test_positions.py
    assert not never, f"rules never triggered: {never}"
    assert total["active"] and total["inactive"] and total["unstable"]


def _three_neurons() -> tuple[Network, Box]:
    """x in [-1, 1]: g0 = x (unstable), g1 = x + 5 (active), g2 = x - 5 (inactive)."""
    hidden = Dense(np.ones((3, 1)), np.array([0.0, 5.0, -5.0]), "relu")
    out = Dense(np.ones((1, 3)), np.zeros(1), "identity")
    return Network((hidden, out), InputMap.identity(1)), Box([-1.0], [1.0], "test")


def test_checker_catches_wrong_claims():
    network, box = _three_neurons()
    result = analyse_stability(network, box, time_limit=10)
    assert list(result.layers[0].status) == [UNSTABLE, ACTIVE, INACTIVE]
    rng = np.random.default_rng(0)
    points = claim_points(network, box, result, rng)
    assert check_claims(network, box, result, points)["violations"] == []

    def violations(status, witnesses=None, lower=None):
        ls = result.layers[0]
        saved = ls.status.copy(), result.witnesses, ls.lower.copy()
        ls.status[:] = status
        if witnesses is not None:
            result.witnesses = witnesses
        if lower is not None:
            ls.lower[:] = lower
        try:
            return check_claims(network, box, result, claim_points(network, box, result, rng))
        finally:
            ls.status[:], result.witnesses, ls.lower[:] = saved

    flipped = violations([UNSTABLE, INACTIVE, INACTIVE])["violations"]  # active -> inactive
    assert len(flipped) == 1 and "neuron 1 claimed INACTIVE" in flipped[0]
    assert len(violations([UNSTABLE, ACTIVE, ACTIVE])["violations"]) == 1
    assert len(violations([ACTIVE, ACTIVE, INACTIVE])["violations"]) == 1  # unstable -> active
    no_witness = violations([UNSTABLE, ACTIVE, INACTIVE], witnesses=np.zeros((0, 1)))
    assert len(no_witness["violations"]) == 1 and "without witnesses" in no_witness["violations"][0]
    outside = violations([UNSTABLE, ACTIVE, INACTIVE], witnesses=np.array([[-1.0], [1.5]]))
    assert any("outside the box" in v for v in outside["violations"])
    assert violations([UNSTABLE, ACTIVE, INACTIVE], lower=[0.0, 4.5, -6.0])["violations"]


def test_checker_catches_a_near_miss_by_search():
    """A neuron that is negative only on a tiny corner of a 6-d box, claimed ACTIVE: uniform
    samples almost never see it, the search does."""
    n = 6
    w = np.ones((1, n))
    hidden = Dense(w, np.array([n - 0.01]), "relu")  # g = sum(x) + 5.99 on [-1, 1]^6
    network = Network((hidden, Dense(np.ones((1, 1)), np.zeros(1))), InputMap.identity(n))
    box = Box(-np.ones(n), np.ones(n), "test")
    result = analyse_stability(network, box, time_limit=10)
    assert result.layers[0].status[0] == INACTIVE or result.layers[0].status[0] == UNSTABLE
    result.layers[0].status[:] = ACTIVE
    result.layers[0].lower[:] = -np.inf
    result.witnesses = np.zeros((0, n))  # only the search may find the corner
    rng = np.random.default_rng(0)
    points = np.vstack([rng.uniform(box.lo, box.hi, (50, n)),
                        search_points(network, box, rng.uniform(box.lo, box.hi, (50, n)),
                                      [(0, 0, 1.0)], rng)])
    assert check_claims(network, box, result, points)["violations"]


def test_compare_catches_a_changed_model():
    case = next(c for c in map(make_case, range(100)) if not c.encodings[0].softmax)
    model = build_model(case, case.encodings[0])
    network = convert(model).network
    bad = onnx.ModelProto()
    bad.CopyFrom(model)
    k = str(len(case.layers) - 1)
    for t in bad.graph.initializer:  # the output layer's weight and bias, shifted
        if t.name[1:] == k:
            values = onnx.numpy_helper.to_array(t) * np.float32(1.01) + np.float32(0.01)
            t.CopyFrom(onnx.numpy_helper.from_array(values, t.name))
    x = box_points(case.box, np.random.default_rng(1))
    assert compare_compressed(model, model, network, network, x)["violations"] == []
    assert compare_compressed(model, bad, network, convert(bad).network, x)["violations"]
