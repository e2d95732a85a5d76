"""OBBT: LP bounds are tighter than symbolic ones where the relaxation loses a correlation, and
sound."""

from __future__ import annotations

import numpy as np
from builders import inside, twin_network

from exactprune.bounds import symbolic_bounds
from exactprune.domain import Box
from exactprune.solvers.obbt import lp_tighten


def test_lp_tightening_is_tighter_and_sound():
    net = twin_network(20)
    box = Box(np.zeros(20), np.ones(20))
    sb = symbolic_bounds(net, box)
    assert sb[1][1][0] > 0.0  # not proven by symbolic bounds
    phases = [np.full(2, 2, np.int8), np.full(1, 2, np.int8), None]
    lo, up = lp_tighten(net, box, sb, phases, 1, [0], time_limit=10.0)
    assert up[0] < sb[1][1][0] and lo[0] >= sb[1][0][0]
    assert inside(net, box, [sb[0], (lo, up)])
