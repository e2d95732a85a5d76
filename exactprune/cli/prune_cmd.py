"""`exactprune prune IN OUT --data FILE --sparsity S`: post-training weight pruning (not exact),
checked in onnxruntime, measured on held-back rows, optionally then compressed exactly."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich import box as rich_box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..atomic import Outputs, check_distinct, check_target
from ..domain import bounding_box, load_labelled
from ..errors import UndecidedError, VerificationError
from ..onnx_io import convert, load_model
from ..pipeline import CompressOptions, compress
from ..pruning import ALLOCATIONS, METHODS, PruneOptions, PruneResult, prune_model, render_recall
from ..regions import require_matplotlib
from .app import err_console, main, note, reporting
from .compress_cmd import render as render_compress
from .options import json_option, report_console, time_limit_option, workers_option
from .recall_view import print_recall, recall_gate, recall_options

DEFAULTS = PruneOptions()


def data_options(command):
    """Add --data FILE, --held-back F and --scale X (labelled rows, domain.labelled)."""
    command = click.option("--scale", type=float, default=None, metavar="X",
                           help="Multiply the features by X [default: 1/255 for the shared "
                                "MNIST CSV mnist_5k.csv.gz, else 1].")(command)
    command = click.option("--held-back", type=click.FloatRange(0, 1, min_open=True,
                                                                max_open=True),
                           default=0.2, show_default=True, metavar="F",
                           help="The last F of each class's rows are held back for the report "
                                "(never used to prune).")(command)
    return click.option("--data", "data_path", type=click.Path(dir_okay=False), required=True,
                        metavar="FILE", help="Labelled rows: .npz with x and y, or .csv / "
                                             ".csv.gz with the features then the label on each "
                                             "line.")(command)


def _render(result: PruneResult, console: Console) -> None:
    table = Table(title=Text(f"{result.source.name}: {result.options.method} pruning, "
                             f"{result.options.allocate} allocation"), title_justify="left",
                  box=rich_box.SIMPLE_HEAD, pad_edge=False)
    for col in ("layer", "weights", "zeros before", "zeros after", "sparsity"):
        table.add_column(col, justify="right")
    for k, (n, z0, z1, _) in enumerate(result.pruned.layers):
        table.add_row(str(k), str(n), str(z0), str(z1), f"{z1 / n:.3f}")
    console.print(table)
    r = result.recall
    console.print(f"held-back accuracy {r.accuracy_before:.4f} -> {r.accuracy_after:.4f} on "
                  f"{result.held.y.size} rows; sparsity {result.pruned.sparsity:.4f}; "
                  f"{result.time_s:.1f} s", highlight=False, soft_wrap=True)
    for name in result.bounds["before"]:
        console.print(f"region bound {name}: {result.bounds['before'][name]:.3g} -> "
                      f"{result.bounds['after'][name]:.3g}", highlight=False, soft_wrap=True)
    check = result.check
    if check.skipped:
        note(check.skipped)
    else:
        verdict = Text("PASS", "bold green") if check.passed else Text("FAIL", "bold red")
        console.print(Text.assemble(f"written model vs pruned network (onnxruntime): max "
                                    f"deviation {check.max_abs:.3g}, tolerance "
                                    f"{check.tolerance:.3g} ", verdict), highlight=False)


@main.command("prune")
@click.argument("src", metavar="IN", type=click.Path(dir_okay=False))
@click.argument("out", metavar="OUT", type=click.Path(dir_okay=False))
@data_options
@click.option("--sparsity", type=click.FloatRange(0, 1, max_open=True), required=True,
              metavar="S", help="The share of all weights (not biases) that are zero after.")
@click.option("--method", type=click.Choice(METHODS), default=DEFAULTS.method, show_default=True,
              help="cbs: Combinatorial Brain Surgeon (joint selection under an empirical-Fisher "
                   "model of the loss, block-diagonal, with the Optimal Brain Surgeon update of "
                   "the remaining weights); magnitude: the smallest |w| of each layer.")
@click.option("--allocate", type=click.Choice(ALLOCATIONS), default=DEFAULTS.allocate,
              show_default=True,
              help="uniform: S in every layer; regions: per-layer sparsities that keep the "
                   "sparsity-aware upper bound on linear regions highest for the same total.")
@click.option("--block", type=click.IntRange(min=1), default=DEFAULTS.block, show_default=True,
              metavar="B", help="cbs: inputs per Fisher block (one output row x B inputs).")
@click.option("--swaps", type=click.IntRange(min=0), default=DEFAULTS.swaps, show_default=True,
              metavar="N", help="cbs: rounds of swaps (a removed weight for a kept one where "
                                "that lowers the block's joint cost) after the greedy choice.")
@click.option("--stages", type=click.IntRange(min=1), default=DEFAULTS.stages, show_default=True,
              metavar="K", help="cbs: reach S in K passes (gradual schedule), each with the "
                                "Fisher of the network pruned so far (1: one shot).")
@click.option("--fisher-samples", type=click.IntRange(min=1), default=DEFAULTS.fisher_samples,
              show_default=True, metavar="N", help="cbs: rows for the empirical Fisher.")
@click.option("--per-class", is_flag=True,
              help="Show the recall of each class before and after (recall distortion).")
@recall_options
@click.option("--then-compress", is_flag=True,
              help="Then compress the pruned model exactly on the bounding box of the data "
                   "(all rows) and write that to OUT.")
@click.option("--prove", is_flag=True, help="With --then-compress: also the formal check.")
@time_limit_option("With --then-compress: seconds for the stability analyses.")
@workers_option
@json_option("Also write the report as JSON ('-': to stdout, the tables then go to stderr).")
@click.option("--force", is_flag=True, help="Overwrite an existing OUT (never the input).")
def prune_command(src, out, data_path, held_back, scale, sparsity, method, allocate, block,
                  swaps, stages, fisher_samples, per_class, max_recall_drop, plot_path,
                  then_compress, prove, time_limit, workers, json_out, force):
    """Prune IN's dense-layer weights to sparsity S and write OUT (not exact: it changes what
    the model computes; measure it here, then `compress` it exactly).

    The rows of --data not held back choose the weights (cbs: their loss gradients); the
    held-back rows measure accuracy and per-class recall before and after. OUT is checked in
    onnxruntime against the pruned network on the held-back rows; the report gives the
    sparsity per layer and the region upper bounds before and after. OUT, --json and --plot
    are checked before the work and written together at the end; IN is never overwritten.

    Exit 0 ok; 1 a check failed (OUT differs from the pruned network, --then-compress did not
    verify or --prove found a counterexample, or a class lost more than --max-recall-drop; OUT
    is then not written unless only the recall gate failed); 2 bad input; 3 internal error; 4
    --prove undecided (OUT written); 130 interrupted.
    """
    check_distinct(src, out, json_out, plot_path)
    target = check_target(out, replace=force, protect=src, what="OUT")
    extra = [(json_out, "--json"), (plot_path, "--plot")]
    targets = {flag: check_target(p, protect=src, what=flag, allow_stdout=flag == "--json")
               for p, flag in extra if p is not None}
    if plot_path is not None:
        require_matplotlib()
    source = load_model(Path(src))
    data = load_labelled(data_path, source.network.n_inputs, scale)
    options = PruneOptions(sparsity=sparsity, method=method, allocate=allocate, block=block,
                           swaps=swaps, stages=stages, fisher_samples=fisher_samples)
    with err_console.status("pruning", spinner="dots") as status:
        def told(stage: int, k: int) -> None:
            status.update(f"pruning ({method}): stage {stage}, layer {k + 1}/"
                          f"{len(source.network.layers)}")

        result = prune_model(source, data, options, held_back, progress=told)
        compressed = None
        if then_compress and result.check.passed:
            status.update("compressing the pruned model exactly")
            box = bounding_box(data.x, f"calibration box of {data.source}")
            compressed = compress(convert(result.model, name="pruned model"), box,
                                  CompressOptions(time_limit=time_limit, workers=workers,
                                                  prove=prove))
    failed = None
    if not result.check.passed and not result.check.skipped:
        failed = f"the written model differs from the pruned network: {result.check.max_abs:.3g}"
    elif compressed is not None and not compressed.report.verified:
        failed = "the compressed pruned model failed its verification"
    data_json = result.to_json(None if failed else str(out))
    if compressed is not None:
        data_json["compress"] = compressed.to_json(None if failed else str(out))
    with Outputs() as outputs:
        if not failed:
            outputs.stage(target, compressed.model_bytes() if compressed is not None
                          else result.model.SerializeToString())
        if "--json" in targets:
            outputs.stage(targets["--json"], json.dumps(data_json, indent=1) + "\n")
        if "--plot" in targets:
            outputs.stage(targets["--plot"], render_recall(result.recall))
        done = outputs.publish()
    console = report_console(targets.get("--json"))
    with reporting(done):
        _render(result, console)
        if per_class:
            print_recall(result.recall, console)
        if compressed is not None:
            render_compress(compressed.report, out, console)
        for name in done:
            if name != "-":
                console.print(Text(f"wrote {name}"), highlight=False)
    if failed:
        raise VerificationError(f"{failed}; {out} not written")
    recall_gate(result.recall, max_recall_drop)
    if compressed is not None and compressed.proof is not None \
            and compressed.proof.equivalent is None:
        raise UndecidedError(f"{out} was written (verified on samples) but the formal check is "
                             f"undecided: {compressed.proof.summary()}")
