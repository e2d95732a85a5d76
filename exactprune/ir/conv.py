"""A 2-D convolution behind the Layer protocol, computed from its kernel (never unrolled).

Neurons are the output positions in ONNX order: h (n_in,) is the row-major flattening of an
input of shape (C_in, H, W), g (n_out,) that of (C_out, H_out, W_out). The maps loop over the
kernel offsets (KH x KW strided views of the zero-padded input), so a layer costs the memory of
its input and output, not of its dense matrix; `as_dense` builds that matrix only up to
MAX_DENSE_ENTRIES entries. Average pooling is a Conv2d too (a depthwise kernel of 1 / window).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np

from ..errors import UnsupportedModelError
from .activation import RELU, Activation, activation
from .layers import Dense
from .maxpool import MaxPoolStage

MAX_DENSE_ENTRIES = 10 ** 7  # the largest dense equivalent of a conv layer ever built


@dataclass(frozen=True, eq=False)
class Conv2d:
    """kernel (C_out, C_in / groups, KH, KW), channel_bias (C_out,), in_shape (C_in, H, W);
    strides (sh, sw), pads (top, left, bottom, right), dilations (dh, dw) as in ONNX Conv.
    activation, nodes, act_node, origin: as Dense's (origin has one entry per output position).
    pool: "" for a Conv; "average" for an AveragePool (written back as one); "max" for a stage
    of a MaxPool's ReLU tournament (ir/maxpool.py), `maxpool` its record (written back as the
    one MaxPool while the tournament is whole). Pools have no parameters and groups = input
    channels (one group per channel)."""

    kernel: np.ndarray
    channel_bias: np.ndarray
    in_shape: tuple[int, int, int]
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilations: tuple[int, int] = (1, 1)
    groups: int = 1
    activation: Activation = RELU
    nodes: tuple[str, ...] = ()
    act_node: str = ""
    origin: tuple[int, ...] = ()
    pool: str = ""
    maxpool: MaxPoolStage | None = None

    def __post_init__(self) -> None:
        k = np.asarray(self.kernel, dtype=np.float64)
        b = np.asarray(self.channel_bias, dtype=np.float64).reshape(-1)
        ints = {name: tuple(int(v) for v in getattr(self, name))
                for name in ("in_shape", "strides", "pads", "dilations")}
        for name, value in ints.items():
            object.__setattr__(self, name, value)
        c_in, groups = self.in_shape[0], int(self.groups)
        if (k.ndim != 4 or b.shape != (k.shape[0],) or groups < 1 or c_in % groups
                or k.shape[0] % groups or k.shape[1] * groups != c_in):
            raise ValueError(f"kernel {k.shape}, bias {b.shape}, groups {groups} do not fit "
                             f"input {self.in_shape}")
        if (self.pool == "max") != (self.maxpool is not None):
            raise ValueError('a max-pool stage (pool "max") and only one has a MaxPool record')
        if min(self.out_shape) < 1:
            raise ValueError(f"the kernel {k.shape[2:]} does not fit input {self.in_shape}")
        object.__setattr__(self, "kernel", k)
        object.__setattr__(self, "channel_bias", b)
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "activation", activation(self.activation))
        if not self.origin:
            object.__setattr__(self, "origin", tuple(range(self.n_out)))
        elif len(self.origin) != self.n_out:
            raise ValueError("origin must name one original index per neuron")

    # sizes ------------------------------------------------------------------------------------
    @property
    def out_shape(self) -> tuple[int, int, int]:
        _, h, w = self.in_shape
        (kh, kw), (sh, sw), (dh, dw) = self.kernel.shape[2:], self.strides, self.dilations
        top, left, bottom, right = self.pads
        return (self.kernel.shape[0], (h + top + bottom - dh * (kh - 1) - 1) // sh + 1,
                (w + left + right - dw * (kw - 1) - 1) // sw + 1)

    @property
    def n_in(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def n_out(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def positions(self) -> int:
        """Output positions per channel (H_out * W_out)."""
        return self.out_shape[1] * self.out_shape[2]

    @property
    def n_params(self) -> int:
        return 0 if self.pool else self.kernel.size + self.channel_bias.size

    @property
    def n_macs(self) -> int:
        """Multiply-adds; a MaxPool counts one per window value (as an AveragePool), on its
        first stage."""
        if self.maxpool is not None:
            return (self.positions * self.groups * int(np.prod(self.maxpool.kernel_shape))
                    if self.maxpool.stage == 0 else 0)
        return self.positions * self.kernel.size

    # maps -------------------------------------------------------------------------------------
    def _windows(self) -> Iterator[tuple[int, int, slice, slice]]:
        """(i, j, rows, cols): for kernel offset (i, j), the strided view of the padded input
        that meets it at every output position."""
        _, ho, wo = self.out_shape
        (sh, sw), (dh, dw) = self.strides, self.dilations
        for i in range(self.kernel.shape[2]):
            for j in range(self.kernel.shape[3]):
                yield (i, j, slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
                       slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))

    def _groups(self):
        og, cg = self.kernel.shape[0] // self.groups, self.kernel.shape[1]
        return [(slice(q * og, (q + 1) * og), slice(q * cg, (q + 1) * cg))
                for q in range(self.groups)]

    def _forward(self, h: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        """The convolution of a batch h (N, n_in) with `kernel`, no bias: (N, n_out)."""
        c, hh, ww = self.in_shape
        top, left, bottom, right = self.pads
        x = np.pad(h.reshape(-1, c, hh, ww), ((0, 0), (0, 0), (top, bottom), (left, right)))
        out = np.zeros((x.shape[0],) + self.out_shape)
        for outs, ins in self._groups():
            for i, j, rows, cols in self._windows():
                patch = x[:, ins, rows, cols]  # (N, cg, H_out, W_out)
                out[:, outs] += np.einsum("nchw,oc->nohw", patch, kernel[outs, :, i, j])
        return out.reshape(x.shape[0], -1)

    def _transpose(self, d: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        """d (..., n_out) carried back through the convolution with `kernel`: (..., n_in)."""
        c, hh, ww = self.in_shape
        top, left, bottom, right = self.pads
        lead = d.shape[:-1]
        g = d.reshape((-1,) + self.out_shape)
        x = np.zeros((g.shape[0], c, hh + top + bottom, ww + left + right))
        for outs, ins in self._groups():
            for i, j, rows, cols in self._windows():
                x[:, ins, rows, cols] += np.einsum("nohw,oc->nchw", g[:, outs],
                                                   kernel[outs, :, i, j])
        return x[:, :, top:top + hh, left:left + ww].reshape(lead + (self.n_in,))

    @property
    def bias(self) -> np.ndarray:
        """The bias of every neuron (n_out,), as the protocol's consumers read it."""
        return np.repeat(self.channel_bias, self.positions)

    def affine(self, h: np.ndarray) -> np.ndarray:
        return self._forward(h, self.kernel) + self.bias

    def interval(self, hlo: np.ndarray, hup: np.ndarray):
        kp, kn = np.maximum(self.kernel, 0.0), np.minimum(self.kernel, 0.0)
        b = self.bias
        lo = self._forward(hlo, kp) + self._forward(hup, kn) + b
        up = self._forward(hup, kp) + self._forward(hlo, kn) + b
        mag = self._forward(np.maximum(np.abs(hlo), np.abs(hup)), np.abs(self.kernel)) + np.abs(b)
        return lo, up, mag

    def backward(self, d: np.ndarray) -> np.ndarray:
        return self._transpose(d, self.kernel)

    def substitute(self, d: np.ndarray, dabs: np.ndarray):
        b = self.bias
        return (self._transpose(d, self.kernel), self._transpose(dabs, np.abs(self.kernel)),
                d @ b, dabs @ np.abs(b))

    def rows(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        c, hh, ww = self.in_shape
        top, left, _, _ = self.pads
        (sh, sw), (dh, dw) = self.strides, self.dilations
        _, kh, kw = self.kernel.shape[1:]
        co, ho, wo = self.out_shape
        og, cg = co // self.groups, self.kernel.shape[1]
        ci, ii, jj = np.meshgrid(np.arange(cg), np.arange(kh), np.arange(kw), indexing="ij")
        for o in range(co):
            chan = ci + (o // og) * cg
            for y in range(ho):
                for x in range(wo):
                    r, s = y * sh - top + ii * dh, x * sw - left + jj * dw
                    inside = (r >= 0) & (r < hh) & (s >= 0) & (s < ww)
                    coef = self.kernel[o][inside]
                    cols = (chan[inside] * hh + r[inside]) * ww + s[inside]
                    nz = coef != 0.0
                    yield (o * ho + y) * wo + x, cols[nz], coef[nz]

    def row_l1(self) -> np.ndarray:
        return self._forward(np.ones((1, self.n_in)), np.abs(self.kernel))[0]

    def weight_rows(self, rows: np.ndarray) -> np.ndarray:
        pick = np.zeros((len(rows), self.n_out))
        pick[np.arange(len(rows)), rows] = 1.0
        return self._transpose(pick, self.kernel)

    def as_dense(self) -> Dense:
        if self.n_out * self.n_in > MAX_DENSE_ENTRIES:
            raise UnsupportedModelError(
                f"conv layer {self.act_node or ','.join(self.nodes)} would need a dense "
                f"{self.n_out:,} x {self.n_in:,} matrix (more than {MAX_DENSE_ENTRIES:,} "
                "entries), which exactprune does not build (stability --method bounds needs "
                "none)")
        weight = self._transpose(np.eye(self.n_out), self.kernel)
        return Dense(weight, self.bias, self.activation, self.nodes, self.act_node,
                     self.origin)

    # edits ------------------------------------------------------------------------------------
    def keep_channels(self, keep: np.ndarray) -> "Conv2d":
        """The layer with only the output channels `keep` (bool mask; groups must be 1)."""
        return replace(self, kernel=self.kernel[keep], channel_bias=self.channel_bias[keep],
                       origin=self._origin_of(keep))

    def _origin_of(self, keep: np.ndarray) -> tuple[int, ...]:
        origin = np.asarray(self.origin).reshape(self.out_shape[0], -1)[keep].reshape(-1)
        return tuple(int(o) for o in origin)

    def keep_groups(self, keep: np.ndarray) -> "Conv2d":
        """A pool (a group per channel it pools) without the input channels not in `keep` (whole
        groups) and their groups' outputs; returns it and the output channels kept."""
        groups = keep.reshape(self.groups, -1)[:, 0]
        out = np.repeat(groups, self.out_shape[0] // self.groups)
        return replace(self, kernel=self.kernel[out], channel_bias=self.channel_bias[out],
                       origin=self._origin_of(out), groups=int(np.count_nonzero(groups)),
                       in_shape=(int(np.count_nonzero(keep)),) + self.in_shape[1:]), out

    def keep_inputs(self, keep: np.ndarray) -> "Conv2d":
        """The layer reading only the input channels `keep` (bool mask; groups must be 1)."""
        return replace(self, kernel=self.kernel[:, keep],
                       in_shape=(int(np.count_nonzero(keep)),) + self.in_shape[1:])

    def scaled(self, mul: np.ndarray, add: np.ndarray) -> "Conv2d":
        """mul * conv + add with per-output-channel mul, add (a folded BatchNormalization)."""
        return replace(self, kernel=self.kernel * mul[:, None, None, None],
                       channel_bias=self.channel_bias * mul + add)
