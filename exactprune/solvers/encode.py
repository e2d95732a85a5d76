"""A network as big-M MILP constraints (METHODS section 3), added to a SCIP model the caller owns.

`encode_network` adds the layers 0..last of a network over input variables the caller passes
(the flat ORIGINAL input: the input map is folded into layer 0), so that two networks can share
one input. For every modelled neuron g[l,j] = W h + b (constraint affine[l,j]); its output h
depends on its activation (the ENCODINGS table) and on its phase:
  identity                   h = g
  two-phase, stable active   h = g
  two-phase, stable inactive h = s g with s the inactive slope (relu: no g variable at all)
  two-phase, undecided       g = hp - hn, hp <= M+ z, hn <= M- (1 - z), hp, hn >= 0, z binary,
                             h = hp - s hn, M+ = max(up, 0), M- = max(-lo, 0).
Bounds must be sound (exactprune.bounds); they are the variables' bounds and the big-M constants.
Names carry the caller's prefix: "{prefix}g[l=2,j=17]", "{prefix}relu_ub[l=2,j=17]".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pyscipopt import Model, quicksum

from ..domain import Box
from ..ir import ACTIVE, INACTIVE, Dense, Network
from .scip import SCIP_INFINITY, SolverTrouble, new_model, scip_calls


@dataclass
class Encoding:
    """The handles of one encoded network: per layer, dicts neuron -> variable (g, hp, hn, z)
    and the output expressions h of the last layer encoded (None for a neuron that is 0)."""

    g: list[dict] = field(default_factory=list)
    hp: list[dict] = field(default_factory=list)
    hn: list[dict] = field(default_factory=list)
    z: list[dict] = field(default_factory=list)
    h: list = field(default_factory=list)


@dataclass
class _Layer:
    """What an encoding function needs of one layer while it is encoded."""

    model: Model
    k: int
    slope: float  # the inactive slope of the activation
    relax: bool
    prefix: str
    out: Encoding


def _identity(ctx: _Layer, j: int, state, g_var, lo: float, up: float) -> object:
    return g_var


def _two_phase(ctx: _Layer, j: int, state, g_var, lo: float, up: float) -> object:
    if state == ACTIVE:
        return g_var
    if state == INACTIVE:
        return ctx.slope * g_var
    model, k, name = ctx.model, ctx.k, ctx.prefix
    mp, mn = max(up, 0.0), max(-lo, 0.0)
    p = model.addVar(f"{name}hp[l={k},j={j}]", lb=0.0, ub=mp)
    n = model.addVar(f"{name}hn[l={k},j={j}]", lb=0.0, ub=mn)
    z = model.addVar(f"{name}z[l={k},j={j}]", vtype="C" if ctx.relax else "B", lb=0.0, ub=1.0)
    model.addCons(g_var == p - n, name=f"{name}relu_split[l={k},j={j}]")
    model.addCons(p <= mp * z, name=f"{name}relu_ub[l={k},j={j}]")
    model.addCons(n <= mn * (1 - z), name=f"{name}relu_lb[l={k},j={j}]")
    ctx.out.hp[k][j], ctx.out.hn[k][j], ctx.out.z[k][j] = p, n, z
    return p - ctx.slope * n if ctx.slope else p


ENCODINGS = {"identity": _identity, "relu": _two_phase, "leaky_relu": _two_phase}


def _check_bounds(bounds, last: int) -> None:
    for k, (lo, up) in enumerate(bounds[:last + 1]):
        big = float(np.max(np.maximum(np.abs(lo), np.abs(up)), initial=0.0))
        if not big < SCIP_INFINITY:
            raise SolverTrouble(f"the bounds of layer {k} reach {big:.3g}, beyond SCIP's "
                                f"infinity ({SCIP_INFINITY:g}): no MILP for this domain")


def encode_network(model: Model, x: list, network: Network, bounds, phases, last: int, *,
                   relax: bool = False, targets=None, prefix: str = "") -> Encoding:
    """Add layers 0..last of `network` to `model` over the input variables `x` (flat input).

    phases: per layer an int8 array (ACTIVE / INACTIVE fix the phase; anything else gets a
    binary) or None for identity layers. relax=True makes z continuous (the LP relaxation).
    targets: if given, only these neurons of layer `last` are modelled, as g variables without
    phase (an objective or a constraint on their g needs nothing more; no binary is wasted).
    SolverTrouble when SCIP cannot take the model (bounds beyond its infinity, or an error).
    """
    _check_bounds(bounds, last)
    out = Encoding()
    with scip_calls():
        h: list = list(x)
        for k in range(last + 1):
            layer = network.layers[k]
            if k == 0 and isinstance(layer, Dense):
                layer = network.folded_first_layer()
            elif k == 0:  # a conv layer's rows on h0, h0 as expressions of x (no dense W)
                imap = network.input_map
                h = [float(s) * x[int(p)] + float(t)
                     for p, s, t in zip(imap.perm, imap.scale, imap.shift)]
            lo, up = bounds[k]
            phase = phases[k]
            neurons = range(layer.n_out)
            if k == last and targets is not None:
                phase, neurons = None, sorted(int(j) for j in targets)
            for handles in (out.g, out.hp, out.hn, out.z):
                handles.append({})
            act = layer.activation
            ctx = _Layer(model, k, act.inactive_slope, relax, prefix, out)
            encode = ENCODINGS[act.kind] if phase is not None else _identity
            rows = {j: (cols, coef) for j, cols, coef in layer.rows()}
            nxt = []
            for j in neurons:
                state = None if phase is None else phase[j]
                if state == INACTIVE and act.inactive_slope == 0.0 and act.two_phase:
                    nxt.append(None)  # h = 0
                    continue
                lj, uj = float(lo[j]), float(up[j])
                if state == ACTIVE:
                    lj = max(lj, 0.0)
                elif state == INACTIVE:
                    uj = min(uj, 0.0)
                g_var = model.addVar(f"{prefix}g[l={k},j={j}]", lb=lj, ub=max(uj, lj))
                cols, coef = rows[j]
                terms = quicksum(float(c) * h[i] for i, c in zip(cols, coef) if h[i] is not None)
                model.addCons(terms + float(layer.bias[j]) == g_var,
                              name=f"{prefix}affine[l={k},j={j}]")
                out.g[k][j] = g_var
                nxt.append(encode(ctx, j, state, g_var, lj, uj))
            h = nxt
        out.h = h
    return out


class NetworkMILP:
    """A network up to layer `last` alone in a new SCIP model: `encode_network` over new input
    variables x[i] bounded by the box. Attributes: model, x, g/hp/hn/z (per layer dicts neuron ->
    variable). SolverTrouble when SCIP refuses the model."""

    def __init__(self, network: Network, box: Box, bounds, phases, last: int,
                 relax: bool = False, name: str = "network", targets=None):
        self.network, self.box = network, box
        _check_bounds(bounds, last)
        with scip_calls():
            self.model = new_model(name)
            self.x = [self.model.addVar(f"x[{i}]", lb=box.lo[i], ub=box.hi[i])
                      for i in range(box.size)]
        enc = encode_network(self.model, self.x, network, bounds, phases, last, relax=relax,
                             targets=targets)
        self.g, self.hp, self.hn, self.z = enc.g, enc.hp, enc.hn, enc.z

    def input_point(self, sol=None) -> np.ndarray:
        """The flat input of a solution (None: the current LP solution), clipped to the box."""
        vals = np.array([self.model.getSolVal(sol, v) for v in self.x])
        return np.clip(vals, self.box.lo, self.box.hi)
