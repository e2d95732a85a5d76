"""`exactprune compress IN OUT`: remove what provably never changes the output on the domain,
verify in onnxruntime, then write OUT atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
from rich import box as rich_box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..atomic import Outputs, check_distinct, check_target
from ..compress_report import NEURON_RULES, CompressReport
from ..equivalence import CheckOptions, FormalOptions
from ..errors import Interrupted, UndecidedError, VerificationError
from ..onnx_io import load_model
from ..pipeline import CompressOptions, compress
from .app import err_console, main, note, reporting
from .options import (
    check_options,
    domain_options,
    json_option,
    report_console,
    time_limit_option,
    workers_option,
)

DEFAULTS = CompressOptions()

_ACT = {"identity": "id", "leaky_relu": "leaky"}
RULE_COLUMNS = {"inactive": "inact", "rank-merge": "merge", "layer-fold": "fold",
                "constant": "const", "channel": "chan"}  # short headers: the usual table fits 80 columns


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _pct(before: int, after: int) -> str:
    """The share removed; a growth (a model with nothing removed gains its metadata) as such."""
    if not before:
        return "-"
    if after > before:
        return f"none (+{100.0 * (after - before) / before:.1f}%)"
    return f"{100.0 * (before - after) / before:.1f}%"


def _channel_text(layer) -> str:
    if layer.channels_before is None:
        return "-"
    return f"{layer.channels_before}->{layer.channels_after}"


def render(report: CompressReport, out: str, console: Console) -> None:
    """The before/after table per layer, then totals (in the spirit of onnxsim's table).

    "on" / "off": neurons the first analysis proved always active / always inactive; then one
    column per rule that took neurons out, headed by its RULE_COLUMNS name (they add up to
    neurons - after)."""
    rules = [r for r in NEURON_RULES if any(layer.rules.get(r) for layer in report.layers)]
    table = Table(title=Text(f"{report.model} -> {out}"), title_justify="left",
                  box=rich_box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    conv = any(layer.channels_before is not None for layer in report.layers)
    extra = ("channels", "MACs", "after") if conv else ()  # conv models: channels, MACs too
    for col in ("layer", "act", "neurons", "after", "on", "off", *rules, "params", "after",
                *extra):
        table.add_column(RULE_COLUMNS.get(col, col), overflow="fold",
                         justify="left" if col in ("layer", "act") else "right")
    for layer in report.layers:
        more = (_channel_text(layer), str(layer.macs_before), str(layer.macs_after)) if conv else ()
        table.add_row(Text(layer.name), _ACT.get(layer.activation, layer.activation),
                      str(layer.neurons_before), str(layer.neurons_after),
                      _count(layer.stably_active), _count(layer.stably_inactive),
                      *(str(layer.rules.get(r, 0)) for r in rules),
                      str(layer.params_before), str(layer.params_after), *more)
    console.print(table)
    totals = Table(title="totals", title_justify="left", box=rich_box.SIMPLE_HEAD, pad_edge=False)
    for col in ("", "before", "after", "removed"):
        totals.add_column(col, justify="left" if not col else "right")
    for label, before, after in (
        ("hidden neurons", report.neurons_before, report.neurons_after),
        ("parameters", report.params_before, report.params_after),
        ("multiply-adds", report.macs_before, report.macs_after),
        ("file size (bytes)", report.file_size_before, report.file_size_after),
    ):
        totals.add_row(label, str(before), str(after), _pct(before, after))
    console.print(totals)
    done = ", ".join(f"{rule} {v['neurons']} {'columns' if rule == 'position' else 'neurons'}"
                     f" / {v['params']} params" for rule, v in report.by_rule.items())
    console.print(f"domain: {report.domain or 'none'}", highlight=False, soft_wrap=True,
                  markup=False)
    console.print(f"reductions: {done or 'nothing removed'}", highlight=False, soft_wrap=True,
                  markup=False)
    if report.max_abs is not None:
        verdict = Text("PASS", "bold green") if report.verified else Text("FAIL", "bold red")
        own = "" if report.own_error is None else \
            f"; the original's own rounding error {report.own_error:.3g}"
        console.print(Text.assemble(
            f"max deviation {report.max_abs:.3g} ({report.max_rel:.3g} of output scale{own}) ",
            verdict,
            f"; time {report.time_s:.1f} s (stability {report.stability_time_s:.1f} s)"),
            highlight=False, soft_wrap=True)
    if report.proof is not None:
        proof = report.proof
        verdict = {True: ("PROVEN", "bold green"), False: ("REFUTED", "bold red")}.get(
            proof["equivalent"], (f"UNDECIDED ({proof['reason']})", "bold yellow"))
        bound = "-" if proof["max_abs_bound"] is None else f"{proof['max_abs_bound']:.3g}"
        console.print(Text.assemble(
            f"formal check: max |a - b| <= {bound} over the domain (tolerance "
            f"{proof['tolerance']:.3g}) ", verdict, f"; {proof['time_s']:.1f} s"),
            highlight=False, soft_wrap=True)
    for text in report.notes:
        note(text)


def _outputs(src: Path, out: str, json_out: str | None, force: bool, overwrite_input: bool):
    """Check OUT and --json before any work: regular files only, the input protected."""
    same = os.path.realpath(out) == os.path.realpath(src)
    target = check_target(out, replace=force or (same and overwrite_input),
                          protect=None if overwrite_input else src, what="OUT")
    check_distinct(out, json_out)
    check_distinct(src, json_out)
    report = None if json_out is None else check_target(json_out, protect=src, what="--json",
                                                     allow_stdout=True)
    return target, report


@main.command("compress")
@click.argument("src", metavar="IN", type=click.Path(dir_okay=False))
@click.argument("out", metavar="OUT", type=click.Path(dir_okay=False))
@domain_options
@time_limit_option("Seconds for all stability analyses together. Neurons still undecided then "
                   "are kept: the output stays exact, only larger.")
@click.option("--lump-tol", type=click.FloatRange(min=0), default=DEFAULTS.lump_tol,
              show_default=True,
              metavar="T", help="Tolerance for equal / proportional rows in lumping (0: exact).")
@click.option("--rank-tol", type=click.FloatRange(min=0), default=DEFAULTS.rank_tol,
              show_default=True,
              metavar="T", help="Relative tolerance of the rank merge of stably active neurons.")
@workers_option
@check_options
@json_option("Also write the report and the stability result as JSON ('-': to stdout, the "
             "table then goes to stderr).")
@click.option("--prove", is_flag=True,
              help="Also prove OUT equivalent to IN on the domain (verify --formal: max |a - b| "
                   "<= the tolerance on the whole domain, not only on samples) and record the "
                   "proven bound in the report and in OUT's metadata. A counterexample fails "
                   "like a failed verification (exit 1); undecided at the time limit: OUT is "
                   "written, exit 4.")
@click.option("--keep-on-fail", is_flag=True, help="Write OUT even if verification fails.")
@click.option("--force", is_flag=True, help="Overwrite an existing OUT (never the input).")
@click.option("--overwrite-input", is_flag=True, help="Allow OUT to be the input file.")
def compress_command(src, out, domain_flags, time_limit, lump_tol, rank_tol, workers,
                     samples, atol, rtol, json_out, prove, keep_on_fail, force,
                     overwrite_input):
    """Compress IN exactly on the input domain and write OUT.

    Proves which ReLU neurons are stable on the domain, removes / folds them, merges equal and
    proportional neurons, then checks OUT against IN in onnxruntime (mandatory) on samples of
    the domain and the stability witnesses. The domain comes from --box, --bounds, --vnnlib
    or --calibration, else the one stored in IN; without one only the data-free reductions
    run. OUT stores the domain
    it is exact on. OUT and --json are checked before the work starts and written together at
    the end (regular files only; nothing half-written).

    Exit 0 ok; 1 verification failed (OUT not written unless --keep-on-fail); 2 bad input; 3
    internal error; 4 --prove undecided (OUT written); 130 interrupted. Ctrl-C during the
    analysis ends it: the neurons proven so far are removed, OUT is verified and written, and
    the exit code is 130; a second Ctrl-C (before the final renames) stops at once and writes
    nothing.
    """
    src_path = Path(src)
    target, report_target = _outputs(src_path, out, json_out, force, overwrite_input)
    source = load_model(src_path)
    domain = domain_flags.resolve(source.network.n_inputs, source.stored_domain)
    check = CheckOptions(samples=samples, atol=atol, rtol=rtol)
    options = CompressOptions(time_limit=time_limit, lump_tol=lump_tol, rank_tol=rank_tol,
                              workers=workers, check=check, prove=prove,
                              proof=FormalOptions(atol=atol, rtol=rtol))
    with err_console.status("compressing", spinner="dots") as status:
        def progress(info: dict) -> None:
            if info.get("proof"):
                status.update(f"formal check: {info.get('stage', '')} "
                              f"({info.get('elapsed_s', 0.0):.0f} s)")
                return
            status.update(f"stability: {info.get('stage', '')}, {info.get('decided', 0)}/"
                          f"{info.get('total', 0)} neurons decided "
                          f"({info.get('elapsed_s', 0.0):.0f} s)")

        result = compress(source, domain, options, progress=progress)
    # files first: a reader that stops reading the table (`| head`) must not cost the output
    written = bool(result.report.verified or keep_on_fail)
    with Outputs() as outputs:
        if written:
            outputs.stage(target, result.model_bytes(allow_unverified=keep_on_fail))
        if report_target is not None:
            data = result.to_json(str(out) if written else None)
            outputs.stage(report_target, json.dumps(data, indent=1) + "\n")
        done = outputs.publish()
    console = report_console(report_target)
    with reporting(done):
        render(result.report, out, console)
        for name in done:
            if name != "-":
                kind = (f" (ONNX opset {result.report.opset}, IR version "
                        f"{result.report.ir_version})" if name == str(out) else "")
                console.print(Text(f"wrote {name}{kind}"), highlight=False)
    failed = None
    if not result.report.verified:
        kept = "written anyway (--keep-on-fail)" if keep_on_fail else "not written"
        failed = f"verification failed: {result.verification.summary()}; {out} {kept}"
    if result.report.interrupted:
        raise Interrupted(f"interrupted: the analysis stopped early; {failed}" if failed else
                          f"interrupted: the analysis stopped early; {out} was written with the "
                          "neurons proven so far (exact, verified; undecided neurons kept)")
    if failed:
        raise VerificationError(failed)
    if result.proof is not None and result.proof.equivalent is None:
        raise UndecidedError(f"{out} was written (verified on samples) but the formal check is "
                             f"undecided: {result.proof.summary()}")
