"""Witnesses of instability: inputs of the box on which a neuron is strictly active or inactive.

Every input is evaluated with the float64 forward pass (Network.preactivations) together with a
bound on its rounding error, and only signs beyond that bound count: g > err proves "can be
active", g < -err proves "can be inactive". A g of 1e-14 that is 0 in exact arithmetic (every
ReLU before it off, bias 0) proves nothing. The bound follows the standard analysis of a dot
product of n terms, |fl(w . h) - w . h| <= gamma_n (|w| . |h|) with gamma_n = n u / (1 - n u),
u = 2^-53, plus |w| . err(h) for the error carried in from earlier layers (an activation scales
it by at most max(1, |alpha|)), with gamma doubled for safety.
"""

from __future__ import annotations

import numpy as np

from .bounds import linear_bound_coefficients
from .domain import Box
from .ir import Network


class SignEvidence:
    """Which strict signs have been observed, per neuron of each piecewise layer.

    layers: indices into network.layers of the two-phase layers being tracked.
    pos[k][j] / neg[k][j]: an input with g > 0 / g < 0 was seen for neuron j of layers[k].
    witnesses: the flat inputs that showed at least one sign for the first time.
    """

    def __init__(self, network: Network, layers: list[int]):
        self.network = network
        self.layers = layers
        self.pos = [np.zeros(network.layers[i].n_out, bool) for i in layers]
        self.neg = [np.zeros(network.layers[i].n_out, bool) for i in layers]
        self.witnesses: list[np.ndarray] = []
        self._row_l1 = [np.abs(layer.weight).sum(axis=1)
                        for layer in network.layers[:max(layers, default=-1) + 1]]

    def certain(self, x: np.ndarray, g=None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per network layer up to the last tracked one: (g, err), the float64 pre-activations
        of the flat inputs x (N, d) (or the given `g`, Network.preactivations(x)) and a bound on
        their rounding error.

        The bound uses max_i |h_i| of each input in place of |h| (|w| . |h| <= ||w||_1 max |h|),
        which costs O(N n) instead of a second matrix product."""
        net = self.network
        imap = net.input_map
        h = imap.apply(x)
        carried = _gamma(2) * (np.abs(x).max(axis=1, initial=0.0)
                               * np.abs(imap.scale).max(initial=0.0)
                               + np.abs(imap.shift).max(initial=0.0))
        out = []
        for k, (layer, row_l1) in enumerate(zip(net.layers, self._row_l1)):
            gk = layer.affine(h) if g is None else g[k]
            size = np.abs(h).max(axis=1, initial=0.0) + carried  # bounds the exact |h| too
            err = (np.outer(carried + _gamma(layer.n_in + 1) * size, row_l1)
                   + _gamma(layer.n_in + 1) * np.abs(layer.bias))
            out.append((gk, err))
            h = layer.activate(gk)
            slope = max(1.0, abs(layer.alpha)) if layer.activation == "leaky_relu" else 1.0
            carried = slope * err.max(axis=1, initial=0.0)
        return out

    def observe(self, x: np.ndarray) -> int:
        """Evaluate a batch of flat inputs (N, d); return how many new signs they proved.

        The rounding-error bounds are computed only for the inputs whose plain float64 signs
        would show something new (after the first batches, most inputs show nothing)."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        if x.shape[0] == 0:
            return 0
        g = self.network.preactivations(x)
        maybe = np.zeros(x.shape[0], bool)
        for k, i in enumerate(self.layers):
            maybe |= ((g[i] > 0.0) & ~self.pos[k]).any(axis=1)
            maybe |= ((g[i] < 0.0) & ~self.neg[k]).any(axis=1)
        if not maybe.any():
            return 0
        x = x[maybe]
        ge = self.certain(x, [gi[maybe] for gi in g])
        useful = np.zeros(x.shape[0], bool)
        new = 0
        for k, i in enumerate(self.layers):
            gi, err = ge[i]
            for seen, strict in ((self.pos[k], gi > err), (self.neg[k], gi < -err)):
                fresh = strict & ~seen
                cols = fresh.any(axis=0)
                if cols.any():
                    new += int(cols.sum())
                    seen |= cols
                    first = np.argmax(fresh[:, cols], axis=0)
                    useful[first] = True
        self.witnesses.extend(x[useful])
        return new

    def unstable(self, k: int) -> np.ndarray:
        return self.pos[k] & self.neg[k]

    def witness_array(self) -> np.ndarray:
        if not self.witnesses:
            return np.zeros((0, self.network.n_inputs))
        return np.unique(np.asarray(self.witnesses), axis=0)


def _gamma(n: int) -> float:
    """Twice gamma_n = n u / (1 - n u): the relative rounding bound of an n-term dot product."""
    u = 2.0 ** -53
    return 2.0 * n * u / (1.0 - n * u)


def sample_points(box: Box, n_uniform: int, n_vertices: int, rng: np.random.Generator) -> np.ndarray:
    """The box centre, uniform samples and random vertices (flat inputs)."""
    lo, hi = box.lo, box.hi
    uniform = rng.uniform(lo, hi, size=(n_uniform, lo.size))
    corners = np.where(rng.random((n_vertices, lo.size)) < 0.5, lo, hi)
    return np.vstack([box.center[None, :], uniform, corners])


def input_gradients(network: Network, x: np.ndarray, layer: int, neuron: np.ndarray) -> np.ndarray:
    """d g[layer][neuron[t]] / d x_flat at x[t], through the activation pattern at x[t].

    x: (T, d) flat inputs; neuron: (T,) indices. Returns (T, d).
    """
    g = network.preactivations(x)
    grad = network.layers[layer].weight[neuron]  # (T, n_in of layer)
    for i in range(layer - 1, -1, -1):
        prev = network.layers[i]
        if prev.activation == "relu":
            slope = (g[i] > 0.0).astype(np.float64)
        elif prev.activation == "leaky_relu":
            slope = np.where(g[i] >= 0.0, 1.0, prev.alpha)
        else:
            slope = np.ones_like(g[i])
        grad = (grad * slope) @ prev.weight
    return network.input_map.pull_back(grad, network.n_inputs)


def relaxation_corners(network: Network, box: Box, bounds, evidence: SignEvidence,
                       todo) -> np.ndarray:
    """For each `todo` neuron missing a sign, the box corner that pushes its symbolic bound
    toward that sign (the maximiser of the upper linear bound, or the minimiser of the lower):
    strong first guesses for a flip, found without a solver. Returns the corners (N, d)."""
    out = []
    for k, i in enumerate(evidence.layers):
        for upper, seen in ((True, evidence.pos[k]), (False, evidence.neg[k])):
            rows = np.flatnonzero(~seen & todo[k])
            if rows.size:
                coef = linear_bound_coefficients(network, box, bounds, i, upper)[rows]
                out.append(np.where((coef > 0.0) == upper, box.hi, box.lo))
    return np.vstack(out) if out else np.zeros((0, box.size))


def local_search(network: Network, box: Box, evidence: SignEvidence, starts: np.ndarray,
                 todo: list[np.ndarray], iterations: int = 6, max_targets: int = 2000) -> int:
    """Push inputs toward flipping undecided neurons; return the number of new signs proved.

    todo: per tracked layer a bool mask of the neurons worth targeting. For each
    of them still missing a sign, start from the seen input whose g is closest to that
    sign, follow the gradient of g (through the current activation pattern) toward the box corner
    in the wanted direction, trying several step lengths, keep the best point and repeat.
    """
    lo, hi = box.lo, box.hi
    g_starts = network.preactivations(starts)
    new = 0
    targets = []
    for k, i in enumerate(evidence.layers):
        for want, seen in ((1.0, evidence.pos[k]), (-1.0, evidence.neg[k])):
            for j in np.flatnonzero(~seen & todo[k]):
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
        x = starts[np.argmax(want[None, :] * g_starts[i][:, idx], axis=0)]
        for _ in range(iterations):
            grad = input_gradients(network, x, i, idx) * want[:, None]
            corner = np.where(grad > 0.0, hi, np.where(grad < 0.0, lo, x))
            cand = x[None, :, :] + steps[:, None, None] * (corner - x)[None, :, :]
            flat = np.clip(cand.reshape(-1, lo.size), lo, hi)
            new += evidence.observe(flat)
            gc = network.preactivations(flat)[i].reshape(steps.size, idx.size, -1)
            score = want[None, :] * gc[:, np.arange(idx.size), idx]
            best = np.argmax(score, axis=0)
            x = np.clip(cand[best, np.arange(idx.size)], lo, hi)
    return new


def find_witnesses(network: Network, box: Box, evidence: SignEvidence, seed: int = 0,
                   todo=None, bounds=None, n_uniform: int = 2000, n_vertices: int = 1000) -> int:
    """Samples, vertices, the relaxation corners (given `bounds`) and local search, aimed at the
    `todo` neurons (per tracked layer a bool mask; default all); return the new signs proved."""
    if todo is None:
        todo = [np.ones_like(pos) for pos in evidence.pos]
    rng = np.random.default_rng(seed)
    points = sample_points(box, n_uniform, n_vertices, rng)
    if bounds is not None:
        points = np.vstack([points, relaxation_corners(network, box, bounds, evidence, todo)])
    new = evidence.observe(points)
    new += local_search(network, box, evidence, points, todo)
    return new
