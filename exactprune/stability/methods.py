"""The methods of the stability analysis as data: which stages run, in which order.

Every method starts from sound bounds (symbolic; interval for the published baselines), then
runs its stages, cheapest evidence first; each stage sees only what the earlier ones left
undecided, and a stage marked `needs_open` is skipped (with the rest) once nothing is.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

from . import baselines, per_neuron
from .branching import branch
from .single_milp import single_milp
from .splitting import split_inputs
from .state import Analysis
from .tighten import optimise, tighten
from .witnesses import witness_stage


@dataclass(frozen=True)
class StageStep:
    run: Callable[[Analysis], None]
    needs_open: bool = True  # skipped, with what follows, when no neuron is undecided


@dataclass(frozen=True)
class Method:
    stages: tuple[StageStep, ...]
    interval: bool = False  # start from interval bounds instead of symbolic ones
    summary: str = ""


_WITNESSES = StageStep(witness_stage, needs_open=False)
_BOUNDS = (_WITNESSES, StageStep(optimise))
_ANALYSIS = (*_BOUNDS, StageStep(split_inputs))

METHODS: dict[str, Method] = {
    "auto": Method((*_ANALYSIS, StageStep(partial(branch, near_milp=True)),
                    StageStep(per_neuron.rounds)),
                   summary="bounds (optimised), witnesses, branch and bound over earlier "
                   "phases, per-neuron MILPs in rounds of growing time caps"),
    "bounds": Method(_BOUNDS, summary="bounds (optimised) and witnesses only"),
    "branch": Method((*_ANALYSIS, StageStep(branch)),
                     summary="bounds (optimised), witnesses, branch and bound: no solver, so "
                     "every proof is by sound bounds (the formal check's analysis)"),
    "milp": Method((*_ANALYSIS, StageStep(tighten), StageStep(partial(single_milp, share=1.0))),
                   summary="bounds, LP bounds, then one MILP over every open neuron"),
    "per-neuron": Method((StageStep(per_neuron.per_neuron, needs_open=False),),
                         summary="our bounds, then two MILPs per neuron"),
    "per-neuron-plain": Method((StageStep(baselines.per_neuron_plain, needs_open=False),),
                               interval=True, summary="baseline: the published per-neuron "
                               "method from interval bounds"),
    "per-neuron-tight": Method((StageStep(baselines.per_neuron_tight, needs_open=False),),
                               interval=True, summary="baseline: the same, each MILP solved to "
                               "a 1% gap"),
    "per-neuron-capped": Method((StageStep(baselines.per_neuron_capped, needs_open=False),),
                                summary="baseline: symbolic bounds, sampled witnesses, two "
                                "MILPs per neuron, each capped at a few seconds"),
}


def run(state: Analysis, method: Method) -> None:
    state.apply_bounds()
    state.report()
    for step in method.stages:
        if step.needs_open and not state.undecided():
            return
        step.run(state)
