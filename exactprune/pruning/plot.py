"""The recall plot (--plot): per-class recall before and after pruning, the accuracies as lines.

Needs matplotlib (the optional extra `plot`: pip install 'exactprune[plot]').
"""

from __future__ import annotations

import numpy as np

from ..regions.plot import png_bytes, pyplot
from .recall import RecallReport


def render_recall(report: RecallReport, title: str = "") -> bytes:
    """The PNG of the recall bars: before and after per class, intensified classes marked."""
    plt = pyplot()
    classes = np.arange(report.before.size)
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * classes.size), 4), dpi=120)
    ax.bar(classes - 0.2, report.before, 0.4, label="recall before", color="tab:blue")
    ax.bar(classes + 0.2, report.after, 0.4, label="recall after", color="tab:orange")
    ax.axhline(report.accuracy_before, color="tab:blue", linestyle="--", linewidth=1,
               label=f"accuracy before {report.accuracy_before:.3f}")
    ax.axhline(report.accuracy_after, color="tab:orange", linestyle="--", linewidth=1,
               label=f"accuracy after {report.accuracy_after:.3f}")
    for c in classes[report.intensified > 0]:
        ax.annotate("*", (c, max(report.before[c], report.after[c])), ha="center", va="bottom")
    ratio = report.intensification_ratio
    ax.set_title(title or "recall per class (*: intensified)" + (
        f"; intensification ratio {ratio:.2f}" if ratio is not None else ""))
    ax.set_xticks(classes)
    ax.set_xlabel("class")
    ax.set_ylim(0, 1.08)
    ax.legend(loc="lower left", fontsize=8)
    return png_bytes(fig)
