"""Check in onnxruntime that two ONNX models compute the same function on an input domain.

Both models run with graph optimisations off on the same points: the box centre, uniform
samples, random vertices of the box and any extra inputs (e.g. the stability witnesses).

Float outputs are compared within a tolerance; every other output (integer or string labels,
booleans) must be equal, and a point where one differs counts as an infinite deviation, unless
the float outputs agree within the tolerance there: then the reference's own outputs tie (an
ArgMax of two logits equal up to rounding; in float16 this happens) and the point is counted in
label_ties. A sequence of maps (ZipMap's probabilities per class) is compared as its values in
key order.

Deviation: max_abs = max |y_a - y_b| over every point and float output value. The output scale is
max(1, max |y_a|) over the points (model a is the reference): relative to the outputs when they
are large, absolute when they are small (so outputs near 0 do not inflate a relative error).
max_rel = max_abs / scale.
Pass criterion: max_abs <= atol + rtol * scale. The defaults depend on the coarsest float type
among model a's input, outputs and weights (TOLERANCES); for float32 (atol 1e-5, rtol 1e-4)
they leave room for float32 rounding, which reorders sums when weights are refolded: a float32 model and its
exact float64 copy differ by up to about 2e-6 on the shared models (bench/verify_noise.py), and
deeper or wider merges add more. A real change of the function (a wrongly removed neuron)
shows up orders of magnitude above that.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
import onnx
from onnx import helper

from ..domain import Box, check_range, sample_points
from ..errors import DomainError, InvalidModelError, UnsupportedModelError
from ..interrupts import deferred
from ..onnx_io import read_model
from ..onnx_io.interface import FLOAT_TYPES
from ..onnx_io.scan import feature_count

# (atol, rtol) by the coarsest float type a model reads, writes or stores: float16 keeps 11 bits; a
# refolded sum differs by a few units of 2^-11 of the output scale; float64 by ~1e-15 per term
TOLERANCES = {"float16": (1e-3, 1e-2), "float32": (1e-5, 1e-4), "float64": (1e-10, 1e-9)}
_CHUNK = 512  # rows per onnxruntime call for models with a symbolic batch dimension


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of `compare`; `points` counts the points of each kind."""

    max_abs: float
    max_rel: float
    scale: float
    n_points: int
    passed: bool
    atol: float
    rtol: float
    domain_source: str
    unit_box_assumed: bool
    worst_input: int  # index into the evaluated points (centre, samples, vertices, extra)
    worst_kind: str
    points: dict = field(default_factory=dict)
    own_error: float | None = None  # max |a - exact(x)|: a's own rounding, when exact is given
    label_ties: int = 0  # points with another label but float outputs within the tolerance

    @property
    def tolerance(self) -> float:
        return self.atol + self.rtol * self.scale

    def to_json(self) -> dict:
        """A JSON-safe dict; an infinite deviation (NaN or inf outputs) becomes null."""
        data = {**asdict(self), "tolerance": self.tolerance}
        for key in ("max_abs", "max_rel", "own_error"):
            data[key] = data[key] if data[key] is not None and np.isfinite(data[key]) else None
        return data

    def summary(self) -> str:
        verdict = "within" if self.passed else "ABOVE"
        return (f"max deviation {self.max_abs:.3g} ({self.max_rel:.3g} of output scale "
                f"{self.scale:.3g}) over {self.n_points} points, {verdict} tolerance "
                f"{self.tolerance:.3g}")


@dataclass(frozen=True)
class CheckOptions:
    """The points and tolerance of a sampled comparison (see the module docstring): the box
    centre, `samples` uniform points, `vertices` random vertices (all of them if fewer), drawn
    with `seed`; pass when max |a - b| <= atol + rtol x scale (None: TOLERANCES by the float
    type of model a)."""

    samples: int = 1000
    vertices: int = 200
    atol: float | None = None
    rtol: float | None = None
    seed: int = 0


def _onnxruntime():
    """onnxruntime, imported on first use (a Ctrl-C during its initialisation, which it would
    turn into ImportError, is held until the import is done)."""
    with deferred():
        import onnxruntime
    return onnxruntime


def as_proto(model, default_name: str = "model") -> tuple[onnx.ModelProto, str]:
    """(ModelProto, name for messages) from a path or a ModelProto."""
    if isinstance(model, onnx.ModelProto):
        return model, default_name
    return read_model(model), str(model)


def input_spec(model: onnx.ModelProto, name: str = "model") -> tuple[str, np.dtype, list]:
    """(input name, numpy dtype, dims with None for symbolic ones) of the model's one input."""
    inits = {t.name for t in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in inits]
    if len(inputs) != 1:
        raise UnsupportedModelError(
            f"{name}: {len(inputs)} graph inputs {[v.name for v in inputs]}; expected one")
    tensor = inputs[0].type.tensor_type
    if tensor.elem_type not in FLOAT_TYPES:
        raise UnsupportedModelError(f"{name}: input {inputs[0].name} has element type "
                                    f"{onnx.TensorProto.DataType.Name(tensor.elem_type)}; "
                                    "expected a float type")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    if len(dims) >= 2 and dims[0] is not None and dims[0] < 1:
        dims[0] = None  # a batch of 0 or -1: the exporter's way of saying "any"
    if any(d is None for d in dims[1:]):
        raise UnsupportedModelError(f"{name}: input {inputs[0].name} has a symbolic "
                                    f"non-batch dimension {dims}")
    return inputs[0].name, helper.tensor_dtype_to_np_dtype(tensor.elem_type), dims


