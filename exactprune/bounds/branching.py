"""Branch and bound over phase splits (beta-CROWN, Wang et al. 2021; METHODS section 2).

To prove that one neuron's pre-activation g keeps its sign on the box, the box is cut by the
phases of crossing neurons of earlier layers: each part (node) fixes some of them active
(g_i >= 0, linear with slope 1) or inactive (g_i <= 0). On a part, the back-substitution of
bounds.optimised uses the fixed lines and adds beta * (the part's constraints) to the objective
(beta >= 0, optimised with the slopes), which keeps the bound sound on the part. A part whose
bound proves the sign is closed; the parts cover the box, so when all are closed the sign is
proven. The intermediate bounds stay those given (sound on the whole box, so on every part).
A part is split on one of the CANDIDATES neurons that BaBSR ranks first: both children of each
are bounded with the part's slopes and betas, and the one whose worse child is best is taken
(filtered smart branching); a child whose bound already proves the sign is closed at once.
The corners attaining the parts' bounds are handed to the caller's float64 check (refute): a
corner where the sign flips ends the search. No solver here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from ..domain import Box
from ..ir import Network
from ..parallel import clock
from . import Bounds, input_bounds, widen
from .optimised import Lines, Split, lower_pass, optimise_rows

ITERATIONS = 10  # ascent steps per batch of parts
BATCH = 64  # parts bounded together
CANDIDATES = 3  # splits whose children are bounded before one is chosen


class Verdict(Enum):
    PROVEN = "proven"
    REFUTED = "refuted"
    OPEN = "open"


@dataclass
class Search:
    """The outcome of one search: the verdict, the number of parts bounded, and a sound upper
    bound of sign * g[k][j] over the box (prove_sign says how; inf after a refutation)."""

    verdict: Verdict
    nodes: int
    bound: float = np.inf


@dataclass
class _Node:
    sign: dict  # layer -> (n_i,) int8 in {-1, 0, 1}
    beta: dict  # layer -> (n_i,) float, >= 0
    slopes: dict  # layer -> (n_free_i,)
    parent: float = -np.inf  # the parent's sound lower bound of threshold - sign * g


def _stack(nodes: list[_Node], key: str) -> dict:
    return {i: np.stack([getattr(n, key)[i] for n in nodes]) for i in getattr(nodes[0], key)}


def _bound(network: Network, k: int, lines: dict, nodes: list[_Node], coef, const, h0,
           deadline: float):
    """Optimise the nodes' slopes and betas together (optimise_rows, one row per node)."""
    rows = len(nodes)
    coef, const = np.broadcast_to(coef, (rows, coef.size)), np.full(rows, const)
    return optimise_rows(network, k, lines, coef, const, *h0, ITERATIONS, deadline,
                         _stack(nodes, "slopes"), _stack(nodes, "sign"), _stack(nodes, "beta"))


def _candidates(run, row: int, crossing: dict, width: dict, node: _Node) -> list:
    """The CANDIDATES crossing, not yet fixed neurons (layer, index) whose relaxation costs the
    node's bound most (its intercept times its coefficient, BaBSR; ties by coefficient times the
    relaxation's width), best first; empty when every crossing neuron is fixed."""
    scored = []
    for i, a_i, _, icpt, _ in run.saved:
        free = crossing[i] & (node.sign[i] == 0)
        if not free.any():
            continue
        score = np.where(free, np.maximum(-a_i[row] * icpt[row], 0.0)
                         + 1e-6 * np.abs(a_i[row]) * width[i], -1.0)
        top = np.argsort(-score, kind="stable")[:CANDIDATES]
        scored += [(float(score[j]), i, int(j)) for j in top if free[j]]
    scored.sort(key=lambda t: -t[0])
    return [(i, j) for _, i, j in scored[:CANDIDATES]]


def _children(network: Network, k: int, lines: dict, coef, const, h0, params: dict,
              nodes: list[_Node], picks: list) -> np.ndarray:
    """Sound lower bounds (widened) of both children of every candidate split: picks lists
    (row, layer, neuron, side); each child keeps its node's slopes and betas (0 on the new
    split), which bound it soundly (filtered smart branching, De Palma et al. 2021)."""
    rows = np.array([p[0] for p in picks])
    signs = {i: np.stack([nodes[r].sign[i] for r in rows]) for i in lines}
    for t, (_, i, j, side) in enumerate(picks):
        signs[i][t, j] = side
    splits = {i: Split(signs[i], params[("b", i)][rows]) for i in lines}
    slopes = {i: params[("s", i)][rows] for i in lines}
    run = lower_pass(network, k, lines, slopes, np.broadcast_to(coef, (rows.size, coef.size)),
                     np.full(rows.size, const), *h0, False, splits)
    return widen(run.value, run.value, run.mag)[0]


