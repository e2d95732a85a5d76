"""Beyond exact: post-training weight pruning (docs/prune.md).

Public API:
    prune_model(loaded_model, labelled, PruneOptions, held_back=0.2) -> PruneResult
    prune_network(network, labelled, PruneOptions) -> Pruned          (the pruning alone)
    allocate(network, sparsity, "uniform" | "regions") -> per-layer sparsities
    RecallReport (per-class recall before/after, intensification), render_recall (PNG)
"""

from .allocate import ALLOCATIONS, allocate
from .plot import render_recall
from .prune import METHODS, Pruned, PruneOptions, prune_network
from .recall import RecallReport, per_class_recall
from .result import PruneResult, predictions, prune_model

__all__ = ["ALLOCATIONS", "METHODS", "PruneOptions", "PruneResult", "Pruned", "RecallReport",
           "allocate", "per_class_recall", "predictions", "prune_model", "prune_network",
           "render_recall"]