def flat_input_size(model: onnx.ModelProto, name: str = "model") -> int:
    """Number of values in one input sample (dim 0 is the batch when the input has rank >= 2)."""
    dims = input_spec(model, name)[2]
    return feature_count(dims[1:] if len(dims) >= 2 else dims, f"{name}: the input")


def check_same_inputs(a, b, names: tuple[str, str] = ("model A", "model B")) -> int:
    """The flat input size both models share; InvalidModelError when their inputs differ."""
    (ma, na), (mb, nb) = (as_proto(m, name) for m, name in zip((a, b), names))
    dims_a, dims_b = input_spec(ma, na)[2], input_spec(mb, nb)[2]
    sample_a = dims_a[1:] if len(dims_a) >= 2 else dims_a
    sample_b = dims_b[1:] if len(dims_b) >= 2 else dims_b
    if sample_a != sample_b:
        raise InvalidModelError(f"the two models' inputs differ: {na} {_shape_text(dims_a)}, "
                                f"{nb} {_shape_text(dims_b)}; they cannot be compared")
    return flat_input_size(ma, na)


def _shape_text(dims) -> str:
    return "[" + ", ".join("N" if d is None else str(d) for d in dims) + "]"


def _coarsest_float(model: onnx.ModelProto, session) -> str:
    """The coarsest float type a model reads, writes or stores its weights in (TOLERANCES key)."""
    found = {FLOAT_TYPES[t.data_type] for t in model.graph.initializer if t.data_type in FLOAT_TYPES}
    types = [session.get_inputs()[0].type] + [o.type for o in session.get_outputs()]
    found |= {name for name, text in (("float16", "float16"), ("float32", "(float)"),
                                      ("float64", "double")) if any(text in t for t in types)}
    return next((name for name in ("float16", "float32", "float64") if name in found), "float32")


