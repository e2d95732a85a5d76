"""`exactprune report A B --data FILE`: per-class recall of model B against model A (recall
distortion), both run in onnxruntime on the same labelled rows."""

from __future__ import annotations

import json

import click
from rich.text import Text

from ..atomic import Outputs, check_distinct, check_target
from ..domain import held_back_split, load_labelled
from ..equivalence.sampled import as_proto, check_same_inputs, float_outputs
from ..errors import DomainError
from ..pruning import RecallReport, render_recall
from ..regions import require_matplotlib
from .app import err_console, main, reporting
from .options import json_option, report_console
from .prune_cmd import data_options
from .recall_view import print_recall, recall_gate, recall_options


@main.command("report")
@click.argument("a", type=click.Path(dir_okay=False))
@click.argument("b", type=click.Path(dir_okay=False))
@data_options
@click.option("--rows", type=click.Choice(("held-back", "all")), default="held-back",
              show_default=True, help="Measure on the held-back rows (those prune never "
                                      "used) or on all rows.")
@recall_options
@json_option("Also write the recall report as JSON ('-': to stdout, the table then goes to "
             "stderr).")
def report_command(a, b, data_path, held_back, scale, rows, max_recall_drop, plot_path,
                   json_out):
    """Compare the per-class recall of B (e.g. pruned) with A (the original) on --data.

    Each model's class is the argmax of its outputs in onnxruntime. The table gives per class
    the recall before (A) and after (B), the change, the change relative to the change in
    accuracy, and whether the class was intensified (its recall relative to the accuracy moved
    away from 1: below-accuracy classes got relatively worse, above-accuracy ones relatively
    better) or corrected; the intensification ratio is the share of intensified classes.

    Exit 0 ok; 1 a class lost more than --max-recall-drop; 2 bad input; 3 internal error.
    """
    check_distinct(a, b, json_out, plot_path)
    check_distinct(a, json_out, plot_path)
    targets = {flag: check_target(p, protect=a, what=flag, allow_stdout=flag == "--json")
               for p, flag in ((json_out, "--json"), (plot_path, "--plot")) if p is not None}
    if plot_path is not None:
        require_matplotlib()
    protos = [as_proto(path)[0] for path in (a, b)]
    n = check_same_inputs(*protos, names=(a, b))
    data = load_labelled(data_path, n, scale)
    if rows == "held-back":
        data = data.rows(held_back_split(data.y, held_back)[1])
    with err_console.status("running both models", spinner="dots"):
        outputs = [float_outputs(p, data.x, name) for p, name in zip(protos, (a, b))]
    classes = int(max(o.shape[1] for o in outputs))
    if data.y.max() >= classes:
        raise DomainError(f"{data.source}: label {int(data.y.max())} but the models have "
                          f"{classes} outputs (one per class)")
    report = RecallReport.of(data.y, outputs[0].argmax(axis=1), outputs[1].argmax(axis=1), classes)
    document = {"a": a, "b": b, "data": data.source, "rows": rows, "n_rows": int(data.y.size),
                **report.to_json(), "max_recall_drop_allowed": max_recall_drop}
    with Outputs() as written:
        if "--json" in targets:
            written.stage(targets["--json"], json.dumps(document, indent=1) + "\n")
        if "--plot" in targets:
            written.stage(targets["--plot"], render_recall(report))
        done = written.publish()
    console = report_console(targets.get("--json"))
    with reporting(done):
        console.print(Text(f"{a} -> {b} on {data.y.size} rows of {data.source}"), highlight=False)
        print_recall(report, console)
        for name in done:
            if name != "-":
                console.print(Text(f"wrote {name}"), highlight=False)
    recall_gate(report, max_recall_drop)
