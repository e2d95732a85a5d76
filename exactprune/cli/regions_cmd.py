"""`exactprune regions MODEL`: count (or bound, or estimate) the linear regions, draw 2-D slices."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..atomic import Outputs, check_distinct, check_target
from ..bounds import check_domain
from ..domain import Box
from ..errors import DomainError, Interrupted, MissingFileError, UnsupportedModelError
from ..ir import Conv2d
from ..onnx_io import load_model
from ..regions import (
    METHODS,
    RegionOptions,
    RegionsReport,
    count_regions,
    count_regions_milp,
    mip_bound,
    region_bounds,
    render_slice,
    require_matplotlib,
    sample_regions,
    slice_regions,
)
from ..stability import StabilityOptions, analyse_stability
from .app import err_console, main, note, reporting
from .options import (
    domain_options,
    json_option,
    report_console,
    time_limit_option,
    workers_option,
)

DEFAULTS = RegionOptions()


CONV_REFUSED = ("exact", "milp", "mipbound")  # need dense layers; bounds and sample take conv


def parse_point(text: str, n: int) -> np.ndarray:
    """A flat input: comma-separated numbers, or a .npy file."""
    if text.endswith(".npy"):
        if not Path(text).is_file():
            raise MissingFileError(f"--plane point file {text} does not exist")
        try:
            point = np.load(text, allow_pickle=False).astype(np.float64).reshape(-1)
        except (OSError, ValueError) as exc:
            raise DomainError(f"--plane point file {text} is not a numeric .npy array ({exc})") from None
    else:
        try:
            point = np.array([float(v) for v in text.split(",")])
        except ValueError:
            raise DomainError(f"--plane point {text[:40]!r} is not comma-separated numbers or a "
                              ".npy file") from None
    if point.size == 1 and n > 1:
        point = np.full(n, point[0])
    if point.size != n:
        raise DomainError(f"--plane point has {point.size} values, the model has {n} inputs")
    return point


def _render(result: dict, console: Console) -> None:
    """The table of a RegionsReport's JSON document."""
    table = Table(title=Text(f"linear regions of {result['model']}"), show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    kind = "exact" if result["exact"] else "lower bound"
    if result["method"] == "bounds":
        kind = "not counted"
    table.add_row("regions", f"{result['regions']:,} ({kind})")
    table.add_row("method", result["method"] + (" (2-D slice)" if result.get("slice") else ""))
    table.add_row("domain", Text(result["domain"]["source"] or "given"))
    table.add_row("time", f"{result['time_s']:.2f} s")
    if result.get("cells_per_layer"):
        table.add_row("cells after each hidden layer",
                      " -> ".join(f"{c:,}" for c in result["cells_per_layer"]))
        if result.get("path") == "vertex":
            table.add_row("enumeration", "vertex cells (LP-free, low input dimension)")
        else:
            table.add_row("LPs solved", f"{result['lps']:,}")
    if result.get("note"):
        table.add_row("note", Text(result["note"]))
    for name, value in result["bounds"].items():
        table.add_row(f"bound {name}", f"{value:,}")
    console.print(table)


@main.command("regions")
@click.argument("model", type=click.Path(dir_okay=False))
@domain_options
@click.option("--method", type=click.Choice(METHODS), default=DEFAULTS.method, show_default=True,
              help="exact: enumerate cells; milp: SCIP's branch and bound over the activation "
                   "patterns (a cross-check: a verified lower bound that misses regions thinner "
                   "than 1e-6); bounds: only the architecture bounds; sample: distinct patterns "
                   "of uniform samples (lower bound); mipbound: SCIP with s random XOR "
                   "constraints on the activation binaries, s raised while all --trials trials "
                   "are feasible: regions >= 2^(s - a) with probability >= --confidence, "
                   "a = -log2(1 - confidence) / trials (for networks too large to enumerate). "
                   "Convolutional models: bounds and sample.")
@click.option("--plane", nargs=3, default=None, metavar="A B C",
              help="Count on the 2-D slice through three inputs (comma-separated values or .npy); "
                   "a 2-input model uses its own plane by default.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None, metavar="PNG",
              help="Draw the regions of the 2-D slice and the decision boundary (needs matplotlib).")
@time_limit_option("Stop counting after S seconds: the count is then a lower bound (reported "
                   "as such, \"exact\": false in --json).")
@click.option("--samples", type=click.IntRange(min=1), default=DEFAULTS.samples, show_default=True,
              metavar="N", help="Uniform samples for --method sample.")
@click.option("--trials", type=click.IntRange(min=1), default=DEFAULTS.trials, show_default=True,
              metavar="T", help="--method mipbound: trials per number of XOR constraints.")
@click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=DEFAULTS.confidence, show_default=True, metavar="P",
              help="--method mipbound: the probability with which the bound holds.")
