"""Draw a 2-D slice: each region a coloured polygon, the decision boundary (argmax change) on top.

Needs matplotlib (the optional extra `plot`: pip install 'exactprune[plot]').
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..atomic import write_atomic
from ..errors import MissingDependencyError
from ..ir import Network
from .slices import SliceResult

GRID = 600


def require_matplotlib() -> None:
    """MissingDependencyError (exit 2) when matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingDependencyError("--plot needs matplotlib: pip install 'exactprune[plot]'") \
            from None


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (MissingDependencyError without it)."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes; the figure is closed either way."""
    plt = pyplot()
    png = io.BytesIO()
    try:
        fig.savefig(png, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)
    return png.getvalue()


def plot_slice(result: SliceResult, network: Network, path: str | Path, title: str = "",
               protect: str | Path | None = None) -> None:
    """Write a PNG of the slice's regions and decision boundary to `path` (atomically; never over
    the file `protect`)."""
    write_atomic(path, render_slice(result, network, title), protect)


def render_slice(result: SliceResult, network: Network, title: str = "") -> bytes:
    """The PNG of the slice's regions and decision boundary."""
    plt = pyplot()
    from matplotlib.collections import PolyCollection

    problem = result.problem
    # a 2-input model is drawn in its own coordinates; a slice of a larger input in (s, t)
    own = network.n_inputs == 2
    to_xy = problem.lift if own else (lambda u: u)
    fig, ax = plt.subplots(figsize=(6, 6), dpi=120)
    colours = plt.get_cmap("tab20")(np.random.default_rng(0).permutation(len(result.polygons)) % 20)
    ax.add_collection(PolyCollection([to_xy(p) for p in result.polygons if len(p) >= 3],
                                     facecolors=colours[[len(p) >= 3 for p in result.polygons]],
                                     edgecolors="white", linewidths=0.4))
    if network.n_outputs > 1:
        s = np.linspace(problem.lo[0], problem.hi[0], GRID)
        t = np.linspace(problem.lo[1], problem.hi[1], GRID)
        ss, tt = np.meshgrid(s, t)
        u = np.column_stack([ss.ravel(), tt.ravel()])
        label = network.forward(problem.lift(u)).argmax(axis=1).reshape(ss.shape)
        inside = (np.all(u @ problem.rows.T <= problem.rhs, axis=1).reshape(ss.shape)
                  if problem.rows.size else True)
        label = np.where(inside, label, np.nan)
        levels = np.arange(network.n_outputs + 1) - 0.5
        xy = to_xy(u)
        ax.contour(xy[:, 0].reshape(ss.shape), xy[:, 1].reshape(ss.shape), label, levels=levels,
                   colors="black", linewidths=1.2)
    corners = to_xy(np.array([problem.lo, problem.hi]))
    ax.set_xlim(corners[:, 0].min(), corners[:, 0].max())
    ax.set_ylim(corners[:, 1].min(), corners[:, 1].max())
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("input x[0]" if own else "s  (x = A + s (B - A) + t (C - A))")
    ax.set_ylabel("input x[1]" if own else "t")
    count = result.count
    ax.set_title(title or f"{count.regions} regions" + ("" if count.exact else " (lower bound)")
                 + ("; black: decision boundary" if network.n_outputs > 1 else ""))
    return png_bytes(fig)