def prove_sign(network: Network, box: Box, bounds: Bounds, k: int, j: int, sign: int,
               deadline: float, refute, max_nodes: int = 4000, threshold: float = 0.0) -> Search:
    """Branch and bound: is sign * g[k][j] <= threshold on the box (threshold 0, sign +1: stably
    inactive; -1: stably active)? refute(x) gets inputs (N, d) and says whether one of them
    makes sign * g[k][j] > threshold in the caller's float64 check (then REFUTED). PROVEN only
    when every part is closed. Search.bound: a sound upper bound of sign * g[k][j] on the box,
    the largest of the threshold (when a part was closed) and the open parts' bounds."""
    h0 = input_bounds(network, box)
    lines = {i: Lines.of(network, i, *bounds[i]) for i in range(k)}
    crossing = {i: (bounds[i][0] < 0.0) & (bounds[i][1] > 0.0)
                & network.layers[i].activation.two_phase for i in range(k)}
    width = {i: np.where(crossing[i], bounds[i][1] * -bounds[i][0]
                         / np.maximum(bounds[i][1] - bounds[i][0], 1e-300), 0.0)
             for i in range(k)}
    dense = network.layers[k].as_dense()
    coef, const = -sign * dense.weight[j], -sign * dense.bias[j] + threshold
    start = -(bounds[k][1][j] if sign > 0 else -bounds[k][0][j]) + threshold
    todo = [_Node({i: np.zeros(lines[i].ls.size, np.int8) for i in range(k)},
                  {i: np.zeros(lines[i].ls.size) for i in range(k)},
                  {i: lines[i].initial().copy() for i in range(k)}, start)]
    used, closed, stuck = 0, False, []  # stuck: open parts with every crossing neuron fixed
    while todo:
        if used >= max_nodes or clock() > deadline:
            return Search(Verdict.OPEN, used, _upper(todo + stuck, threshold, closed))
        nodes, todo = todo[-BATCH:], todo[:-BATCH]
        used += len(nodes)
        value, run, params = _bound(network, k, lines, nodes, coef, const, h0, deadline)
        value = np.maximum(value, [n.parent for n in nodes])
        corners = np.where(network.input_map.pull_back(run.coef0, network.n_inputs) > 0.0,
                           box.lo, box.hi)
        if refute(corners[value < 0.0]):
            return Search(Verdict.REFUTED, used)
        closed = closed or bool((value >= 0.0).any())
        opened, picks = [], []
        for row in np.flatnonzero(value < 0.0):
            node = _Node(nodes[row].sign, {i: params[("b", i)][row] for i in range(k)},
                         {i: params[("s", i)][row] for i in range(k)}, float(value[row]))
            cands = _candidates(run, row, crossing, width, node)
            if not cands:
                stuck.append(node)
                continue
            opened.append((node, len(picks), len(cands)))
            picks += [(row, i, n, side) for i, n in cands for side in (1, -1)]
        if not picks:
            continue
        child = _children(network, k, lines, coef, const, h0, params, nodes, picks)
        for node, at, count in opened:
            pair = child[at:at + 2 * count].reshape(-1, 2)
            best = int(np.argmax(pair.min(axis=1) + 1e-9 * pair.sum(axis=1)))
            _, i, n, _ = picks[at + 2 * best]
            for side, bound in zip((1, -1), pair[best]):
                if bound >= 0.0:
                    closed = True
                    continue
                signs = {q: s.copy() for q, s in node.sign.items()}
                signs[i][n] = side
                todo.append(_Node(signs, {q: b.copy() for q, b in node.beta.items()},
                                  node.slopes, max(node.parent, float(bound))))
    if stuck:
        return Search(Verdict.OPEN, used, _upper(stuck, threshold, closed))
    return Search(Verdict.PROVEN, used, threshold)


def _upper(todo: list[_Node], threshold: float, closed: bool) -> float:
    """The sound upper bound of sign * g from the open parts (and the threshold if one closed)."""
    worst = min(n.parent for n in todo)
    return max(threshold - worst, threshold if closed else -np.inf)
