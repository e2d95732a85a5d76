"""`exactprune batch INSTANCES.csv --out DIR`: compress (or analyse) every row, resumable."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich import box as rich_box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..atomic import Outputs, check_distinct, check_target
from ..batch import COMMANDS, LOG_NAME, BatchOptions, BatchResult, RowRecord, read_instances, run_batch
from ..equivalence import CheckOptions
from ..errors import Interrupted, RowsFailedError
from .app import err_console, main, reporting
from .options import check_options, json_option, report_console, time_limit_option, workers_option

STYLES = {"ok": "green", "skipped": "cyan", "error": "bold red", "interrupted": "yellow"}


def _sizes(record: RowRecord) -> str:
    if record.params_before is None:
        return "-"
    return f"{record.params_before} -> {record.params_after}"


def _number(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def row_line(record: RowRecord, total: int) -> Text:
    """One line on stderr as a row finishes."""
    head = Text.assemble(f"row {record.row}/{total} ", (record.status, STYLES[record.status]),
                         f" {record.name}")
    if record.error:
        return Text.assemble(head, f": {record.error}")
    return Text.assemble(head, f"  unknown {_number(record.unknown, 'd')}  params "
                               f"{_sizes(record)}  max dev {_number(record.max_abs, '.3g')}  "
                               f"{record.seconds:.1f} s")


def render(result: BatchResult, console: Console, title: str) -> None:
    """The summary table, one line of counts, and each failed row's reason."""
    table = Table(title=Text(title), title_justify="left", box=rich_box.SIMPLE_HEAD,
                  pad_edge=False, collapse_padding=True)
    for col in ("row", "model", "spec", "status", "unknown", "params", "max dev", "time"):
        names = col in ("model", "spec")
        table.add_column(col, overflow="fold", no_wrap=not names,
                         justify="left" if names or col == "status" else "right")
    for record in result.records:
        table.add_row(str(record.row), Text(Path(record.model).stem), Text(Path(record.spec).stem),
                      Text(record.status, STYLES[record.status]), _number(record.unknown, "d"),
                      _sizes(record), _number(record.max_abs, ".3g"), f"{record.seconds:.1f} s")
    console.print(table)
    counts = ", ".join(f"{result.count(status)} {status}" for status in STYLES
                       if result.count(status))
    console.print(f"{len(result.records)} rows: {counts}; {result.seconds:.1f} s", highlight=False)
    for record in result.records:
        if record.status == "error":
            console.print(Text(f"row {record.row} (line {record.line}): {record.error}"),
                          highlight=False)


def _summary_json(result: BatchResult, instances: str, out_dir: str, options: BatchOptions,
                  workers) -> dict:
    return {"instances": instances, "out": out_dir, "command": options.command,
            "workers": workers if isinstance(workers, int) else str(workers),
            "seconds": round(result.seconds, 3),
            "interrupted": result.interrupted,
            "counts": {status: result.count(status) for status in STYLES},
            "rows": [record.to_json() for record in result.records]}


@main.command("batch")
@click.argument("instances", metavar="INSTANCES.csv", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), metavar="DIR",
              help="Directory of the outputs (made when missing): per row NAME.onnx (compress) "
                   f"and NAME.json (its report), and the log {LOG_NAME}.")
@click.option("--command", type=click.Choice(COMMANDS), default="compress", show_default=True,
              help="What runs on every row: compress (writes the model and its report) or "
                   "stability (writes the stability JSON).")
@time_limit_option("Seconds of a row's analysis when its timeout cell is empty.")
@workers_option(help="Rows run at the same time, each in a worker process of its own (a "
                     "row's analysis uses that one process).")
@check_options
@json_option("Also write the summary (counts and every row's record) as JSON ('-': to "
             "stdout, the table then goes to stderr).")
def batch_command(instances, out_dir, command, time_limit, workers, samples, atol, rtol,
                  json_out):
    """Run compress (or stability) on every row of INSTANCES.csv, writing into DIR.

    Each line of the CSV is model,spec[,timeout] (the VNN-COMP instances.csv format; paths
    relative to the CSV; no header; blank lines and '#' lines skipped): spec is a .vnnlib file
    (its input box) or a .json/.npy bounds file as --bounds takes; timeout is the row's
    --time-limit. Row NAME is the model's and the spec's stem (MODEL__SPEC, made unique).
    A row whose outputs and report exist and whose report's sha256 of the model and spec match
    the files now is skipped: a rerun does only what is missing or changed. Each row's
    compressed model is verified in onnxruntime as `compress` does. Rows finish into
    DIR/batch.jsonl (one JSON line each) and a summary table at the end.

    Exit 0 every row ok or skipped; 1 some row failed (a bad model or spec, a failed
    verification: the other rows are done); 2 a bad CSV (the message names its line) or bad
    option; 130 interrupted: the rows finished stay done, run the same command again for the
    rest.
    """
    rows = read_instances(instances)
    check_distinct(instances, json_out)
    target = None if json_out is None else check_target(json_out, what="--json",
                                                        allow_stdout=True)
    options = BatchOptions(command, time_limit, CheckOptions(samples=samples, atol=atol,
                                                             rtol=rtol))
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True,
                  disable=not err_console.is_terminal) as bar:
        task = bar.add_task(command, total=len(rows))

        def on_record(record: RowRecord) -> None:
            bar.console.print(row_line(record, len(rows)), highlight=False, soft_wrap=True)
            bar.advance(task)

        result = run_batch(rows, out_dir, options, workers, on_record)
    done: list[str] = []
    if target is not None:
        with Outputs() as outputs:
            data = _summary_json(result, instances, out_dir, options, workers)
            outputs.stage(target, json.dumps(data, indent=1) + "\n")
            done = outputs.publish()
    with reporting(done):
        render(result, report_console(target), f"{instances} -> {out_dir} ({command})")
    if result.interrupted:
        raise Interrupted(f"interrupted: {result.count('ok')} rows done this run stay in "
                          f"{out_dir}; run the same command again to do the rest")
    failed = result.count("error")
    if failed:
        raise RowsFailedError(f"{failed} of {len(rows)} rows failed (see above and "
                              f"{out_dir}/{LOG_NAME}); the others are done")
