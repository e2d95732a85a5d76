"""Which ReLU neurons never change phase on the domain (METHODS section 3).

`analyse_stability` decides every neuron of every two-phase layer, cheapest evidence first (the
stages of methods.METHODS; method "auto"):
  bounds      symbolic/interval pre-activation bounds: up <= 0 inactive, lo >= 0 active,
              then with optimised relaxation slopes (bounds.optimised), and on the parts of a
              split low-dimensional box;
  witness     float64 forward passes (samples, vertices, local search) with g > 0 and g < 0;
  branch and bound  bounds on every part of a split of earlier neurons' phases (branching.py),
              the parts' corners being witnesses;
  per-neuron  two MILPs per open neuron, in rounds of growing time caps (per_neuron.py).
Method "milp" ends with OBBT and one SCIP MILP over all undecided neurons (single_milp.py).
A proof from SCIP means "max g <= FLIP_MARGIN" (resp. "min g >= -FLIP_MARGIN") within SCIP's
feasibility tolerance; both are reported in StabilityResult.tolerances. Time limits, interrupts
and solver trouble leave neurons UNKNOWN and set complete=False; LayerStability.why gives each
unknown neuron its Reason and StabilityResult.trouble what SCIP said. Solver trouble never ends
the analysis with an error. baselines.py holds the benchmark's published per-neuron methods.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from ..bounds import check_domain
from ..domain import Box
from ..ir import Network
from .methods import METHODS, run
from .neuron_milps import NeuronMILPs
from .options import DEFAULT_TIME_LIMIT, StabilityOptions
from .result import Evidence, LayerStability, Reason, StabilityResult
from .state import Analysis

__all__ = ["DEFAULT_TIME_LIMIT", "METHODS", "Evidence", "LayerStability", "Reason",
           "StabilityOptions", "StabilityResult", "analyse_stability"]


def analyse_stability(network: Network, box: Box, options: StabilityOptions | None = None, *,
                      progress: Callable[[dict], None] | None = None,
                      **changes) -> StabilityResult:
    """Decide the phase stability of every two-phase neuron of `network` on `box`.

    options: a StabilityOptions, with `changes` applied (e.g. time_limit=30, workers=2).
    progress: called with a dict (stage, decided, total, by_evidence, elapsed_s) whenever the
    counts change. Ctrl-C returns a sound partial result (interrupted=True).
    """
    options = replace(options or StabilityOptions(), **changes)
    if options.method not in METHODS:
        raise ValueError(f"unknown stability method {options.method!r}; use one of "
                         f"{', '.join(METHODS)}")
    check_domain(network, box)
    method = METHODS[options.method]
    state = Analysis(network, box, options.time_limit, progress, method.interval,
                     seed=options.seed)
    try:
        with NeuronMILPs(options.workers) as state.workers:
            run(state, method)
    except KeyboardInterrupt:  # the workers are stopped by now
        state.complete = False
        state.interrupted = True
    return state.result(options.method)
