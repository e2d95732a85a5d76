"""Exact reductions of a Network (METHODS section 4), one module per family, and the driver.

Every rule returns (new network, [Action]) and never changes the function on the domain in real
arithmetic. Unknown and unstable neurons are always kept; output neurons are never deleted.
"""

from .base import RULES, Action, layer_name
from .cleanup import drop_empty_layers, remove_constant, remove_dead
from .fixpoint import FixpointResult, reduce_data_free, reduce_network
from .lumping import lump, proportional_groups
from .stable import RANK_TOL, reduce_stable, select_basis

__all__ = [
    "RULES", "Action", "layer_name", "drop_empty_layers", "remove_constant", "remove_dead",
    "FixpointResult", "reduce_data_free", "reduce_network", "lump", "proportional_groups",
    "RANK_TOL", "reduce_stable", "select_basis",
]
