"""`exactprune stability MODEL`: which ReLU neurons never change phase on the input domain."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..atomic import Outputs, check_distinct, check_target
from ..errors import DomainError, Interrupted
from ..ir import ACTIVE, INACTIVE, UNKNOWN, UNSTABLE
from ..onnx_io import load_model
from ..stability import METHODS, Evidence, StabilityOptions, StabilityResult, analyse_stability
from ..stability.result import trouble_note
from .app import err_console, main, note, reporting
from .options import (
    domain_options,
    json_option,
    report_console,
    time_limit_option,
    workers_option,
)

NO_DOMAIN = ("stability needs an input domain: give --box LO HI, --bounds FILE, --vnnlib FILE or "
             "--calibration FILE")
EVIDENCE = [e for e in Evidence if e is not Evidence.NONE]


def _by_evidence(layer, codes) -> str:
    """'bounds:12 milp:3' for the neurons of `layer` whose status is in `codes`."""
    counts: dict[str, int] = {}
    for status, how in zip(layer.status, layer.evidence):
        if status in codes:
            counts[how] = counts.get(how, 0) + 1
    return " ".join(f"{how}:{counts[how]}" for how in EVIDENCE if how in counts)


def render(result: StabilityResult, console: Console) -> None:
    """The per-layer table, a one-line summary and why neurons are unknown."""
    table = Table(title=Text(f"stability on {result.domain.source or 'the domain'}"))
    for col in ("layer", "node", "neurons", "active", "inactive", "unstable", "unknown",
                "stable by", "unstable by"):
        table.add_column(col, justify="left" if col in ("node", "stable by", "unstable by")
                         else "right", overflow="fold")
    for layer in result.layers:
        n = {code: int((layer.status == code).sum()) for code in (ACTIVE, INACTIVE, UNSTABLE,
                                                                  UNKNOWN)}
        table.add_row(str(layer.layer), Text(layer.node), str(layer.status.size), str(n[ACTIVE]),
                      str(n[INACTIVE]), str(n[UNSTABLE]), str(n[UNKNOWN]),
                      _by_evidence(layer, (ACTIVE, INACTIVE)), _by_evidence(layer, (UNSTABLE,)))
    console.print(table)
    counts = result.counts()
    state = (Text("complete") if result.complete
             else Text.assemble(("incomplete", "bold yellow"), " (unknown neurons are kept)"))
    console.print(Text.assemble(
        f"{counts['stably_active']} stably active, {counts['stably_inactive']} stably "
        f"inactive, {counts['unstable']} unstable, {counts['unknown']} unknown; ", state,
        f"; {result.time_s:.2f} s, {len(result.witnesses)} witnesses"), highlight=False)
    if result.describe_unknown():
        note(f"{result.describe_unknown()}: kept undecided")
    if result.trouble:
        note(trouble_note(result.trouble))


@main.command("stability")
@click.argument("model", type=click.Path(dir_okay=False))
@domain_options
@time_limit_option("Seconds for the whole analysis; what is left undecided is reported as "
                   "unknown.")
@click.option("--method", type=click.Choice(list(METHODS)),
              default=StabilityOptions.method, show_default=True,
              help="; ".join(f"{name}: {m.summary}" for name, m in METHODS.items())
              + " (the baselines: see docs/stability.md).")
@workers_option
@json_option("Write the result as JSON (model, domain, time_s, complete, unknown_by_reason, "
             "layers, witnesses); '-' writes it to stdout and the table to stderr.")
def stability(model, domain_flags, time_limit, method, workers, json_out):
    """Prove which ReLU neurons of MODEL never change phase on the input domain.

    Every neuron is stably active, stably inactive, unstable (witness inputs on both sides) or
    unknown (not decided: the time limit, Ctrl-C, or solver trouble; the note and the JSON's
    unknown_by_reason say which). A time limit or solver trouble still exits 0 with a sound
    partial result (complete=false). Ctrl-C ends the analysis: the partial result is printed and
    written, then the exit code is 130. Without a domain flag the domain exactprune
    stored in MODEL is used; --json also lists the witness inputs.
    """
    check_distinct(model, json_out)
    target = None if json_out is None else check_target(json_out, protect=model, what="--json",
                                                        allow_stdout=True)
    source = load_model(model)
    network = source.network
    domain = domain_flags.resolve(network.n_inputs, source.stored_domain)
    if domain is None:
        raise DomainError(NO_DOMAIN)
    total = sum(network.layers[i].n_out for i in network.two_phase)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[detail]}"), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True,
                  disable=not err_console.is_terminal) as bar:
        task = bar.add_task("bounds", total=total, detail="")

        def progress(info: dict) -> None:
            detail = " ".join(f"{k}:{v}" for k, v in info["by_evidence"].items())
            bar.update(task, completed=info["decided"], description=info["stage"],
                       detail=f"{detail} | {info['total'] - info['decided']} left")

        options = StabilityOptions(time_limit=time_limit, method=method, workers=workers)
        result = analyse_stability(network, domain, options, progress=progress)
    done: list[str] = []
    if target is not None:
        with Outputs() as outputs:
            outputs.stage(target, json.dumps(result.to_json(model), indent=1) + "\n")
            done = outputs.publish()
    console = report_console(target)
    with reporting(done):
        render(result, console)
        if target is not None and not target.is_stdout:
            console.print(Text(f"wrote {json_out}"), highlight=False)
    if result.interrupted:
        written = f"; {json_out} written" if target is not None and not target.is_stdout else ""
        raise Interrupted(f"interrupted: partial result above{written}")
