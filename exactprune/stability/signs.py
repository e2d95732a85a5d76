"""Signs of instability: which neurons were seen strictly active or inactive, and on which inputs.

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

from ..ir import Network


class SignEvidence:
    """Which strict signs have been observed, per neuron of each tracked two-phase layer.

    layers: indices into network.layers of the two-phase layers being tracked.
    pos[i][j] / neg[i][j]: an input with g > 0 / g < 0 was seen for neuron j of layer i.
    witnesses: the flat inputs that showed at least one sign for the first time.
    """

    def __init__(self, network: Network, layers: list[int]):
        self.network = network
        self.layers = layers
        self.pos = {i: np.zeros(network.layers[i].n_out, bool) for i in layers}
        self.neg = {i: np.zeros(network.layers[i].n_out, bool) for i in layers}
        self.witnesses: list[np.ndarray] = []
        self._row_l1 = [layer.row_l1() for layer in network.layers[:max(layers, default=-1) + 1]]

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
            h = layer.activation.apply(gk)
            carried = layer.activation.max_slope * err.max(axis=1, initial=0.0)
        return out

    def observe(self, x: np.ndarray) -> int:
        """Evaluate a batch of flat inputs (N, d); return how many new signs they proved.

        The rounding-error bounds are computed only for the inputs whose plain float64 signs
        would show something new (after the first batches, most inputs show nothing)."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        step = self.network.chunk_rows()
        if x.shape[0] > step:  # in order, chunk by chunk: the same witnesses, less memory
            return sum(self.observe(x[i:i + step]) for i in range(0, x.shape[0], step))
        if x.shape[0] == 0:
            return 0
        g = self.network.preactivations(x)
        maybe = np.zeros(x.shape[0], bool)
        for i in self.layers:
            maybe |= ((g[i] > 0.0) & ~self.pos[i]).any(axis=1)
            maybe |= ((g[i] < 0.0) & ~self.neg[i]).any(axis=1)
        if not maybe.any():
            return 0
        x = x[maybe]
        ge = self.certain(x, [gi[maybe] for gi in g])
        useful = np.zeros(x.shape[0], bool)
        new = 0
        for i in self.layers:
            gi, err = ge[i]
            for seen, strict in ((self.pos[i], gi > err), (self.neg[i], gi < -err)):
                fresh = strict & ~seen
                cols = fresh.any(axis=0)
                if cols.any():
                    new += int(cols.sum())
                    seen |= cols
                    first = np.argmax(fresh[:, cols], axis=0)
                    useful[first] = True
        self.witnesses.extend(x[useful])
        return new

    def unstable(self, i: int) -> np.ndarray:
        return self.pos[i] & self.neg[i]

    def witness_array(self) -> np.ndarray:
        if not self.witnesses:
            return np.zeros((0, self.network.n_inputs))
        return np.unique(np.asarray(self.witnesses), axis=0)


def _gamma(n: int) -> float:
    """Twice gamma_n = n u / (1 - n u): the relative rounding bound of an n-term dot product."""
    u = 2.0 ** -53
    return 2.0 * n * u / (1.0 - n * u)
