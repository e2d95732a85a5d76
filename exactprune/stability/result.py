"""The result of a stability analysis, shared by `stability`, `compress` and `regions`, and the
names of what decided a neuron (Evidence) or left it undecided (Reason)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from ..domain import Box
from ..ir import ACTIVE, INACTIVE, UNKNOWN, UNSTABLE

STATUS_KEYS = {ACTIVE: "stably_active", INACTIVE: "stably_inactive", UNSTABLE: "unstable",
               UNKNOWN: "unknown"}


class Named(str, Enum):
    """A name that is its own string (in messages, f-strings and JSON)."""

    def __str__(self) -> str:
        return self.value


class Evidence(Named):
    """What decided a neuron."""

    BOUNDS = "bounds"  # sound bounds (symbolic, interval, on input parts, OBBT)
    WITNESS = "witness"  # float64 forward passes with g > 0 and g < 0
    MILP = "milp"  # the single MILP (its solutions, or its infeasibility)
    PER_NEURON = "per-neuron"  # per-neuron MILPs
    BRANCHING = "branch and bound"  # bounds on every part of a split of earlier phases
    PARENT = "parent"  # proven on a larger box (the per-neuron-parts baseline)
    NONE = ""  # not decided


class Reason(Named):
    """Why a neuron is UNKNOWN."""

    TIME_LIMIT = "time limit"
    INTERRUPTED = "interrupted"
    SOLVER_TROUBLE = "solver trouble"
    UNCONFIRMED = "solver input not confirmed in float64"
    NOT_TRIED = "not tried by the method"


@dataclass(eq=False)
class LayerStability:
    """Stability of the neurons of one two-phase layer (network.layers[layer])."""

    layer: int
    node: str
    status: np.ndarray  # int8 per neuron, codes of exactprune.ir.phase
    evidence: list[Evidence]  # per neuron (Evidence.NONE if unknown)
    lower: np.ndarray  # sound pre-activation bounds
    upper: np.ndarray
    origin: tuple[int, ...] = ()  # original flat neuron indices (Dense.origin)
    why: list[Reason | None] = field(default_factory=list)  # per neuron, if unknown

    def indices(self, code: int) -> list[int]:
        idx = np.flatnonzero(self.status == code)
        orig = self.origin or tuple(range(self.status.size))
        return [int(orig[i]) for i in idx]


@dataclass(eq=False)
class StabilityResult:
    layers: list[LayerStability]
    domain: Box
    time_s: float = 0.0
    complete: bool = True  # False when a limit or an interrupt left neurons unknown
    witnesses: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # flat inputs
    tolerances: dict = field(default_factory=dict)
    method: str = "auto"
    interrupted: bool = False  # Ctrl-C ended the analysis (complete is then False too)
    trouble: list[str] = field(default_factory=list)  # what the solvers said when they failed

    def counts(self) -> dict[str, int]:
        total = {key: 0 for key in STATUS_KEYS.values()}
        for layer in self.layers:
            for code, key in STATUS_KEYS.items():
                total[key] += int(np.sum(layer.status == code))
        return total

    def unknown_by_reason(self) -> dict[Reason, int]:
        """How many neurons are unknown for each reason (Reason order, only those that occur)."""
        counts = {reason: 0 for reason in Reason}
        for layer in self.layers:
            for status, why in zip(layer.status, layer.why or [None] * layer.status.size):
                if status == UNKNOWN:
                    counts[why or Reason.NOT_TRIED] += 1
        return {reason: n for reason, n in counts.items() if n}

    def describe_unknown(self) -> str:
        """'3 unknown (time limit 2, solver trouble 1)', or '' when every neuron is decided."""
        return describe_reasons(self.unknown_by_reason())

    def status_by_layer(self) -> dict[int, np.ndarray]:
        """{network layer index: status codes}."""
        return {ls.layer: np.asarray(ls.status) for ls in self.layers}

    def to_json(self, model_path: str, witnesses: bool = True) -> dict:
        """The JSON document: model, domain, time_s, complete, interrupted, method,
        unknown_by_reason, solver_trouble, tolerances, layers (original neuron indices by
        status) and, with `witnesses`, the witness inputs."""
        data = {
            "model": str(model_path),
            "domain": self.domain.to_json(),
            "time_s": float(self.time_s),
            "complete": self.complete,
            "interrupted": self.interrupted,
            "method": self.method,
            "unknown_by_reason": {str(r): n for r, n in self.unknown_by_reason().items()},
            "solver_trouble": list(self.trouble),
            "tolerances": self.tolerances,
            "layers": [
                {
                    "index": k,
                    "node": layer.node,
                    "neurons": int(layer.status.size),
                    **{key: layer.indices(code) for code, key in STATUS_KEYS.items()},
                }
                for k, layer in enumerate(self.layers)
            ],
        }
        if witnesses:
            data["witnesses"] = self.witnesses.tolist()
        return data


def describe_reasons(counts: dict) -> str:
    """'3 unknown (time limit 2, solver trouble 1)' for reason -> count; '' when empty."""
    if not counts:
        return ""
    detail = ", ".join(f"{reason} {n}" for reason, n in counts.items())
    return f"{sum(counts.values())} unknown ({detail})"


def trouble_note(trouble: list[str]) -> str:
    """One line on what the solver said when it failed."""
    return f"the solver failed {len(trouble)} time(s), first: {trouble[0]}"
