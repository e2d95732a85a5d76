"""The report of a compression: per layer before/after and why neurons went, totals, what each
rule contributed, the analysis's completeness and the verification's deviation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .ir import ACTIVE, INACTIVE, Conv2d, Network
from .reductions import RULES, Action, layer_name
from .stability import StabilityResult

REMOVED = ("inactive", "constant", "dead", "channel")
FOLDED, MERGED = ("rank-merge", "layer-fold"), ("lump",)
NEURON_RULES = ("inactive", "rank-merge", "layer-fold", "constant", "dead", "lump", "channel")  # these
# take neurons out of a layer; "output-zero" only zeroes rows of the output layer


@dataclass
class LayerReport:
    """One layer of the original model: neurons and parameters before/after and why they went.

    stably_active / stably_inactive come from the first stability analysis (None: not analysed).
    removed: stably inactive, constant and dead neurons; folded: merged by the rank rule or in a
    folded layer; merged: lumped into an equal / proportional neuron. rules: the neurons each
    rule of NEURON_RULES took out (only rules that took some); they add up to
    neurons_before - neurons_after. channels_before / channels_after: output channels of a
    conv layer (None for a dense one); macs_before / macs_after: its multiply-adds.
    """

    name: str
    activation: str
    neurons_before: int
    neurons_after: int
    stably_active: int | None
    stably_inactive: int | None
    removed: int
    folded: int
    merged: int
    params_before: int
    params_after: int
    rules: dict = field(default_factory=dict)
    channels_before: int | None = None
    channels_after: int | None = None
    macs_before: int = 0
    macs_after: int = 0


@dataclass
class CompressReport:
    model: str
    layers: list[LayerReport]
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    neurons_before: int
    neurons_after: int
    file_size_before: int
    file_size_after: int
    time_s: float
    stability_time_s: float
    domain: str | None
    complete: bool
    interrupted: bool = False  # Ctrl-C ended a stability analysis early
    unknown_by_reason: dict = field(default_factory=dict)  # of the last analysis: reason -> n
    solver_trouble: list[str] = field(default_factory=list)
    precision_kept: list[dict] = field(default_factory=list)  # edits the precision guard refused
    max_abs: float | None = None
    max_rel: float | None = None
    own_error: float | None = None  # the original's own rounding error on the same points
    verified: bool | None = None
    by_rule: dict = field(default_factory=dict)  # rule -> {"neurons": n, "params": saved}
    # ("position": n is the Dense columns dropped, one per stably inactive position)
    notes: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    proof: dict | None = None  # compress --prove: equivalent, max_abs_bound, tolerance, time_s
    opset: int | None = None  # of the written model (the original's, at least 7)
    ir_version: int | None = None

    @property
    def params_removed_pct(self) -> float:
        return 100.0 * (1 - self.params_after / self.params_before) if self.params_before else 0.0

    @property
    def macs_removed_pct(self) -> float:
        return 100.0 * (1 - self.macs_after / self.macs_before) if self.macs_before else 0.0

    def to_json(self) -> dict:
        """A JSON-safe dict; a deviation that is not finite (NaN or inf outputs) becomes null."""
        data = asdict(self)
        for key in ("max_abs", "max_rel", "own_error"):
            if data[key] is not None and not np.isfinite(data[key]):
                data[key] = None
        data["actions"] = [a.to_json() for a in self.actions]
        data["params_removed_pct"] = self.params_removed_pct
        data["macs_removed_pct"] = self.macs_removed_pct
        return data


def layer_reports(before: Network, after: Network, analysed: Network | None,
                   stability: StabilityResult | None, actions: list[Action]) -> list[LayerReport]:
    after_by_name = {layer_name(layer): layer for layer in after.layers}
    stable: dict[str, tuple[int, int]] = {}
    if stability is not None and analysed is not None:
        for ls in stability.layers:
            name = layer_name(analysed.layers[ls.layer])
            stable[name] = (int(np.sum(ls.status == ACTIVE)), int(np.sum(ls.status == INACTIVE)))
    reports = []
    for layer in before.layers:
        name = layer_name(layer)
        done = [a for a in actions if a.layer == name]

        def count(rules, done=done):
            return sum(len(a.neurons) for a in done if a.rule in rules)

        now = after_by_name.get(name)
        active, inactive = stable.get(name, (None, None))
        reports.append(LayerReport(
            name=name, activation=layer.activation.kind, neurons_before=layer.n_out,
            neurons_after=now.n_out if now is not None else 0,
            stably_active=active, stably_inactive=inactive,
            removed=count(REMOVED), folded=count(FOLDED), merged=count(MERGED),
            params_before=layer.n_params, params_after=now.n_params if now is not None else 0,
            rules={rule: count((rule,)) for rule in NEURON_RULES if count((rule,))},
            channels_before=_channels(layer), channels_after=_channels(now),
            macs_before=layer.n_macs, macs_after=now.n_macs if now is not None else 0))
    return reports


def _channels(layer) -> int | None:
    """Output channels of a conv layer (None for a dense or missing one)."""
    return layer.out_shape[0] if isinstance(layer, Conv2d) else None


def by_rule(actions: list[Action]) -> dict:
    out = {}
    for rule in RULES:
        done = [a for a in actions if a.rule == rule]
        if done:
            out[rule] = {"neurons": sum(len(a.neurons) for a in done),
                         "params": sum(a.params_saved for a in done)}
    return out
