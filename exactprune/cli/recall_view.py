"""The recall table and the --max-recall-drop gate that `prune` and `report` share."""

from __future__ import annotations

import click
import numpy as np
from rich import box as rich_box
from rich.console import Console
from rich.table import Table

from ..errors import VerificationError
from ..pruning import RecallReport

_MARK = {1: "intensified", -1: "corrected", 0: ""}


def recall_options(command):
    """Add --plot PNG and --max-recall-drop X."""
    command = click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
                           metavar="PNG", help="Draw the recall per class before and after "
                                               "(needs matplotlib).")(command)
    return click.option("--max-recall-drop", type=click.FloatRange(min=0), default=None,
                        metavar="X", help="Exit 1 when any class loses more than X recall "
                                          "(e.g. 0.05: five points), a gate for CI.")(command)


def print_recall(report: RecallReport, console: Console) -> None:
    """Per class: recall before, after, the change, the change relative to the change in
    accuracy, intensified / corrected; then the intensification ratio."""
    table = Table(title="recall per class (held-back rows)", title_justify="left",
                  box=rich_box.SIMPLE_HEAD, pad_edge=False)
    for col in ("class", "before", "after", "change", "/ acc change", ""):
        table.add_column(col, justify="left" if col in ("class", "") else "right")
    for c, (b, a, rel, mark) in enumerate(zip(report.before, report.after,
                                               report.relative_change, report.intensified)):
        table.add_row(str(c), f"{b:.3f}", f"{a:.3f}", f"{a - b:+.3f}",
                      "-" if np.isnan(rel) else f"{rel:.2f}", _MARK[int(mark)])
    table.add_row("all", f"{report.accuracy_before:.3f}", f"{report.accuracy_after:.3f}",
                  f"{report.accuracy_after - report.accuracy_before:+.3f}", "1.00", "(accuracy)")
    console.print(table)
    ratio = report.intensification_ratio
    console.print("intensification ratio (share of moved classes whose recall moved away from "
                  f"the accuracy): {'-' if ratio is None else f'{ratio:.2f}'}", highlight=False,
                  soft_wrap=True)


def recall_gate(report: RecallReport, limit: float | None) -> None:
    """VerificationError (exit 1) when a class lost more than `limit` recall."""
    if limit is None or not report.drops.size:
        return
    worst = int(np.nanargmax(report.drops))
    if report.drops[worst] > limit:
        raise VerificationError(f"class {worst} lost {report.drops[worst]:.3f} recall "
                                f"({report.before[worst]:.3f} -> {report.after[worst]:.3f}), "
                                f"more than --max-recall-drop {limit:g}")
