"""Prune a loaded model and account for it: prune_model -> PruneResult (the written model, its
check in onnxruntime against the pruned Network, accuracy and recall on held-back rows, the
region bounds before and after) and its JSON (docs/prune.md, "JSON")."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import onnx

from ..domain import Labelled, held_back_split
from ..equivalence import TOLERANCES
from ..equivalence.sampled import float_outputs
from ..errors import DomainError
from ..ir import Network
from ..onnx_io import LoadedModel, to_onnx
from ..regions import region_bounds
from .prune import Pruned, PruneOptions, prune_network
from .recall import RecallReport

BOUNDS = ("theorem1_rank", "sparsity_expected")  # the region bounds a prune report shows
CBS_OPTIONS = ("block", "swaps", "stages", "fisher_samples", "damp", "seed")


@dataclass(frozen=True)
class Check:
    """The written model run in onnxruntime against the pruned Network on the held-back rows:
    max |difference|, and the float type's tolerance atol + rtol * max(1, max |output|)."""

    max_abs: float
    tolerance: float
    skipped: str = ""

    @property
    def passed(self) -> bool:
        return not self.skipped and self.max_abs <= self.tolerance

    def to_json(self) -> dict:
        return {"max_abs": self.max_abs, "tolerance": self.tolerance, "passed": self.passed,
                "skipped": self.skipped or None}


@dataclass(eq=False)
class PruneResult:
    """What prune_model did; `model` is the written ONNX model (the pruned network behind the
    original's interface), `held` the held-back rows the report is measured on."""

    source: LoadedModel
    options: PruneOptions
    pruned: Pruned
    model: onnx.ModelProto
    check: Check
    held: Labelled
    recall: RecallReport
    bounds: dict[str, dict[str, int]]
    notes: list[str] = field(default_factory=list)
    time_s: float = 0.0

    def to_json(self, output: str | None) -> dict:
        """model, output, method, allocate, cbs (its options), sparsity, data, layers (weights,
        zeros before/after, target and reached sparsity), accuracy before/after, recall
        (RecallReport.to_json), check, bounds (before/after: theorem1_rank, sparsity_expected),
        notes, time_s."""
        layers = [{"layer": k, "weights": n, "zeros_before": z0, "zeros_after": z1,
                   "target": round(share, 6), "sparsity": z1 / n}
                  for k, (n, z0, z1, share) in enumerate(self.pruned.layers)]
        return {"model": self.source.name, "output": output,
                "method": self.options.method, "allocate": self.options.allocate,
                "cbs": ({k: getattr(self.options, k) for k in CBS_OPTIONS}
                        if self.options.method == "cbs" else None),
                "sparsity_target": self.options.sparsity, "sparsity": self.pruned.sparsity,
                "data": self.held.source, "held_back_rows": int(self.held.y.size),
                "layers": layers, "accuracy_before": self.recall.accuracy_before,
                "accuracy_after": self.recall.accuracy_after, "recall": self.recall.to_json(),
                "check": self.check.to_json(),
                "bounds": {k: {b: str(v) for b, v in d.items()} for k, d in self.bounds.items()},
                "notes": list(self.notes), "time_s": self.time_s}


def predictions(network: Network, x: np.ndarray) -> np.ndarray:
    """The class of each row: the argmax of the network's outputs."""
    return network.forward(x).argmax(axis=1)


def _check(source: LoadedModel, model: onnx.ModelProto, network: Network, x: np.ndarray) -> Check:
    if source.interface.tail:
        return Check(np.nan, np.nan, "the model has ops after its dense layers (a tail): the "
                                    "written model is not compared with the pruned layers")
    got = float_outputs(model, x, "pruned model")
    want = network.forward(x)
    atol, rtol = TOLERANCES.get(np.dtype(source.interface.numpy_type).name,
                                TOLERANCES["float64"])
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    return Check(float(np.abs(got - want).max(initial=0.0)), atol + rtol * scale)


def prune_model(source: LoadedModel, data: Labelled, options: PruneOptions = PruneOptions(),
                held_back: float = 0.2, progress=None) -> PruneResult:
    """Prune `source` with the rows of `data` that are not held back (held_back_split), write
    it behind the original's interface (its stored domain kept: the inputs it will see), and
    measure it on the held-back rows."""
    start = time.monotonic()
    use, held = held_back_split(data.y, held_back)
    if not use.size:
        raise DomainError(f"{data.source}: {data.y.size} rows leave none to prune with after "
                          f"holding back {held_back:g} of each class; give more rows")
    network = source.network
    float32 = source.interface.numpy_type == np.float32
    pruned = prune_network(network, data.rows(use), options, float32=float32, progress=progress)
    model = to_onnx(pruned.network, source.stored_domain, None, source.interface)
    held_rows = data.rows(held)
    check = _check(source, model, pruned.network, held_rows.x)
    recall = RecallReport.of(held_rows.y, predictions(network, held_rows.x),
                             predictions(pruned.network, held_rows.x), network.n_outputs)
    bounds = {"before": region_bounds(network), "after": region_bounds(pruned.network)}
    bounds = {k: {b: v[b] for b in BOUNDS} for k, v in bounds.items()}
    return PruneResult(source, options, pruned, model, check, held_rows, recall, bounds,
                       time_s=time.monotonic() - start)
