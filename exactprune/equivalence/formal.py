"""The formal check: is max over the box of |A(x) - B(x)| at most T, per output of the bodies
(before any tail, which both models must share)? docs/verify.md has the method and its margins.

1. Bounds (product.py): sound bounds of both networks, their shared neurons, and a sound bound
   of every output difference from the product network. A side (upper or lower) within T is
   proven here; when B is A with stable neurons removed this usually proves everything.
2. A float64 search: the box centre, uniform samples and vertices through both IR networks; a
   difference above T is a counterexample at once.
3. One SCIP model with both networks over one input (solvers/pair.py): for each side still
   open, maximise sign * diff[k] with the objective limit L just below T. Every incumbent is
   re-evaluated by a float64 forward pass of both networks; only a difference above T there is
   a counterexample (SCIP's values are never trusted). No solution past L proves the side
   within padded(L) <= T; a solve that stops at the time limit leaves its dual bound, moved
   outward by the LP margin (solvers.obbt.padded, the rule OBBT and the stability analysis use
   for SCIP's dual bounds).
The proven bound is on the networks as exactprune reads them (float64 weights, real
arithmetic); a counterexample is also run in onnxruntime when the models have no tail.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ..bounds import Bounds, check_domain, symbolic_bounds
from ..bounds.optimised import optimised_bounds
from ..domain import Box, sample_points
from ..errors import InvalidModelError
from ..ir import ACTIVE, INACTIVE, Network
from ..onnx_io import LoadedModel, convert, load_model
from ..solvers.obbt import LP_MARGIN, padded
from ..solvers.pair import PairMILP
from ..solvers.scip import SolverTrouble, Status
from .product import Product, product
from .sampled import TOLERANCES, float_outputs, float_type

FORMAL_TIME_LIMIT = 300.0  # seconds for one check (--time-limit)
ANALYSIS_SHARE = 0.4  # of the time limit at most for the stability analysis of A, and of B
EXACT_EVIDENCE = ("bounds", "branch and bound")  # proofs by sound bounds (no solver)
ANALYSIS_METHOD = "branch"  # the stability method whose proofs are all by sound bounds


def exact_analysis(analysis) -> bool:
    """Whether every neuron an analysis proved stable was proven by sound bounds. A MILP proves
    only |g| <= FLIP_MARGIN within SCIP's tolerances, and what the analysis decided after it
    took that as exact, so an analysis with one MILP-proven neuron is not used at all."""
    return all(str(e) in EXACT_EVIDENCE for layer in analysis.layers
               for e, code in zip(layer.evidence, layer.status) if code in (ACTIVE, INACTIVE))


def _bounds(network: Network, box: Box, analysis=None) -> Bounds:
    """Sound bounds: symbolic, optimised slopes, then what a stability analysis proved when all
    of it was proven by sound bounds (exact_analysis)."""
    bounds = optimised_bounds(network, box, symbolic_bounds(network, box))
    if analysis is None or not exact_analysis(analysis):
        return bounds
    for layer in analysis.layers:
        lo, up = (np.array(v, dtype=np.float64) for v in bounds[layer.layer])
        lo, up = np.maximum(lo, layer.lower), np.minimum(up, layer.upper)
        up = np.where(layer.status == INACTIVE, np.minimum(up, 0.0), up)
        lo = np.where(layer.status == ACTIVE, np.maximum(lo, 0.0), lo)
        bounds[layer.layer] = (lo, np.maximum(up, lo))
    return [(np.maximum(lo, k[0]), np.minimum(up, k[1])) for (lo, up), k
            in zip(symbolic_bounds(network, box, bounds), bounds)]


@dataclass(frozen=True)
class FormalOptions:
    """tol: the tolerance T on every output difference (None: atol + rtol x scale, with the
    sampled check's atol and rtol for model A's float type, or the ones given, and scale =
    max(1, max |A(x)|) over the search points). time_limit: seconds for the whole check.
    samples / vertices / seed: the points of the float64 search before the MILPs (the box
    centre, uniform samples, vertices: all of them when there are at most `vertices`)."""

    tol: float | None = None
    atol: float | None = None
    rtol: float | None = None
    time_limit: float = FORMAL_TIME_LIMIT
    samples: int = 1000
    vertices: int = 64
    seed: int = 0


@dataclass
class OutputBound:
    """Sound bounds of a_out[k] - b_out[k] over the box; how the side(s) were decided."""

    index: int
    lower: float
    upper: float
    proven_by: list = field(default_factory=list)  # "bounds" / "milp" per proven side

    @property
    def max_abs(self) -> float:
        return max(-self.lower, self.upper)


@dataclass
class FormalReport:
    """The outcome: equivalent True (every |difference| <= tolerance, proven), False (a
    counterexample confirmed in float64), None (undecided at the time limit)."""

    equivalent: bool | None
    tolerance: float
    max_abs_bound: float | None
    counterexample: list | None
    outputs: list[OutputBound]
    time_s: float
    domain_source: str
    unit_box_assumed: bool
    counterexample_outputs: dict | None = None  # a, b, difference (float64), onnxruntime
    reason: str = ""  # why undecided
    shared_neurons: int = 0
    neurons: tuple[int, int] = (0, 0)
    product_network: bool = False
    milp_sides: int = 0

    def to_json(self) -> dict:
        data = asdict(self)
        data["outputs"] = [{**asdict(o), "max_abs": o.max_abs} for o in self.outputs]
        return data

    def summary(self) -> str:
        if self.equivalent:
            return (f"equivalent within {self.tolerance:.3g}: max |a - b| <= "
                    f"{self.max_abs_bound:.3g} over the box (proven)")
        if self.equivalent is False:
            diff = self.counterexample_outputs["max_abs"]
            return (f"different: |a - b| = {diff:.6g} > {self.tolerance:.3g} at a counterexample "
                    "(float64)")
        bound = "none" if self.max_abs_bound is None else f"{self.max_abs_bound:.3g}"
        return (f"undecided ({self.reason}): best proven bound on max |a - b| {bound}, "
                f"tolerance {self.tolerance:.3g}")


def _loaded(model, name: str) -> LoadedModel:
    if isinstance(model, LoadedModel):
        return model
    if hasattr(model, "graph"):
        return convert(model, name=name)
    return load_model(model)


def _tail_key(source: LoadedModel) -> list:
    """What a tail computes, wiring included: the body output's shape and type, then per node
    its op, attributes and inputs in order, each input a token (the body output, an earlier
    node's output by position, a constant by dtype, shape and bytes), then the graph outputs
    as tokens. Equal keys compute the same function of the body output."""
    face = source.interface
    if not face.tail:
        return []
    names: dict = {face.body_output: "body"}
    key: list = [(tuple(face.body_shape), face.output_type)]
    for node in face.tail:
        inputs = []
        for name in node.input:
            if name in names:
                inputs.append(names[name])
            elif name in face.tail_constants:
                value = np.asarray(face.tail_constants[name])
                inputs.append((value.dtype.str, value.shape, value.tobytes()))
            else:
                inputs.append(("missing", name == ""))
        key.append((node.domain, node.op_type, [a.SerializeToString() for a in node.attribute],
                    inputs))
        names.update({name: ("node output", len(names)) for name in node.output})
    key.append([names.get(out.name, ("missing", out.name)) for out in face.outputs])
    return key


def _check_pair(a: LoadedModel, b: LoadedModel) -> None:
    """InvalidModelError unless A and B can be compared body to body."""
    na, nb = a.network, b.network
    if na.n_inputs != nb.n_inputs:
        raise InvalidModelError(f"{a.name} has {na.n_inputs} inputs, {b.name} has {nb.n_inputs}; "
                                "they cannot be compared")
    if na.n_outputs != nb.n_outputs:
        raise InvalidModelError(f"{a.name}'s layers give {na.n_outputs} outputs, {b.name}'s "
                                f"{nb.n_outputs}; they cannot be compared")
    if _tail_key(a) != _tail_key(b):
        ops = [" ".join(n.op_type for n in m.interface.tail) or "none" for m in (a, b)]
        what = "ops" if ops[0] != ops[1] else "constants, wiring or input shape of the ops"
        raise InvalidModelError(f"the {what} after the layers differ ({a.name}: {ops[0]}; "
                                f"{b.name}: {ops[1]}): the formal check compares the layers and "
                                "needs the same ops after them")


def milp_limit(tol: float) -> float:
    """The largest objective limit L whose padded value padded(L, +1) is at most tol."""
    m = LP_MARGIN
    limit = (tol - m) / (1.0 + m) if tol >= m else (tol - m) / (1.0 - m)
    while padded(limit, 1) > tol:
        limit = float(np.nextafter(limit, -np.inf))
    return limit


class _Check:
    """One formal check in progress (see the module docstring)."""

    def __init__(self, a: LoadedModel, b: LoadedModel, box: Box, options: FormalOptions,
                 progress, analyse):
        self.a, self.b, self.box, self.options = a, b, box, options
        self.progress = progress or (lambda info: None)
        self.start = time.monotonic()
        bounds = []
        for name, source in (("A", a), ("B", b)):
            analysis = None
            if analyse is not None:
                self.progress({"stage": f"stability of {name}",
                               "elapsed_s": time.monotonic() - self.start})
                analysis = analyse(source.network, box,
                                   time_limit=ANALYSIS_SHARE * options.time_limit)
                if getattr(analysis, "interrupted", False):
                    raise KeyboardInterrupt  # the analysis kept the Ctrl-C: the check ends
            bounds.append(_bounds(source.network, box, analysis))
        self.prod: Product = product(a.network, b.network, box, *bounds)
        self.points, _ = sample_points(box, options.samples, options.vertices,
                                       np.random.default_rng(options.seed), all_vertices=True)
        self.tol = self._tolerance()
        lo, up = self.prod.diff
        lo, up = np.where(np.isnan(lo), -np.inf, lo), np.where(np.isnan(up), np.inf, up)
        self.outputs = [OutputBound(k, float(lo[k]), float(up[k])) for k in range(lo.size)]
        for out in self.outputs:
            out.proven_by = ["bounds"] * ((out.upper <= self.tol) + (-out.lower <= self.tol))
        self.found: np.ndarray | None = None
        self.reason = ""
        self.milp_sides = 0

    def _tolerance(self) -> float:
        """T: given, else the sampled check's atol + rtol x scale, scale = max(1, max |A(x)|)
        over the search points (as the sampled check takes it over its points)."""
        o = self.options
        if o.tol is not None:
            return float(o.tol)
        atol, rtol = TOLERANCES[float_type(self.a.proto, self.a.name)]
        scale = max(1.0, float(np.abs(self.a.network.forward(self.points)).max(initial=0.0)))
        return (atol if o.atol is None else o.atol) + (rtol if o.rtol is None else o.rtol) * scale

    def differences(self, x: np.ndarray) -> np.ndarray:
        """a_out - b_out in float64 for flat inputs x (N, n)."""
        return self.a.network.forward(x) - self.b.network.forward(x)

    def confirm(self, x: np.ndarray) -> bool:
        """Whether x is a counterexample in float64 (kept when it is)."""
        x = np.clip(np.asarray(x, dtype=np.float64).reshape(1, -1), self.box.lo, self.box.hi)
        if np.abs(self.differences(x)).max() > self.tol:
            self.found = x[0]
            return True
        return False

    def search(self) -> None:
        """The float64 search: the largest difference on the points, if above T."""
        dev = np.abs(self.differences(self.points)).max(axis=1)
        if dev.max(initial=0.0) > self.tol:
            self.found = self.points[int(np.argmax(dev))]

    def open_sides(self) -> list[tuple[OutputBound, int]]:
        sides = [(o, 1) for o in self.outputs if o.upper > self.tol]
        sides += [(o, -1) for o in self.outputs if -o.lower > self.tol]
        return sorted(sides, key=lambda s: -(s[0].upper if s[1] > 0 else -s[0].lower))

    def milps(self) -> None:
        sides = self.open_sides()
        if not sides:
            return
        prod, deadline = self.prod, self.start + self.options.time_limit
        try:
            pair = PairMILP(prod.a, prod.b, self.box, prod.bounds_a, prod.bounds_b,
                            prod.phases(prod.a, prod.bounds_a), prod.phases(prod.b, prod.bounds_b),
                            prod.shared, prod.diff)
        except SolverTrouble as exc:
            self.reason = f"solver trouble: {exc}"
            return
        limit = milp_limit(self.tol)
        for n, (out, sign) in enumerate(sides):
            left = deadline - time.monotonic()
            self.progress({"stage": f"MILP side {n + 1}/{len(sides)}", "side": n + 1,
                           "sides": len(sides),
                           "elapsed_s": time.monotonic() - self.start})
            if left <= 0:
                self.reason = self.reason or "time limit"
                return
            try:
                result = pair.side(out.index, sign, limit, left, self.confirm)
            except SolverTrouble as exc:
                self.reason = f"solver trouble: {exc}"
                continue
            self.milp_sides += 1
            if result.stopped:
                return
            self._record(out, sign, result, limit)

    def _record(self, out: OutputBound, sign: int, result, limit: float) -> None:
        """Tighten a side by what its solve proved; say why when it stays open."""
        bound = padded(limit, 1) if result.status is Status.INFEASIBLE else (
            None if result.dual is None else padded(result.dual, 1))
        if bound is not None:
            if sign > 0:
                out.upper = min(out.upper, bound)
            else:
                out.lower = max(out.lower, -bound)
        if bound is not None and bound <= self.tol:
            out.proven_by.append("milp")
        elif not self.reason:
            self.reason = ("time limit" if result.status is Status.TIME_LIMIT else
                           f"SCIP ended with status {result.status.value} and no counterexample "
                           "that float64 confirms")

    def report(self) -> FormalReport:
        a, b, box = self.a.network, self.b.network, self.box
        cex, details, bound = None, None, None
        if self.found is not None:
            equivalent = False
            cex = [float(v) for v in self.found]
            details = self._counterexample(self.found)
        else:
            bound = max(o.max_abs for o in self.outputs)
            equivalent = True if bound <= self.tol else None
        return FormalReport(
            equivalent=equivalent, tolerance=self.tol, max_abs_bound=bound, counterexample=cex,
            outputs=self.outputs, time_s=time.monotonic() - self.start, domain_source=box.source,
            unit_box_assumed=box.source == UNIT_BOX, counterexample_outputs=details,
            reason="" if equivalent is not None else (self.reason or "time limit"),
            shared_neurons=self.prod.n_shared, neurons=(a.n_neurons, b.n_neurons),
            product_network=self.prod.exact_product, milp_sides=self.milp_sides)

    def _counterexample(self, x: np.ndarray) -> dict:
        ya, yb = self.a.network.forward(x[None, :])[0], self.b.network.forward(x[None, :])[0]
        out = {"a": ya.tolist(), "b": yb.tolist(), "difference": (ya - yb).tolist(),
               "max_abs": float(np.abs(ya - yb).max()), "onnxruntime": None}
        if not (self.a.interface.tail or self.b.interface.tail):
            ra = float_outputs(self.a.proto, x[None, :], self.a.name)[0]
            rb = float_outputs(self.b.proto, x[None, :], self.b.name)[0]
            out["onnxruntime"] = {"a": ra.tolist(), "b": rb.tolist(),
                                  "max_abs": float(np.abs(ra - rb).max())}
        return out


UNIT_BOX = "unit box [0,1] assumed"


def prove_equivalence(a, b, box: Box | None = None, options: FormalOptions | None = None, *,
                      names: tuple[str, str] = ("model A", "model B"),
                      progress=None, analyse=None) -> FormalReport:
    """Decide whether max over `box` of |A(x) - B(x)| <= T for every output of the bodies.

    a, b: paths, ModelProtos or LoadedModels; box None: the unit box (the report says so).
    progress: called with a dict (stage, side, sides, elapsed_s) before each MILP.
    analyse: a stability analyser, analyse(network, box, time_limit=...) -> StabilityResult,
    run on A and on B first (at most ANALYSIS_SHARE of the time each), best with method
    ANALYSIS_METHOD: the neurons it proves stable are substituted, which lets the product
    bound see through what a compression removed; it is used only when all its proofs are by
    sound bounds (exact_analysis). None: bounds only.
    InvalidModelError when the inputs, the number of outputs or the ops after the layers
    differ; DomainError when the box does not fit.
    """
    options = options or FormalOptions()
    a, b = _loaded(a, names[0]), _loaded(b, names[1])
    _check_pair(a, b)
    n = a.network.n_inputs
    box = Box(np.zeros(n), np.ones(n), UNIT_BOX) if box is None else box
    for source in (a, b):
        check_domain(source.network, box)
    check = _Check(a, b, box, options, progress, analyse)
    if check.open_sides():
        check.search()
        if check.found is None:
            check.milps()
    return check.report()
