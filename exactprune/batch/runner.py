"""Running the rows of a batch: skip what an earlier run did, spread the rest over worker
processes (one row per worker at a time, each row's own analysis in that one process), and
append one JSON line per row to the log as it finishes. Rows start in order of decreasing time
limit (CSV order among equal ones): the rows given most time, likely the longest, go first, so
that none of them is left to run alone at the end.

Ctrl-C: the rows finished so far stay written and logged; every other row of this run is
logged as "interrupted" and the result says interrupted. Rows that ran in workers are
stopped at once (Workers); a row running in this process (one worker) ends its analysis
early and writes nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..errors import OutputFileError
from ..interrupts import deferred
from ..parallel import Cluster, Workers
from .instances import Instance
from .row import BatchOptions, RowJob, RowRecord, already_done, run_row

LOG_NAME = "batch.jsonl"


@dataclass
class BatchResult:
    """The records of every row (row order) and whether Ctrl-C ended the run."""

    records: list[RowRecord]
    interrupted: bool
    seconds: float

    def count(self, status: str) -> int:
        return sum(record.status == status for record in self.records)


class BatchLog:
    """DIR/batch.jsonl, appended to: one JSON object per line, a row's record plus the time
    this run started (`run`) and the time the row finished (`at`), both UTC."""

    def __init__(self, path: Path):
        self.path = path
        self.run = _now()

    def append(self, record: RowRecord) -> None:
        line = json.dumps({"run": self.run, "at": _now(), **record.to_json()})
        with deferred(), open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def output_dir(path: str | Path) -> Path:
    """The output directory, made when missing; OutputFileError when it cannot be."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputFileError(f"--out {out} is a file, not a directory") from None
    except OSError as exc:
        raise OutputFileError(f"cannot make the output directory {out}: {exc.strerror}") \
            from None
    return out


def run_batch(instances: list[Instance], out_dir: str | Path,
              options: BatchOptions | None = None, workers: int | Cluster = 1,
              on_record: Callable[[RowRecord], None] | None = None) -> BatchResult:
    """Do every row of `instances` into `out_dir` (made when missing) with `workers` worker
    processes (or a cluster's workers, exactprune.cluster.ClusterSpec); on_record(record) in
    this process as each row is skipped or finishes."""
    start = time.monotonic()
    out = output_dir(out_dir)
    log = BatchLog(out / LOG_NAME)
    jobs = [RowJob(instance, out, options or BatchOptions()) for instance in instances]
    records: dict[int, RowRecord] = {}

    def finish(record: RowRecord) -> None:
        log.append(record)
        records[record.row] = record
        if on_record is not None:
            on_record(record)

    def arrived(index: int, record: RowRecord) -> None:
        finish(record)
        if record.status == "interrupted":  # Ctrl-C reached the analysis in this process
            raise KeyboardInterrupt

    interrupted = False
    try:
        todo = []
        for job in jobs:
            done = already_done(job)
            if done is None:
                todo.append(job)
            else:
                finish(done)
        todo.sort(key=lambda job: -job.time_limit)  # stable: CSV order within a time limit
        if isinstance(workers, int):
            workers = min(workers, max(1, len(todo)))
        with Workers(workers) as pool:
            lost = pool.run(run_row, todo, arrived)
        for index in lost:
            finish(todo[index].record("error", error="its worker process died"))
    except KeyboardInterrupt:
        interrupted = True
        for job in jobs:
            if job.instance.row not in records:
                finish(job.record("interrupted", error="not finished (Ctrl-C)"))
    return BatchResult([records[job.instance.row] for job in jobs], interrupted,
                       time.monotonic() - start)
