"""Input domains: a box over the flattened model input (row-major, batch dimension dropped),
given by --box LO HI (box.py), --bounds FILE (files.py), --vnnlib FILE (vnnlib.py), the bounding
box of data (--calibration FILE, calibration.py) or stored in the model (labelled data for
pruning: labelled.py); `resolve_domain` picks
the one a command works on."""

from __future__ import annotations

from ..errors import DomainError
from .box import FLOAT32_MAX, Box, check_range, parse_box, parse_stored
from .calibration import bounding_box, load_calibration
from .files import load_bounds_file
from .labelled import Labelled, held_back_split, load_labelled
from .sampling import sample_points
from .vnnlib import load_vnnlib

__all__ = ["FLOAT32_MAX", "Box", "Labelled", "bounding_box", "check_range", "held_back_split",
           "load_bounds_file", "load_calibration", "load_labelled",
           "load_vnnlib", "parse_box", "parse_stored", "resolve_domain", "sample_points"]


def resolve_domain(n: int, box=None, bounds=None, vnnlib=None, stored=None, calibration=None,
                   margin: float = 0.0) -> Box | None:
    """The domain a command works on: the one given (at most one), else the stored one, else None.

    box: (lo, hi) scalars; bounds: a .json/.npy path; vnnlib: a VNN-LIB path; calibration: a
    .npy/.npz/.csv of input rows, widened by margin (a fraction of each input's range);
    stored: the Box read from the model (a Box of another size is an error).
    """
    given = [name for name, v in (("--box", box), ("--bounds", bounds), ("--vnnlib", vnnlib),
                                  ("--calibration", calibration)) if v is not None]
    if len(given) > 1:
        raise DomainError(f"give at most one domain, not {' and '.join(given)}")
    if margin and calibration is None:
        raise DomainError("--margin widens a --calibration box; give --calibration FILE")
    if calibration is not None:
        return load_calibration(calibration, n, margin)
    if box is not None:
        lo, hi = box
        return parse_box(lo, hi, n)
    if bounds is not None:
        return load_bounds_file(bounds, n)
    if vnnlib is not None:
        return load_vnnlib(vnnlib, n)
    if stored is not None and stored.size != n:
        raise DomainError(f"domain {stored.source} has {stored.size} inputs, the model has {n}")
    return stored