class _Runner:
    """One onnxruntime session and how to feed it flat float64 inputs."""

    def __init__(self, model, name: str):
        self.name = name
        self.input_name, self.dtype, dims = input_spec(model, name)
        self.batched = len(dims) >= 2
        self.sample_shape = tuple(dims[1:]) if self.batched else tuple(dims)
        self.batch = (dims[0] or _CHUNK) if self.batched else 1
        self.symbolic_batch = self.batched and dims[0] is None
        ort = _onnxruntime()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(model.SerializeToString(), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise InvalidModelError(f"{name}: onnxruntime cannot load it ({exc})") from None
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.float_type = _coarsest_float(model, self.session)

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Each output for the flat inputs x (N, n_inputs), as float64 with one row per point."""
        chunks: list[list[np.ndarray]] = []
        for start in range(0, x.shape[0], self.batch):
            part = x[start:start + self.batch].astype(self.dtype)
            rows = part.shape[0]
            if self.batched and not self.symbolic_batch and rows < self.batch:
                part = np.concatenate([part, np.repeat(part[-1:], self.batch - rows, 0)])
            feed = part.reshape((-1, *self.sample_shape) if self.batched else self.sample_shape)
            try:
                outs = self.session.run(self.output_names, {self.input_name: feed})
            except Exception as exc:  # onnxruntime raises its own exception types
                raise InvalidModelError(f"{self.name}: onnxruntime failed to run it ({exc})") \
                    from None
            chunks.append([self._per_point(o, k, feed.shape, rows) for k, o in enumerate(outs)])
        return [np.concatenate([c[k] for c in chunks]) for k in range(len(self.output_names))]

    def _per_point(self, out, k: int, feed_shape: tuple, rows: int) -> np.ndarray:
        """Output k as (rows, values per point): float64 for float outputs and maps, the
        output's own type for labels."""
        if isinstance(out, list) and out and isinstance(out[0], dict):
            out = [[row[key] for key in sorted(row)] for row in out]
        out = np.asarray(out)
        if out.dtype.kind == "f":
            out = out.astype(np.float64)
        if not self.batched:
            return out.reshape(1, -1)
        if out.ndim == 0 or out.shape[0] != feed_shape[0]:
            raise InvalidModelError(
                f"{self.name}: output {self.output_names[k]} has shape {list(out.shape)} for an "
                f"input of shape {list(feed_shape)}; expected the batch dimension first")
        return out.reshape(out.shape[0], -1)[:rows]


def float_outputs(model, x: np.ndarray, name: str = "model") -> np.ndarray:
    """The float outputs of a model (a path or a ModelProto) in onnxruntime on flat inputs x
    (N, n), side by side as float64 (N, values)."""
    run = _Runner(*as_proto(model, name))
    outs = [o for o in run.run(np.atleast_2d(x)) if o.dtype.kind == "f"]
    return np.hstack([np.zeros((np.atleast_2d(x).shape[0], 0))] + outs)


def float_type(model, name: str = "model") -> str:
    """The coarsest float type a model reads, writes or stores (a TOLERANCES key)."""
    return _Runner(*as_proto(model, name)).float_type


def compare(a, b, box: Box | None, options: CheckOptions = CheckOptions(), extra_inputs=None,
            names: tuple[str, str] = ("model A", "model B"), exact=None) -> VerifyReport:
    """Run models a and b (paths or ModelProtos) on the same points of `box` and compare.

    box None: the unit box [0, 1]^n (the report says so). extra_inputs: flat inputs (k, n).
    names: how messages call ModelProtos (paths name themselves). exact: the function a computes,
    in float64 (flat inputs -> outputs); then own_error is a's own rounding error on the points.
    Raises InvalidModelError when inputs or outputs of a and b differ in number or shape, and
    DomainError when the domain does not fit or the reference a computes non-finite outputs on
    it (a NaN or inf from b alone is a failed check).
    """
    a, b = (as_proto(m, name) for m, name in zip((a, b), names))
    n = check_same_inputs(a[0], b[0], (a[1], b[1]))
    run_a, run_b = _Runner(*a), _Runner(*b)
    if len(run_a.output_names) != len(run_b.output_names):
        raise InvalidModelError(f"{run_a.name} has {len(run_a.output_names)} outputs, "
                                f"{run_b.name} has {len(run_b.output_names)}")
    unit = box is None
    box = Box(np.zeros(n), np.ones(n), "unit box [0,1] assumed") if unit else box
    if box.size != n:
        raise DomainError(f"domain {box.source} has {box.size} inputs, the models have {n}")
    for run in (run_a, run_b):
        check_range(box, run.dtype)
    points, kinds = sample_points(box, options.samples, options.vertices,
                                  np.random.default_rng(options.seed), all_vertices=True)
    if extra_inputs is not None:
        extra = np.asarray(extra_inputs, dtype=np.float64)
        if extra.size % n:
            raise DomainError(
                f"extra inputs of shape {extra.shape} are not flat inputs of size {n}")
        extra = extra.reshape(-1, n)
        points = np.concatenate([points, extra])
        kinds += ["extra"] * extra.shape[0]
    ya, yb = run_a.run(points), run_b.run(points)
    for k, (oa, ob) in enumerate(zip(ya, yb)):
        if oa.shape != ob.shape:
            raise InvalidModelError(
                f"output {k} shapes differ: {run_a.name} {run_a.output_names[k]} gives "
                f"{oa.shape[1]} values per input, {run_b.name} {run_b.output_names[k]} gives "
                f"{ob.shape[1]}")
    labels = np.zeros(len(kinds), dtype=bool)
    for oa, ob in zip(ya, yb):
        if oa.dtype.kind != "f":
            labels |= (oa != ob).any(axis=1)
    empty = np.zeros((len(kinds), 0))
    ya = np.hstack([empty] + [o for o in ya if o.dtype.kind == "f"])
    yb = np.hstack([empty] + [o for o in yb if o.dtype.kind == "f"])
    bad = np.flatnonzero(~np.isfinite(ya).all(axis=1))
    if bad.size:
        i = int(bad[0])
        raise DomainError(f"domain {box.source}: {run_a.name} computes non-finite outputs on "
                          f"{bad.size} of its {len(kinds)} points (first: point {i}, "
                          f"{kinds[i]}), so nothing can be compared there; use a smaller domain")
    atol, rtol = TOLERANCES[run_a.float_type]
    report = _report(ya, yb, labels, kinds, box, unit,
                     atol if options.atol is None else options.atol,
                     rtol if options.rtol is None else options.rtol)
    if exact is not None:
        own = float(np.abs(ya - np.asarray(exact(points)).reshape(ya.shape)).max())
        report = replace(report, own_error=own)
    return report


def _report(ya, yb, labels, kinds, box: Box, unit: bool, atol: float,
            rtol: float) -> VerifyReport:
    with np.errstate(invalid="ignore"):
        dev = np.abs(ya - yb).max(axis=1, initial=0.0)
    finite_a = ya[np.isfinite(ya)]
    scale = max(1.0, float(np.abs(finite_a).max())) if finite_a.size else 1.0
    # another label where the float outputs agree within the tolerance: a tie of the model's
    # own outputs (a label from an ArgMax of two equal logits), counted, not failed
    ties = labels & (dev <= atol + rtol * scale) if ya.shape[1] else np.zeros_like(labels)
    dev = np.where(np.isnan(dev) | (labels & ~ties), np.inf, dev)  # a NaN or another label fails
    worst = int(np.argmax(dev))
    max_abs = float(dev[worst])
    points = {kind: kinds.count(kind) for kind in dict.fromkeys(kinds)}
    return VerifyReport(
        max_abs=max_abs, max_rel=max_abs / scale, scale=scale, n_points=len(kinds),
        passed=bool(max_abs <= atol + rtol * scale), atol=atol, rtol=rtol,
        domain_source=box.source, unit_box_assumed=unit, worst_input=worst,
        worst_kind=kinds[worst], points=points, label_ties=int(ties.sum()))
