"""The big-M MILP of a network over a box in SCIP (METHODS section 3), shared by stability and regions.

Variables live in the flat ORIGINAL input space (x[i]); the input map is folded into the first
layer, so a solution's x can be fed to onnxruntime as it is. For every modelled neuron
g[l,j] = W h + b (constraint affine[l=..,j=..]); its output depends on its phase:
  stable active   h = g                      stable inactive  h = 0 (relu) or alpha g (leaky)
  identity layer  h = g
  undecided       g = hp - hn, hp <= M+ z, hn <= M- (1 - z), hp, hn >= 0, z binary,
                  h = hp - alpha hn, M+ = max(up, 0), M- = max(-lo, 0).
Bounds must be sound (exactprune.bounds); they are the variables' bounds and the big-M constants.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections import deque
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyscipopt
from pyscipopt import SCIP_PARAMSETTING, Model, quicksum

from .bounds import folded_first_layer
from .domain import Box
from .interrupts import deferred
from .ir import Network
from .stability_result import ACTIVE, INACTIVE

# SCIP tolerances used for every model (reported in StabilityResult.tolerances)
FEASTOL = 1e-6
DUALFEASTOL = 1e-7
EPSILON = 1e-9
FLIP_MARGIN = 1e-5  # a flip counts in a MILP when sign * g >= FLIP_MARGIN (reported too)
SCIP_INFINITY = 1e20  # SCIP's default numerics/infinity: larger bounds are refused


class SolverTrouble(RuntimeError):
    """SCIP failed on a model (pyscipopt raised, e.g. "SCIP: error in LP solver!"). Callers
    leave what the solve was to decide unknown; it never reaches the user as an error."""


class _ErrorLog:
    """SCIP prints its error messages ("[lp.c:123] ERROR: unresolved numerical troubles ...") on
    stderr itself; this collects them instead, for SolverTrouble's message. Where SCIP's library
    cannot be found (an unusual install), they stay on stderr."""

    def __init__(self) -> None:
        self.lines: deque[str] = deque(maxlen=8)
        self._printer = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p,
                                         ctypes.c_char_p)(self._add)
        library = self._library()
        if library is not None:
            library.SCIPmessageSetErrorPrinting(self._printer, None)

    @staticmethod
    def _library():
        """pyscipopt's own libscip (a wheel bundles it beside the package), else the system's."""
        bundled = sorted(Path(pyscipopt.__file__).parent.parent.glob("pyscipopt.libs/libscip*"))
        for path in [*map(str, bundled), ctypes.util.find_library("scip")]:
            try:
                library = ctypes.CDLL(path)
                library.SCIPmessageSetErrorPrinting.restype = None
                return library
            except (OSError, TypeError, AttributeError):
                continue
        return None

    def _add(self, data, file, message: bytes) -> None:
        text = message.decode(errors="replace").strip()
        if text and not text.startswith("["):  # the "[file.c:line] ERROR:" headers go
            self.lines.append(text)

    def take(self) -> str:
        """What SCIP said since the last take(), on one line."""
        text = "; ".join(dict.fromkeys(self.lines))
        self.lines.clear()
        return text


_SCIP_SAID = _ErrorLog()


@contextmanager
def scip_calls():
    """Around short SCIP calls (build, change or solve a model; never a loop of solves): turn
    the errors pyscipopt raises for SCIP's return codes (messages "SCIP: ...") into
    SolverTrouble (any other exception is a bug and passes through), and hold a Ctrl-C until the
    calls end, so that one landing in a Python callback is not reported as a SCIP error."""
    with deferred():
        _SCIP_SAID.take()
        try:
            yield
        except Exception as exc:
            if not str(exc).startswith("SCIP:"):
                raise
            said = _SCIP_SAID.take()
            raise SolverTrouble(f"{exc} ({said})" if said else str(exc)) from None


def solve(model: Model, interrupted_by_us=lambda: False) -> str:
    """model.optimize() and its status. SolverTrouble when SCIP fails; KeyboardInterrupt when
    the user pressed Ctrl-C while SCIP held the signal (not when interrupted_by_us() says that
    our own callback stopped the solve)."""
    with scip_calls():
        model.optimize()
    status = model.getStatus()
    if status == "userinterrupt" and not interrupted_by_us():
        raise KeyboardInterrupt
    return status


def new_model(name: str) -> Model:
    """A quiet SCIP model with the documented tolerances, cutting planes off, fast heuristics
    and fast presolving.

    Cuts cost far more than they save on these big-M models (measured on ACAS Xu: 10x slower);
    the default heuristics and presolving cost 2.5x on the mnistfc_256x2 single MILP.
    """
    model = Model(name)
    model.hideOutput()
    model.setSeparating(SCIP_PARAMSETTING.OFF)
    model.setHeuristics(SCIP_PARAMSETTING.FAST)
    model.setPresolve(SCIP_PARAMSETTING.FAST)
    model.setParam("numerics/feastol", FEASTOL)
    model.setParam("numerics/dualfeastol", DUALFEASTOL)
    model.setParam("numerics/epsilon", EPSILON)
    return model


class NetworkMILP:
    """The network up to layer `last` as a SCIP model.

    phases: per layer an int8 array (ACTIVE / INACTIVE fix the phase; anything else gets a
    binary) or None for identity layers. relax=True makes z continuous (the LP relaxation).
    targets: if given, only these neurons of layer `last` are modelled, as g variables without
    phase (an objective or a constraint on their g needs nothing more; no binary is wasted).
    Attributes: model, x (input vars), g/hp/hn/z: per layer dicts neuron -> var.
    SolverTrouble when SCIP refuses the model (e.g. coefficients it cannot represent).
    """

    def __init__(self, network: Network, box: Box, bounds, phases, last: int,
                 relax: bool = False, name: str = "network", targets=None):
        for k, (lo, up) in enumerate(bounds[:last + 1]):
            big = float(np.max(np.maximum(np.abs(lo), np.abs(up)), initial=0.0))
            if not big < SCIP_INFINITY:
                raise SolverTrouble(f"the bounds of layer {k} reach {big:.3g}, beyond SCIP's "
                                    f"infinity ({SCIP_INFINITY:g}): no MILP for this domain")
        with scip_calls():
            self._build(network, box, bounds, phases, last, relax, name, targets)

    def _build(self, network, box, bounds, phases, last, relax, name, targets) -> None:
        self.network = network
        self.box = box
        self.model = model = new_model(name)
        self.x = [model.addVar(f"x[{i}]", lb=box.lo[i], ub=box.hi[i]) for i in range(box.size)]
        self.g: list[dict] = []
        self.hp: list[dict] = []
        self.hn: list[dict] = []
        self.z: list[dict] = []
        h: list = list(self.x)
        for k in range(last + 1):
            layer = network.layers[k]
            weight, bias = folded_first_layer(network) if k == 0 else (layer.weight, layer.bias)
            lo, up = bounds[k]
            phase = phases[k]
            neurons = range(layer.n_out)
            if k == last and targets is not None:
                phase, neurons = None, sorted(int(j) for j in targets)
            g, hp, hn, z, out = {}, {}, {}, {}, []
            alpha = layer.alpha if layer.activation == "leaky_relu" else 0.0
            for j in neurons:
                state = None if phase is None else phase[j]
                if state == INACTIVE and layer.activation == "relu":
                    out.append(None)  # h = 0
                    continue
                lj, uj = float(lo[j]), float(up[j])
                if state == ACTIVE:
                    lj = max(lj, 0.0)
                elif state == INACTIVE:
                    uj = min(uj, 0.0)
                gv = model.addVar(f"g[l={k},j={j}]", lb=lj, ub=max(uj, lj))
                row = weight[j]
                terms = quicksum(float(row[i]) * h[i] for i in np.flatnonzero(row) if h[i] is not None)
                model.addCons(terms + float(bias[j]) == gv, name=f"affine[l={k},j={j}]")
                g[j] = gv
                if phase is None or state == ACTIVE:
                    out.append(gv)
                elif state == INACTIVE:
                    out.append(alpha * gv)
                else:
                    mp, mn = max(uj, 0.0), max(-lj, 0.0)
                    p = model.addVar(f"hp[l={k},j={j}]", lb=0.0, ub=mp)
                    n = model.addVar(f"hn[l={k},j={j}]", lb=0.0, ub=mn)
                    zv = model.addVar(f"z[l={k},j={j}]", vtype="C" if relax else "B", lb=0.0, ub=1.0)
                    model.addCons(gv == p - n, name=f"relu_split[l={k},j={j}]")
                    model.addCons(p <= mp * zv, name=f"relu_ub[l={k},j={j}]")
                    model.addCons(n <= mn * (1 - zv), name=f"relu_lb[l={k},j={j}]")
                    hp[j], hn[j], z[j] = p, n, zv
                    out.append(p - alpha * n if alpha else p)
            self.g.append(g)
            self.hp.append(hp)
            self.hn.append(hn)
            self.z.append(z)
            h = out

    def input_point(self, sol=None) -> np.ndarray:
        """The flat input of a solution (None: the current LP solution), clipped to the box."""
        vals = np.array([self.model.getSolVal(sol, v) for v in self.x])
        return np.clip(vals, self.box.lo, self.box.hi)
