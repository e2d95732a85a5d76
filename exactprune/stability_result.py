"""The result of a stability analysis, shared by `stability`, `compress` and `regions`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .domain import Box

# status codes per neuron
INACTIVE = -1  # proven: g <= 0 on the whole domain
UNSTABLE = 0  # proven: witnesses on both sides
ACTIVE = 1  # proven: g >= 0 on the whole domain
UNKNOWN = 2  # not decided (time limit, interrupt, solver trouble): must be kept

STATUS_KEYS = {ACTIVE: "stably_active", INACTIVE: "stably_inactive", UNSTABLE: "unstable",
               UNKNOWN: "unknown"}

# why a neuron is UNKNOWN
TIME_LIMIT = "time limit"
INTERRUPTED = "interrupted"
SOLVER_TROUBLE = "solver trouble"
UNCONFIRMED = "solver input not confirmed in float64"
NOT_TRIED = "not tried by the method"
REASONS = (TIME_LIMIT, INTERRUPTED, SOLVER_TROUBLE, UNCONFIRMED, NOT_TRIED)


@dataclass(eq=False)
class LayerStability:
    """Stability of the neurons of one piecewise layer (network.layers[layer])."""

    layer: int
    node: str
    status: np.ndarray  # int8 per neuron, codes above
    evidence: list[str]  # per neuron: "bounds", "witness", "milp", "per-neuron", or "" if unknown
    lower: np.ndarray  # sound pre-activation bounds
    upper: np.ndarray
    origin: tuple[int, ...] = ()  # original flat neuron indices (Dense.origin)
    why: list[str] = field(default_factory=list)  # per neuron: a REASONS entry if unknown, else ""

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

    def unknown_by_reason(self) -> dict[str, int]:
        """How many neurons are unknown for each reason (REASONS order, only those that occur)."""
        counts = {reason: 0 for reason in REASONS}
        for layer in self.layers:
            for status, why in zip(layer.status, layer.why or [""] * layer.status.size):
                if status == UNKNOWN:
                    counts[why or NOT_TRIED] += 1
        return {reason: n for reason, n in counts.items() if n}

    def describe_unknown(self) -> str:
        """'3 unknown (time limit 2, solver trouble 1)', or '' when every neuron is decided."""
        return describe_reasons(self.unknown_by_reason())

    def to_json(self, model_path: str) -> dict:
        """The JSON contract: {"model", "domain", "time_s", "layers": [...]} (+ extra keys)."""
        return {
            "model": str(model_path),
            "domain": self.domain.to_json(),
            "time_s": float(self.time_s),
            "complete": self.complete,
            "interrupted": self.interrupted,
            "method": self.method,
            "unknown_by_reason": self.unknown_by_reason(),
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


def describe_reasons(counts: dict[str, int]) -> str:
    """'3 unknown (time limit 2, solver trouble 1)' for reason -> count; '' when empty."""
    if not counts:
        return ""
    detail = ", ".join(f"{reason} {n}" for reason, n in counts.items())
    return f"{sum(counts.values())} unknown ({detail})"


def trouble_note(trouble: list[str]) -> str:
    """One line on what the solver said when it failed."""
    return f"the solver failed {len(trouble)} time(s), first: {trouble[0]}"
