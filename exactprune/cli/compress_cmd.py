"""`exactprune compress IN OUT`: remove what provably never changes the output on the domain,
verify in onnxruntime, then write OUT atomically."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import click
from rich import box as rich_box
from rich.table import Table

from ..atomic import check_distinct, write_atomic
from ..compress import CompressReport, compress
from ..errors import OutputFileError, VerificationError
from ..onnx_io import load
from ..reductions import RANK_TOL
from ..reductions import fixpoint
from .app import console, err_console, main
from .options import check_options, domain_from_options, domain_options, threads_option


def check_output(src: Path, out: Path, force: bool, overwrite_input: bool) -> None:
    """Refuse to replace the input (unless overwrite_input) or an existing file (unless force)."""
    if out.exists() and out.resolve() == src.resolve():
        if not overwrite_input:
            raise OutputFileError(f"{out} is the input model; choose another OUT or pass "
                                  "--overwrite-input")
    elif out.exists() and not force:
        raise OutputFileError(f"{out} exists; pass --force to overwrite it")
    if not out.parent.is_dir():
        raise OutputFileError(f"cannot write {out}: directory {out.parent} does not exist")


_ACT = {"identity": "id", "leaky_relu": "leaky"}


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _pct(before: int, after: int) -> str:
    return f"{100.0 * (before - after) / before:.1f}%" if before else "-"


def render(report: CompressReport, out: str) -> None:
    """The before/after table per layer, then totals (in the spirit of onnxsim's table)."""
    table = Table(title=f"{report.model} -> {out}", title_justify="left", box=rich_box.SIMPLE_HEAD,
                  pad_edge=False)
    for col in ("layer", "act", "neurons", "after", "active", "inactive", "removed",
                "folded", "lumped", "params", "after"):
        table.add_column(col, justify="left" if col in ("layer", "act") else "right",
                         overflow="fold")
    for layer in report.layers:
        table.add_row(layer.name, _ACT.get(layer.activation, layer.activation),
                      str(layer.neurons_before),
                      str(layer.neurons_after), _count(layer.stably_active),
                      _count(layer.stably_inactive), str(layer.removed), str(layer.folded),
                      str(layer.merged), str(layer.params_before), str(layer.params_after))
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
    rules = ", ".join(f"{rule} {v['neurons']} neurons / {v['params']} params"
                      for rule, v in report.by_rule.items()) or "nothing"
    console.print(f"domain: {report.domain or 'none'}", highlight=False, soft_wrap=True)
    console.print(f"reductions: {rules}", highlight=False, soft_wrap=True)
    if report.max_abs is not None:
        verdict = "[bold green]PASS[/]" if report.verified else "[bold red]FAIL[/]"
        console.print(f"max deviation {report.max_abs:.3g} ({report.max_rel:.3g} of output "
                      f"scale) {verdict}; time {report.time_s:.1f} s (stability "
                      f"{report.stability_time_s:.1f} s)", highlight=False)
    for note in report.notes:
        err_console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)


@main.command("compress")
@click.argument("src", metavar="IN", type=click.Path(dir_okay=False))
@click.argument("out", metavar="OUT", type=click.Path(dir_okay=False))
@domain_options
@click.option("--time-limit", type=click.FloatRange(min=0), default=600.0, show_default=True,
              metavar="S", help="Seconds for all stability analyses together. Neurons still "
                                "undecided then are kept: the output stays exact, only larger.")
@click.option("--lump-tol", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Tolerance for equal / proportional rows in lumping (0: exact).")
@click.option("--rank-tol", type=click.FloatRange(min=0), default=RANK_TOL, show_default=True,
              help="Relative tolerance of the rank merge of stably active neurons.")
@threads_option
@check_options
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
              metavar="FILE", help="Also write the report and the stability result as JSON.")
@click.option("--keep-on-fail", is_flag=True, help="Write OUT even if verification fails.")
@click.option("--force", is_flag=True, help="Overwrite an existing OUT (never the input).")
@click.option("--overwrite-input", is_flag=True, help="Allow OUT to be the input file.")
def compress_command(src, out, box, bounds, vnnlib, time_limit, lump_tol, rank_tol, threads,
                     samples, atol, rtol, json_out, keep_on_fail, force, overwrite_input):
    """Compress IN exactly on the input domain and write OUT.

    Proves which ReLU neurons are stable on the domain, removes / folds them, merges equal and
    proportional neurons, then checks OUT against IN in onnxruntime (mandatory) on samples of
    the domain and the stability witnesses. The domain comes from --box/--bounds/--vnnlib, else
    the one stored in IN; without one only the data-free reductions run. OUT stores the domain
    it is exact on. Exit 0 ok, 1 verification failed (OUT not written unless --keep-on-fail),
    2 bad input, 3 internal error, 130 interrupted.
    """
    src_path, out_path = Path(src), Path(out)
    network = load(src_path)
    check_output(src_path, out_path, force, overwrite_input)
    check_distinct(out_path, json_out)
    check_distinct(src_path, json_out)
    domain = domain_from_options(network.n_inputs, network.metadata.get("domain"), box, bounds,
                                 vnnlib)
    with err_console.status("compressing", spinner="dots") as status:
        def progress(info: dict) -> None:
            status.update(f"stability: {info.get('stage', '')}, {info.get('decided', 0)}/"
                          f"{info.get('total', 0)} neurons decided "
                          f"({info.get('elapsed_s', 0.0):.0f} s)")

        result = compress(src_path, domain, time_limit=time_limit, lump_tol=lump_tol,
                          rank_tol=rank_tol, samples=samples, atol=atol, rtol=rtol,
                          progress=progress,
                          analyse=partial(fixpoint.default_analyse(), threads=threads))
    # files first: a reader that stops reading the table (`| head`) must not cost the output
    written = result.report.verified or keep_on_fail
    if written:
        result.save(out_path, overwrite_input=overwrite_input, allow_unverified=keep_on_fail)
    if json_out is not None:
        data = result.report.to_json()
        data["output"] = str(out_path) if written else None
        data["verification"] = result.verification.to_json() if result.verification else None
        data["stability"] = result.stability.to_json(src) if result.stability else None
        write_atomic(json_out, json.dumps(data, indent=1), protect=src_path)
    render(result.report, out)
    if written:
        console.print(f"wrote {out_path}", highlight=False)
    if not result.report.verified:
        kept = "written anyway (--keep-on-fail)" if keep_on_fail else "not written"
        raise VerificationError(f"verification failed: {result.verification.summary()}; "
                                f"{out_path} {kept}")
