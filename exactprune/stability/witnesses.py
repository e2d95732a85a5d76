"""The witness stage: inputs of the box on which undecided neurons are strictly active or
inactive, found without a solver (samples, vertices, the corners that the symbolic relaxation
points to, and a gradient-guided local search). Every sign counts only through SignEvidence,
beyond the float64 forward pass's rounding-error bound."""

from __future__ import annotations

import time

import numpy as np

from ..bounds import linear_bound_coefficients
from ..domain import Box, sample_points
from ..ir import Network
from .result import Evidence
from .signs import SignEvidence
from .state import Analysis, Stage


def input_gradients(network: Network, x: np.ndarray, layer: int, neuron: np.ndarray) -> np.ndarray:
    """d g[layer][neuron[t]] / d x_flat at x[t], through the activation pattern at x[t].

    x: (T, d) flat inputs; neuron: (T,) indices. Returns (T, d).
    """
    step = network.chunk_rows()
    if x.shape[0] > step:  # chunk by chunk: a conv layer's values for all of x are large
        return np.vstack([input_gradients(network, x[r:r + step], layer, neuron[r:r + step])
                          for r in range(0, x.shape[0], step)])
    g = network.preactivations(x) if layer else []
    grad = network.layers[layer].weight_rows(neuron)  # (T, n_in of layer)
    for i in range(layer - 1, -1, -1):
        prev = network.layers[i]
        grad = prev.backward(grad * prev.activation.slope_at(g[i]))
    return network.input_map.pull_back(grad, network.n_inputs)


def relaxation_corners(network: Network, box: Box, bounds, evidence: SignEvidence,
                       todo) -> np.ndarray:
    """For each `todo` neuron missing a sign, the box corner that pushes its symbolic bound
    toward that sign (the maximiser of the upper linear bound, or the minimiser of the lower):
    strong first guesses for a flip, found without a solver. Returns the corners (N, d)."""
    out = []
    for i in evidence.layers:
        for upper, seen in ((True, evidence.pos[i]), (False, evidence.neg[i])):
            rows = np.flatnonzero(~seen & todo[i])
            if rows.size:
                coef = linear_bound_coefficients(network, box, bounds, i, upper, rows)
                out.append(np.where((coef > 0.0) == upper, box.hi, box.lo))
    return np.vstack(out) if out else np.zeros((0, box.size))


def local_search(network: Network, box: Box, evidence: SignEvidence, starts: np.ndarray,
                 todo: list[np.ndarray], iterations: int = 6, max_targets: int = 2000) -> int:
    """Push inputs toward flipping undecided neurons; return the number of new signs proved.

    todo: {tracked layer index: bool mask} of the neurons worth targeting. For each
    of them still missing a sign, start from the seen input whose g is closest to that
    sign, follow the gradient of g (through the current activation pattern) toward the box corner
    in the wanted direction, trying several step lengths, keep the best point and repeat.
    """
    lo, hi = box.lo, box.hi
    new = 0
    targets = []
    for i in evidence.layers:
        for want, seen in ((1.0, evidence.pos[i]), (-1.0, evidence.neg[i])):
            for j in np.flatnonzero(~seen & todo[i]):
                targets.append((i, j, want))
    if not targets:
        return 0
    targets = targets[:max_targets]
    steps = np.array([1.0, 0.5, 0.2, 0.05])
    by_layer: dict[int, list] = {}
    for i, j, want in targets:
        by_layer.setdefault(i, []).append((j, want))
    for i, items in by_layer.items():
        idx = np.array([j for j, _ in items])
        want = np.array([w for _, w in items])
        x = starts[np.argmax(want[None, :] * _columns(network, starts, i, idx), axis=0)]
        for _ in range(iterations):
            grad = input_gradients(network, x, i, idx) * want[:, None]
            corner = np.where(grad > 0.0, hi, np.where(grad < 0.0, lo, x))
            cand = x[None, :, :] + steps[:, None, None] * (corner - x)[None, :, :]
            flat = np.clip(cand.reshape(-1, lo.size), lo, hi)
            new += evidence.observe(flat)
            score = want[None, :] * _own_values(network, flat, i, np.tile(idx, steps.size)
                                                 ).reshape(steps.size, idx.size)
            best = np.argmax(score, axis=0)
            x = np.clip(cand[best, np.arange(idx.size)], lo, hi)
    return new