@workers_option(help="Worker processes for --method exact (the cells after the first layer are "
                     "independent); 1 counts in this process.")
@json_option("Also write the result as JSON ('-': to stdout, the table then goes to stderr).")
def regions(model, domain_flags, method, plane, plot_path, time_limit, samples, trials,
            confidence, workers, json_out):
    """Count the linear (activation) regions of MODEL on its input domain, with upper bounds.

    Without a domain flag or a stored domain the unit box [0, 1] is used (and said so). --json
    and --plot are checked before counting and written together at the end. Exit 0 ok, 2 bad
    input, 130 interrupted (Ctrl-C ends the count: the lower bound so far is printed and written
    first).
    """
    check_distinct(model, json_out, plot_path)
    targets = [check_target(path, protect=model, what=flag, allow_stdout=flag == "--json")
               for path, flag in ((json_out, "--json"), (plot_path, "--plot")) if path is not None]
    if plot_path is not None:
        require_matplotlib()
    source = load_model(model)
    network = source.network
    domain = domain_flags.resolve(network.n_inputs, source.stored_domain)
    if domain is None:
        domain = Box(np.zeros(network.n_inputs), np.ones(network.n_inputs), "unit box [0,1]")
        note("no domain given or stored; counting on the unit box [0,1]")
    check_domain(network, domain)
    points = None
    if plane:
        points = [parse_point(p, network.n_inputs) for p in plane]
    use_slice = points is not None or (plot_path is not None and network.n_inputs == 2)
    if plot_path is not None and not use_slice:
        raise DomainError("--plot draws a 2-D slice: give --plane A B C for a model with "
                          f"{network.n_inputs} inputs")
    if (method in CONV_REFUSED or use_slice) and any(isinstance(layer, Conv2d)
                                                     for layer in network.layers):
        raise UnsupportedModelError(
            f"{model}: regions {'--plane/--plot' if use_slice else '--method ' + method} "
            "enumerates cells of fully connected networks; for a convolutional model use "
            "--method bounds or --method sample")
    sliced = None
    with err_console.status("counting regions...") as status:
        def progress(count: int, elapsed: float) -> None:
            status.update(f"counting regions... {count:,} so far ({elapsed:.0f} s)")

        if use_slice:
            sliced = slice_regions(network, domain, points, time_limit=time_limit)
            result = sliced.count
        elif method == "exact":
            stab = analyse_stability(network, domain, StabilityOptions(method="bounds"))
            if stab.interrupted:
                raise Interrupted("interrupted before the count started; nothing written")
            result = count_regions(network, domain, time_limit=time_limit, stability=stab,
                                   progress=progress, workers=workers)
        elif method == "milp":
            result = count_regions_milp(network, domain, time_limit=time_limit)
        elif method == "mipbound":
            result = mip_bound(network, domain, trials, confidence, time_limit=time_limit)
        elif method == "sample":
            result = sample_regions(network, domain, samples=samples)
        else:
            result = None
    report = RegionsReport(str(model), domain, sliced is not None, result, region_bounds(network))
    data = report.to_json()
    with Outputs() as outputs:
        for target in targets:
            outputs.stage(target, render_slice(sliced, network) if target.shown == plot_path
                          else json.dumps(data, indent=2) + "\n")
        done = outputs.publish()
    json_target = next((t for t in targets if t.shown == json_out), None)
    console = report_console(json_target)
    with reporting(done):
        _render(data, console)
        for name in done:
            if name != "-":
                console.print(Text(f"wrote {name}"), highlight=False)
    if report.interrupted:
        raise Interrupted("interrupted: the count above is a lower bound")
