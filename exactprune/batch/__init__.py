"""Batch mode: compress (or analyse) every row of an instances CSV into one directory, rows
spread over worker processes, resumable (instances.py: the CSV; row.py: one row's task, files
and resume check; runner.py: the run and its JSON-lines log)."""

from __future__ import annotations

from .instances import Instance, read_instances
from .row import COMMANDS, BatchOptions, RowJob, RowRecord, already_done, run_row
from .runner import LOG_NAME, BatchResult, run_batch

__all__ = ["COMMANDS", "LOG_NAME", "BatchOptions", "BatchResult", "Instance", "RowJob",
           "RowRecord", "already_done", "read_instances", "run_batch", "run_row"]