def _values(network: Network, x: np.ndarray, layer: int, select) -> np.ndarray:
    """select(g, rows) of g[layer] at the inputs x, chunk by chunk (rows: the chunk's slice of
    x; a conv layer's values for all inputs at once would be large)."""
    step = network.chunk_rows()
    return np.concatenate([select(network.preactivations(x[r:r + step])[layer],
                                  slice(r, r + step)) for r in range(0, x.shape[0], step)])


def _columns(network: Network, x: np.ndarray, layer: int, cols: np.ndarray) -> np.ndarray:
    """g[layer][:, cols] at the inputs x."""
    return _values(network, x, layer, lambda g, rows: g[:, cols])


def _own_values(network: Network, x: np.ndarray, layer: int, neuron: np.ndarray) -> np.ndarray:
    """g[layer][neuron[t]] at x[t]."""
    return _values(network, x, layer, lambda g, rows: g[np.arange(g.shape[0]), neuron[rows]])


def find_witnesses(network: Network, box: Box, evidence: SignEvidence, seed: int = 0,
                   todo=None, bounds=None, n_uniform: int = 2000, n_vertices: int = 1000) -> int:
    """Samples, vertices, the relaxation corners (given `bounds`) and local search, aimed at the
    `todo` neurons ({tracked layer index: bool mask}; default all); return the new signs proved."""
    if todo is None:
        todo = {i: np.ones_like(pos) for i, pos in evidence.pos.items()}
    rng = np.random.default_rng(seed)
    points = sample_points(box, n_uniform, n_vertices, rng)[0]
    if bounds is not None:
        points = np.vstack([points, relaxation_corners(network, box, bounds, evidence, todo)])
    new = evidence.observe(points)
    new += local_search(network, box, evidence, points, todo)
    return new


ATTACK = (3, 40)  # (starts, steps) of the gradient attack per open neuron and sign
ATTACK_SHARE = 0.1  # of the time left, at most, for one attack


def attack(network: Network, box: Box, evidence: SignEvidence, todo, deadline: float,
           seed: int = 0) -> int:
    """Projected sign-gradient steps on each `todo` neuron's g toward its missing sign (PGD),
    from the box's centre, then random starts while the last one showed a new sign, the step
    shrinking as it goes; every point visited
    counts only through `evidence` (float64-checked). Stops at `deadline` (time.monotonic());
    returns the new signs proved."""
    rng = np.random.default_rng(seed)
    lo, hi = box.lo, box.hi
    starts, steps = ATTACK
    new = 0
    for i in evidence.layers:
        for want, seen in ((1.0, evidence.pos), (-1.0, evidence.neg)):
            for start in range(starts):
                idx = np.flatnonzero(~seen[i] & todo[i])
                if idx.size == 0 or time.monotonic() > deadline:
                    break
                x = rng.uniform(lo, hi, (idx.size, lo.size)) if start else \
                    np.tile((lo + hi) / 2, (idx.size, 1))
                step, found = 0.25 * (hi - lo), 0
                for k in range(steps):
                    grad = input_gradients(network, x, i, idx) * want
                    x = np.clip(x + step * np.sign(grad), lo, hi)
                    found += evidence.observe(x)
                    step = step * 0.6 if k % 10 == 9 else step
                    if time.monotonic() > deadline:
                        break
                new += found
                if not found:  # a start that shows nothing new: the next ones would not either
                    break
    return new


def attack_open(state: Analysis) -> None:
    """The attack on the undecided neurons, for at most ATTACK_SHARE of the time left."""
    state.stage = Stage.WITNESSES
    attack(state.network, state.box, state.signs, state.open_masks(),
           time.monotonic() + ATTACK_SHARE * state.remaining, seed=state.seed)
    state.apply_signs(Evidence.WITNESS)


def witness_stage(state: Analysis) -> None:
    """The stage: witnesses aimed at the undecided neurons; neurons seen on both sides are
    unstable."""
    state.stage = Stage.WITNESSES
    find_witnesses(state.network, state.box, state.signs, seed=state.seed,
                   todo=state.open_masks(), bounds=state.bounds)
    state.apply_signs(Evidence.WITNESS)
