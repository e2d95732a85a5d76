"""One row of a batch: the task a worker runs (compress or stability on the row's model and
domain), its files in the output directory, and whether an earlier run already did it.

A row's report is the JSON the single command writes (`compress --json`, `stability --json`)
plus a "batch" section: the command, the model and spec as the CSV names them, their sha256,
the time limit and (compress) the sha256 of the output model. A row counts as done when its
report and output exist, the command matches, the hashes match the input files as they are
now and the output is the one the report names; anything else runs again. Outputs are
written atomically, the model before the report, so an interrupted write is never taken as
done.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..atomic import Outputs, check_target
from ..domain import resolve_domain
from ..equivalence import CheckOptions
from ..errors import ExactpruneError, Interrupted, MissingFileError, first_line
from ..onnx_io import load_model
from ..pipeline import CompressOptions, compress
from ..stability import StabilityOptions, analyse_stability
from ..stability.options import DEFAULT_TIME_LIMIT
from .instances import Instance

COMMANDS = ("compress", "stability")
STATUSES = ("ok", "skipped", "error", "interrupted")


@dataclass(frozen=True)
class BatchOptions:
    """command: what runs on every row (COMMANDS); time_limit: seconds of a row's analysis
    when its timeout cell is empty; check: compress's onnxruntime comparison."""

    command: str = "compress"
    time_limit: float = DEFAULT_TIME_LIMIT
    check: CheckOptions = CheckOptions()


@dataclass
class RowRecord:
    """What the log and the summary say of a row. status: one of STATUSES; unknown: neurons
    left undecided; the sizes and max_abs (the verified deviation) are compress's; seconds:
    this run's time on the row; error: the one-line reason of an error row."""

    row: int
    line: int
    name: str
    model: str
    spec: str
    command: str
    status: str
    seconds: float = 0.0
    unknown: int | None = None
    neurons_before: int | None = None
    neurons_after: int | None = None
    params_before: int | None = None
    params_after: int | None = None
    max_abs: float | None = None
    output: str | None = None
    report: str | None = None
    error: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RowJob:
    """A picklable task: one instance, the output directory and the batch's options."""

    instance: Instance
    out_dir: Path
    options: BatchOptions = field(default_factory=BatchOptions)

    @property
    def time_limit(self) -> float:
        return self.instance.timeout or self.options.time_limit

    @property
    def output(self) -> Path | None:
        """The compressed model (None for stability)."""
        if self.options.command != "compress":
            return None
        return self.out_dir / f"{self.instance.name}.onnx"

    @property
    def report(self) -> Path:
        return self.out_dir / f"{self.instance.name}.json"

    def record(self, status: str, seconds: float = 0.0, data: dict | None = None,
               error: str | None = None) -> RowRecord:
        """The row's record; its numbers come from the report `data` when there is one."""
        row = self.instance
        record = RowRecord(row.row, row.line, row.name, row.model_text, row.spec_text,
                           self.options.command, status, round(seconds, 3), error=error)
        if data is not None:
            record.unknown = sum(data.get("unknown_by_reason", {}).values())
            for key in ("neurons_before", "neurons_after", "params_before", "params_after",
                        "max_abs"):
                setattr(record, key, data.get(key))
            record.output = None if self.output is None else str(self.output)
            record.report = str(self.report)
        return record


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_hashes(instance: Instance) -> dict:
    """The sha256 of the row's model and spec (MissingFileError when one is missing)."""
    for what, path in (("model", instance.model), ("spec", instance.spec)):
        if not path.is_file():
            raise MissingFileError(f"{what} {path}: no such file")
    return {"model_sha256": sha256(instance.model), "spec_sha256": sha256(instance.spec)}


def already_done(job: RowJob) -> RowRecord | None:
    """The "skipped" record of a row an earlier run finished (see the module docstring), or
    None when it has to run."""
    try:
        data = json.loads(job.report.read_text(encoding="utf-8"))
        batch = data["batch"]
        if batch["command"] != job.options.command:
            return None
        if {key: batch[key] for key in ("model_sha256", "spec_sha256")} != \
                input_hashes(job.instance):
            return None
        if job.output is not None and sha256(job.output) != batch["output_sha256"]:
            return None
    except (OSError, ValueError, KeyError, TypeError, ExactpruneError):
        return None
    return job.record("skipped", data=data)


def run_row(job: RowJob) -> RowRecord:
    """Run the row's command and write its files; a bad input or a failed verification is an
    "error" record (nothing written), Ctrl-C in the analysis an "interrupted" one. Ctrl-C
    elsewhere propagates (KeyboardInterrupt)."""
    start = time.monotonic()
    try:
        hashes = input_hashes(job.instance)
        source = load_model(job.instance.model)
        domain = resolve_domain(source.network.n_inputs,
                                **{job.instance.spec_kind: str(job.instance.spec)})
        run = _compress if job.options.command == "compress" else _stability
        status, data, error = run(job, source, domain, hashes)
    except Interrupted:
        raise KeyboardInterrupt from None
    except ExactpruneError as exc:
        status, data, error = "error", None, str(exc)
    except Exception as exc:  # a bug shows on its row; the other rows go on
        status, data, error = "error", None, f"internal error ({type(exc).__name__}: " \
                                             f"{first_line(exc)})"
    return job.record(status, time.monotonic() - start, data, error)


def _compress(job: RowJob, source, domain, hashes: dict):
    options = CompressOptions(time_limit=job.time_limit, workers=1, check=job.options.check)
    result = compress(source, domain, options)
    report = result.report
    if report.interrupted:
        return "interrupted", None, "interrupted during the analysis; nothing written"
    if not report.verified:
        return "error", None, f"verification failed: {result.verification.summary()}; " \
                              "nothing written"
    model = result.model_bytes()
    data = result.to_json(str(job.output))
    data["batch"] = _batch_section(job, hashes, output_sha256=hashlib.sha256(model).hexdigest())
    _write(job, data, model)
    return "ok", data, None


def _stability(job: RowJob, source, domain, hashes: dict):
    result = analyse_stability(source.network, domain,
                               StabilityOptions(time_limit=job.time_limit, workers=1))
    if result.interrupted:
        return "interrupted", None, "interrupted during the analysis; nothing written"
    data = result.to_json(str(job.instance.model))
    data["batch"] = _batch_section(job, hashes)
    _write(job, data)
    return "ok", data, None


def _batch_section(job: RowJob, hashes: dict, **more) -> dict:
    return {"command": job.options.command, "model": job.instance.model_text,
            "spec": job.instance.spec_text, **hashes, "time_limit": job.time_limit, **more}


def _write(job: RowJob, data: dict, model: bytes | None = None) -> None:
    """The output model (if any), then the report, each atomically, replacing older ones but
    never the row's own input files (OutputFileError: an error row)."""
    with Outputs() as outputs:
        if model is not None:
            outputs.stage(check_target(job.output, what="output", protect=job.instance.model),
                          model)
        outputs.stage(check_target(job.report, what="report", protect=job.instance.spec),
                      json.dumps(data, indent=1) + "\n")
        outputs.publish()
