"""Input domains: a box over the flattened model input (row-major, batch dimension dropped)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DomainError, MissingFileError


@dataclass(frozen=True, eq=False)
class Box:
    """lo <= x_flat <= hi, elementwise, in the model's own (un-normalised) input space.

    source: where it came from ("--box 0 1", "spec.vnnlib", "stored in model", ...).
    """

    lo: np.ndarray
    hi: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        lo = np.asarray(self.lo, dtype=np.float64).reshape(-1)
        hi = np.asarray(self.hi, dtype=np.float64).reshape(-1)
        if lo.shape != hi.shape:
            raise DomainError(f"domain bounds differ in length: {lo.size} lower, {hi.size} upper")
        if np.isnan(lo).any() or np.isnan(hi).any():
            raise DomainError(f"domain {self.source or ''} contains NaN bounds".replace("  ", " "))
        bad = np.flatnonzero(lo > hi)
        if bad.size:
            i = int(bad[0])
            raise DomainError(
                f"domain {self.source}: lower bound {lo[i]} > upper bound {hi[i]} for input {i}"
                f" ({bad.size} input(s) affected)"
            )
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    @property
    def size(self) -> int:
        return self.lo.size

    @property
    def center(self) -> np.ndarray:
        return (self.lo + self.hi) / 2.0

    def to_json(self) -> dict:
        return {"lo": self.lo.tolist(), "hi": self.hi.tolist(), "source": self.source}

    @staticmethod
    def from_json(data: dict, source: str | None = None) -> "Box":
        return Box(data["lo"], data["hi"], source if source is not None else data.get("source", ""))

    def dumps(self) -> str:
        return json.dumps(self.to_json())


def parse_box(lo: float, hi: float, n: int, source: str | None = None) -> Box:
    """The box [lo, hi]^n: the same scalar bounds for every input (`--box LO HI`)."""
    lo, hi = float(lo), float(hi)
    src = source if source is not None else f"--box {lo:g} {hi:g}"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise DomainError(f"domain {src}: bounds must be finite numbers, got {lo} and {hi}")
    if lo > hi:
        raise DomainError(f"domain {src}: lower bound {lo:g} > upper bound {hi:g}")
    return Box(np.full(n, lo), np.full(n, hi), src)


def _checked_file(path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"{p}: no such file")
    return p


def _bounds_from_arrays(lo, hi, n: int, where: str) -> Box:
    """A Box from lower/upper arrays (scalars broadcast), with one-line errors naming `where`."""
    try:
        lo = np.asarray(lo, dtype=np.float64).reshape(-1)
        hi = np.asarray(hi, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise DomainError(f"{where}: bounds must be numbers ({exc})") from None
    for name, arr in (("lower", lo), ("upper", hi)):
        if arr.size not in (1, n):
            raise DomainError(
                f"{where}: {arr.size} {name} bounds for a model with {n} inputs "
                "(give one per input or a single scalar)"
            )
        if np.isnan(arr).any():
            i = int(np.flatnonzero(np.isnan(arr))[0])
            which = i if arr.size > 1 else "all"
            raise DomainError(f"{where}: {name} bound of input {which} is NaN")
        if not np.isfinite(arr).all():
            raise DomainError(f"{where}: {name} bounds must be finite")
    return Box(np.broadcast_to(lo, (n,)), np.broadcast_to(hi, (n,)), where)


def _read_json_bounds(p: Path, n: int) -> Box:
    try:
        data = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DomainError(f"{p}: not a readable JSON bounds file ({exc})") from None
    if isinstance(data, dict):
        for lo_key, hi_key in (("lo", "hi"), ("lower", "upper")):
            if lo_key in data and hi_key in data:
                return _bounds_from_arrays(data[lo_key], data[hi_key], n, str(p))
        raise DomainError(f'{p}: expected keys "lo"/"hi" or "lower"/"upper", got {sorted(data)}')
    if isinstance(data, list) and data and all(isinstance(r, list) and len(r) == 2 for r in data):
        return _bounds_from_arrays([r[0] for r in data], [r[1] for r in data], n, str(p))
    raise DomainError(
        f'{p}: expected {{"lo": [...], "hi": [...]}}, {{"lower": .., "upper": ..}} '
        "or a list of [lo, hi] pairs"
    )


def _read_npy_bounds(p: Path, n: int) -> Box:
    try:
        arr = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DomainError(f"{p}: not a readable .npy file ({exc})") from None
    if arr.ndim >= 2 and arr.shape[0] == 2 and arr[0].size == n:
        return _bounds_from_arrays(arr[0], arr[1], n, str(p))
    if arr.ndim >= 2 and arr.shape[-1] == 2 and arr.size == 2 * n:
        flat = arr.reshape(n, 2)
        return _bounds_from_arrays(flat[:, 0], flat[:, 1], n, str(p))
    raise DomainError(f"{p}: array of shape {arr.shape}; expected (2, {n}) or ({n}, 2)")


def load_bounds_file(path, n: int) -> Box:
    """Per-input bounds from a .json file or a .npy array.

    .json: {"lo": [...], "hi": [...]}, {"lower": [...], "upper": [...]} or a list of [lo, hi]
    pairs; a scalar instead of a list applies to every input.
    .npy: shape (2, n) (row 0 lower, row 1 upper; tried first, so (2, 2) means rows) or (n, 2).
    """
    p = _checked_file(path)
    suffix = p.suffix.lower()
    if suffix == ".json":
        return _read_json_bounds(p, n)
    if suffix == ".npy":
        return _read_npy_bounds(p, n)
    raise DomainError(f"{p}: unknown bounds file type {suffix!r}; use .json or .npy")


# VNN-LIB -------------------------------------------------------------------------------------
_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_COMMENT = re.compile(r";[^\n]*")
_INPUT = re.compile(r"X_(\d+)\Z")
_COMPARISONS = ("<=", ">=", "<", ">", "=")


class _Sexp(list):
    """A parenthesised expression; `pos` is the offset of its "(" in the file."""

    pos = 0


class _VnnlibReader:
    """Reads the input box of a VNN-LIB file; `fail` names the file and line."""

    def __init__(self, path: Path, text: str):
        self.path, self.text = path, text
        self.lo: dict[int, tuple[float, int]] = {}
        self.hi: dict[int, tuple[float, int]] = {}
        self.declared: set[int] = set()

    def fail(self, message: str, pos: int | None = None):
        line = "" if pos is None else f":{self.text.count(chr(10), 0, pos) + 1}"
        where = f"{self.path}{line}"
        raise DomainError(f"{where}: {message}")

    def parse(self) -> list[_Sexp]:
        text = _COMMENT.sub(lambda m: " " * len(m.group()), self.text)
        stack: list[_Sexp] = []
        top: list[_Sexp] = []
        for m in _TOKEN.finditer(text):
            tok = m.group()
            if tok == "(":
                node = _Sexp()
                node.pos = m.start()
                stack.append(node)
            elif tok == ")":
                if not stack:
                    self.fail("unmatched ')'", m.start())
                node = stack.pop()
                (stack[-1] if stack else top).append(node)
            elif stack:
                stack[-1].append(tok)
            else:
                self.fail(f"expected '(' but found {tok!r}", m.start())
        if stack:
            self.fail("unclosed '(' (malformed s-expression)", stack[-1].pos)
        return top

    def read(self, n: int | None) -> Box:
        for form in self.parse():
            head = form[0] if form else None
            if head == "declare-const" and len(form) >= 2 and isinstance(form[1], str):
                m = _INPUT.match(form[1])
                if m:
                    self.declared.add(int(m.group(1)))
            elif head == "assert":
                if len(form) != 2 or not isinstance(form[1], _Sexp):
                    self.fail("assert needs exactly one expression", form.pos)
                self.constraint(form[1])
        return self.box(n)

    def mentions_input(self, expr) -> bool:
        if isinstance(expr, str):
            return _INPUT.match(expr) is not None
        return any(self.mentions_input(e) for e in expr)

    def constant(self, expr) -> float | None:
        """The value of a numeric literal or (- literal), else None."""
        if isinstance(expr, _Sexp):
            if len(expr) == 2 and expr[0] == "-":
                value = self.constant(expr[1])
                return None if value is None else -value
            return None
        try:
            return float(expr)
        except ValueError:
            return None

    def constraint(self, expr: _Sexp) -> None:
        if not expr or not self.mentions_input(expr):
            return  # output constraints (on Y_j) do not restrict the input domain
        head = expr[0]
        if head == "and":
            for arg in expr[1:]:
                if isinstance(arg, _Sexp):
                    self.constraint(arg)
                elif self.mentions_input(arg):
                    self.fail(f"{arg} alone is not a constraint", expr.pos)
        elif head == "or" and len(expr) == 2 and isinstance(expr[1], _Sexp):
            self.constraint(expr[1])
        elif head == "or":
            self.fail("disjunction (or) over the inputs: only a single box is supported", expr.pos)
        elif head in _COMPARISONS and len(expr) >= 3:
            for left, right in zip(expr[1:-1], expr[2:]):
                self.comparison(head, left, right, expr.pos)
        else:
            self.fail(f"unsupported input constraint ({head} ...): use (<= X_i c) / (>= X_i c)",
                      expr.pos)

    def comparison(self, op: str, left, right, pos: int) -> None:
        if not (self.mentions_input(left) or self.mentions_input(right)):
            return
        var_left = isinstance(left, str) and _INPUT.match(left) is not None
        var, value = (left, self.constant(right)) if var_left else (right, self.constant(left))
        if not (isinstance(var, str) and _INPUT.match(var)) or value is None:
            self.fail("input constraint is not a bound of one X_i by a number", pos)
        if np.isnan(value) or np.isinf(value):
            self.fail(f"bound {value} of {var} is not a finite number", pos)
        i = int(var[2:])
        is_upper = (op in ("<=", "<")) == var_left
        if op == "=" or is_upper:
            old = self.hi.get(i)
            if old is None or value < old[0]:
                self.hi[i] = (value, pos)
        if op == "=" or not is_upper:
            old = self.lo.get(i)
            if old is None or value > old[0]:
                self.lo[i] = (value, pos)

    def box(self, n: int | None) -> Box:
        used = self.declared | set(self.lo) | set(self.hi)
        if not used:
            self.fail("declares no inputs X_i")
        count = max(used) + 1
        if n is None:
            n = count
        if (self.declared and len(self.declared) != n) or count != n:
            k = len(self.declared) or count
            self.fail(f"declares {k} inputs (up to X_{count - 1}) but the model has {n}")
        missing = [i for i in range(n) if i not in self.lo or i not in self.hi]
        if missing:
            i = missing[0]
            side = "lower" if i not in self.lo else "upper"
            self.fail(f"input X_{i} has no {side} bound ({len(missing)} input(s) not bounded)")
        lo = np.array([self.lo[i][0] for i in range(n)])
        hi = np.array([self.hi[i][0] for i in range(n)])
        bad = np.flatnonzero(lo > hi)
        if bad.size:
            i = int(bad[0])
            self.fail(f"X_{i} has lower bound {lo[i]} > upper bound {hi[i]} ({bad.size} input(s))",
                      max(self.lo[i][1], self.hi[i][1]))
        return Box(lo, hi, str(self.path))


def load_vnnlib(path, n: int | None = None) -> Box:
    """The input box of a VNN-LIB file (X_i in flattened row-major input order).

    Reads (assert (<= X_i c)), (>= X_i c), the reversed forms (<= c X_i), strict < / >, = and
    (and ...) of these; repeated bounds keep the tightest. Output constraints on Y_j are ignored.
    n: the model's number of inputs (None: as declared in the file).
    """
    p = _checked_file(path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DomainError(f"{p}: not a readable VNN-LIB file ({exc})") from None
    return _VnnlibReader(p, text).read(n)


def parse_stored(text: str, n: int, source: str | None = None) -> Box:
    """The Box exactprune stored in a model's metadata (JSON {"lo", "hi", "source"}).

    source: how to name it (the stored source is added in brackets); None keeps the stored one.
    """
    try:
        data = json.loads(text)
        lo, hi = data["lo"], data["hi"]
    except (json.JSONDecodeError, TypeError, KeyError) as exc:
        raise DomainError(f"{source or 'stored in model'}: stored domain is not valid JSON with "
                          f"lo/hi ({exc})") from None
    original = data.get("source")
    if source is None:
        return _bounds_from_arrays(lo, hi, n, original or "stored in model")
    return _bounds_from_arrays(lo, hi, n, f"{source} (from {original})" if original else source)


def resolve_domain(n: int, box=None, bounds=None, vnnlib=None, stored=None) -> Box | None:
    """The domain a command works on: the one given (at most one), else the stored one, else None.

    box: (lo, hi) scalars; bounds: a .json/.npy path; vnnlib: a VNN-LIB path;
    stored: the Box read from the model (a Box of another size is an error).
    """
    given = [name for name, v in (("--box", box), ("--bounds", bounds), ("--vnnlib", vnnlib))
             if v is not None]
    if len(given) > 1:
        raise DomainError(f"give at most one domain, not {' and '.join(given)}")
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
