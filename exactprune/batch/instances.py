"""The rows of a batch: an instances CSV in the VNN-COMP format, `model,spec[,timeout]`.

No header; blank lines and lines whose first cell starts with '#' are skipped. Paths are
relative to the CSV's directory. spec is a VNN-LIB file (.vnnlib: its input box) or a bounds
file as --bounds takes (.json, .npy); timeout (seconds, > 0) is the row's time limit. A row
whose files are missing or unusable is not the CSV's fault: the row fails when it runs.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InstancesFileError, MissingFileError

SPEC_KINDS = {".vnnlib": "vnnlib", ".json": "bounds", ".npy": "bounds"}


@dataclass(frozen=True)
class Instance:
    """One row: its 1-based position among the rows and its line in the CSV, the model and
    spec as written there and as paths, the timeout (None: the batch's time limit) and the
    name its outputs take in the output directory (unique within the batch)."""

    row: int
    line: int
    model_text: str
    spec_text: str
    model: Path
    spec: Path
    timeout: float | None
    name: str

    @property
    def spec_kind(self) -> str:
        """'vnnlib' or 'bounds': the resolve_domain argument the spec goes to."""
        return SPEC_KINDS[self.spec.suffix.lower()]


def read_instances(path: str | Path) -> list[Instance]:
    """The rows of an instances CSV; InstancesFileError (one line naming the file and line)
    for an unreadable file, a row of other than 2 or 3 cells, an empty path, a spec of
    another kind, a timeout that is not a positive number, or no rows at all."""
    csv_path = Path(path)
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise MissingFileError(f"{csv_path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InstancesFileError(f"{csv_path}: not a readable CSV file ({exc})") from None
    base = csv_path.parent
    rows: list[Instance] = []
    taken: set[str] = set()
    reader = csv.reader(text.splitlines())
    for cells in reader:
        cells = [cell.strip() for cell in cells]
        if not any(cells) or cells[0].startswith("#"):
            continue
        where = f"{csv_path} line {reader.line_num}"
        model_text, spec_text, timeout = _cells(cells, where)
        name = _unique(f"{_stem(model_text)}__{_stem(spec_text)}", taken)
        rows.append(Instance(len(rows) + 1, reader.line_num, model_text, spec_text,
                             base / model_text, base / spec_text, timeout, name))
    if not rows:
        raise InstancesFileError(f"{csv_path}: no rows (expected lines model,spec[,timeout])")
    return rows


def _cells(cells: list[str], where: str) -> tuple[str, str, float | None]:
    if len(cells) not in (2, 3):
        raise InstancesFileError(f"{where}: {len(cells)} cells; expected model,spec[,timeout]")
    model, spec = cells[0], cells[1]
    if not model or not spec:
        raise InstancesFileError(f"{where}: empty {'model' if not model else 'spec'} path")
    if Path(spec).suffix.lower() not in SPEC_KINDS:
        raise InstancesFileError(f"{where}: spec {spec!r} is neither a .vnnlib spec nor a "
                                 ".json/.npy bounds file")
    if len(cells) == 2 or not cells[2]:
        return model, spec, None
    try:
        timeout = float(cells[2])
    except ValueError:
        timeout = math.nan
    if not (math.isfinite(timeout) and timeout > 0):
        raise InstancesFileError(f"{where}: timeout {cells[2]!r} is not a positive number of "
                                 "seconds")
    return model, spec, timeout


def _stem(text: str) -> str:
    """The file name without its extension, in characters safe for any file system."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", Path(text).stem) or "row"


def _unique(name: str, taken: set[str]) -> str:
    """name, or name-2, name-3, ... when an earlier row took it (compared case-insensitively:
    some file systems are)."""
    candidate, k = name, 1
    while candidate.lower() in taken:
        k += 1
        candidate = f"{name}-{k}"
    taken.add(candidate.lower())
    return candidate
