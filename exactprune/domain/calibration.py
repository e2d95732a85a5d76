"""A domain from data (--calibration FILE): the bounding box of input rows, widened by a margin.

Exactness then holds inside that box: inputs outside it (a pixel brighter than any seen) may be
computed differently by the compressed model.
"""

from __future__ import annotations

import zipfile

import numpy as np

from ..errors import DomainError, first_line
from .box import Box
from .files import checked_file

MAX_ROWS_SHOWN = 3


def numeric_line(line: str) -> bool:
    """Whether a CSV line is all numbers (else it is a header)."""
    try:
        [float(field) for field in line.split(",")]
    except ValueError:
        return False
    return True


def _rows(path, n: int) -> np.ndarray:
    """The rows of a .npy / .npz / .csv file as a float64 array (k, n)."""
    p = checked_file(path)
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            data = np.load(p, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(p, allow_pickle=False) as archive:
                keys = list(archive.keys())
                key = "X" if "X" in keys else (keys[0] if len(keys) == 1 else None)
                if key is None:
                    raise DomainError(f"{p}: holds arrays {', '.join(keys)}; name the input "
                                      "rows X (or keep only them)")
                data = archive[key]
        elif suffix == ".csv":
            with open(p, encoding="utf-8-sig") as f:
                first = f.readline()
            if not first.strip():
                raise DomainError(f"{p}: an empty CSV file; one row of numbers per sample")
            data = np.loadtxt(p, delimiter=",", skiprows=0 if numeric_line(first) else 1, ndmin=2)
        else:
            raise DomainError(f"{p}: unknown calibration file type {suffix!r}; use .npy, .npz "
                              "or .csv")
    except DomainError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        reason = first_line(exc)
        raise DomainError(f"{p}: not readable calibration data ({reason})") from None
    if data.dtype.kind not in "iuf":
        raise DomainError(f"{p}: data of dtype {data.dtype}; input rows must be numbers")
    if data.ndim < 1 or data.size == 0 or data.size % n or (data.ndim > 1 and
                                                           data[0].size != n):
        raise DomainError(f"{p}: data of shape {data.shape} is not rows of {n} inputs (one row "
                          "per sample, in the model's input layout)")
    rows = np.asarray(data, dtype=np.float64).reshape(-1, n)
    bad = np.flatnonzero(~np.isfinite(rows).all(axis=1))
    if bad.size:
        raise DomainError(f"{p}: rows {bad[:MAX_ROWS_SHOWN].tolist()} hold NaN or inf values")
    return rows


def load_calibration(path, n: int, margin: float = 0.0) -> Box:
    """The bounding box of the input rows in `path`, each input's range widened by `margin`
    times its width on both sides (an input constant in the data stays fixed)."""
    if not (margin >= 0.0 and np.isfinite(margin)):
        raise DomainError(f"--margin {margin} must be a finite number >= 0")
    return bounding_box(_rows(path, n), f"calibration data {path}", margin)


def bounding_box(rows: np.ndarray, name: str, margin: float = 0.0) -> Box:
    """The bounding box of `rows` (k, n), each input's range widened by `margin` times its width
    on both sides; its source is `name` with the row count (and margin)."""
    lo, hi = rows.min(axis=0), rows.max(axis=0)
    pad = margin * (hi - lo)
    source = f"{name} ({rows.shape[0]} rows" + (f", margin {margin:g})" if margin else ")")
    return Box(lo - pad, hi + pad, source)
