"""Labelled data (--data FILE of `prune` and `report`): input rows and integer class labels, and
the per-class split into the rows pruning may use and the rows held back for the report.

Formats: .npz with arrays `x` (rows, in the model's input layout) and `y` (labels); .csv or
.csv.gz with the features of one sample per line, then its label (a header line is skipped).
The shared MNIST digits (mnist_5k.csv.gz: 784 pixels 0-255, then the label) are such a CSV;
`scale` multiplies the features (1/255 there, as sample_models/train.py trains on [0, 1]).
"""

from __future__ import annotations

import gzip
import zipfile
from dataclasses import dataclass

import numpy as np

from ..errors import DomainError, first_line
from .calibration import numeric_line
from .files import checked_file

MNIST_NAME = "mnist_5k.csv.gz"  # the shared digits: pixels 0-255, read as [0, 1] by default
MNIST_SCALE = 1.0 / 255.0


@dataclass(frozen=True, eq=False)
class Labelled:
    """x (N, n) float64, y (N,) int64 labels, source: how reports name the data."""

    x: np.ndarray
    y: np.ndarray
    source: str

    def rows(self, index: np.ndarray) -> "Labelled":
        return Labelled(self.x[index], self.y[index], self.source)


def default_scale(path) -> float:
    """The feature scale of a data file when none is given: 1/255 for the shared MNIST CSV."""
    return MNIST_SCALE if str(path).endswith(MNIST_NAME) else 1.0


def _read(p) -> tuple[np.ndarray, np.ndarray]:
    name = p.name.lower()
    if name.endswith(".npz"):
        with np.load(p, allow_pickle=False) as archive:
            missing = [k for k in ("x", "y") if k not in archive]
            if missing:
                raise DomainError(f"{p}: has arrays {', '.join(archive.keys()) or 'none'}; "
                                  "name the input rows x and the labels y")
            return archive["x"], archive["y"]
    if name.endswith((".csv", ".csv.gz")):
        opener = gzip.open if name.endswith(".gz") else open
        with opener(p, "rt", encoding="utf-8-sig") as f:
            first = f.readline()
        if not first.strip():
            raise DomainError(f"{p}: an empty CSV file; one sample per line, features then label")
        rows = np.loadtxt(p, delimiter=",", skiprows=0 if numeric_line(first) else 1, ndmin=2)
        return rows[:, :-1], rows[:, -1]
    raise DomainError(f"{p}: unknown data file type; use .npz (x, y) or .csv / .csv.gz "
                      "(features, then the label)")


def load_labelled(path, n_inputs: int, scale: float | None = None) -> Labelled:
    """The labelled rows of `path` (see the module docstring), features times `scale` (None:
    default_scale). DomainError (one line) when the file is unreadable or does not fit a model
    with `n_inputs` inputs."""
    p = checked_file(path)
    try:
        x, y = _read(p)
    except DomainError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DomainError(f"{p}: not readable labelled data ({first_line(exc)})") from None
    if x.dtype.kind not in "iuf" or y.dtype.kind not in "iuf":
        raise DomainError(f"{p}: features and labels must be numbers")
    y = np.asarray(y).reshape(-1)
    if x.shape[0] != y.size or y.size == 0 or x[0].size != n_inputs:
        raise DomainError(f"{p}: {x.shape[0]} rows of {x[0].size if x.size else 0} features and "
                          f"{y.size} labels; the model has {n_inputs} inputs")
    if not np.all(y == np.round(y)) or np.any(y < 0):
        raise DomainError(f"{p}: labels must be class indices 0, 1, ... (whole numbers >= 0)")
    x = np.asarray(x, dtype=np.float64).reshape(y.size, n_inputs)
    if not np.isfinite(x).all():
        raise DomainError(f"{p}: features hold NaN or inf values")
    factor = default_scale(p) if scale is None else scale
    return Labelled(x * factor, y.astype(np.int64), str(path))


def held_back_split(y: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (use, held back): the last `fraction` of each class's rows (in file order)
    are held back, the others may be used. sample_models/train.py holds back the last 100 of
    each digit's 500, so fraction 0.2 on the shared MNIST CSV holds back exactly its test rows."""
    if not 0.0 < fraction < 1.0:
        raise DomainError(f"--held-back {fraction} must be between 0 and 1")
    use, held = [], []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        cut = rows.size - max(1, int(round(fraction * rows.size)))
        use.append(rows[:cut])
        held.append(rows[cut:])
    return np.concatenate(use), np.concatenate(held)
