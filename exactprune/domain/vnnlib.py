"""The input box of a VNN-LIB specification (--vnnlib FILE), read strictly: every atom must be a
number, an input X_i, an output Y_j or a keyword, and the file must be UTF-8."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import DomainError
from .box import Box
from .files import checked_file

_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_COMMENT = re.compile(r";[^\n]*")
_INPUT = re.compile(r"X_(0|[1-9]\d*)\Z")
_OUTPUT = re.compile(r"Y_(0|[1-9]\d*)\Z")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z")
_KEYWORDS = {"declare-const", "declare-fun", "assert", "and", "or", "not", "=>", "ite", "Real",
             "Int", "Bool", "true", "false", "<=", ">=", "<", ">", "=", "+", "-", "*", "/"}
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
                self.check_atom(tok, m.start())
                stack[-1].append(tok)
            else:
                self.fail(f"expected '(' but found {tok!r}", m.start())
        if stack:
            self.fail("unclosed '(' (malformed s-expression)", stack[-1].pos)
        return top

    def check_atom(self, tok: str, pos: int) -> None:
        """Every atom is a number, X_i, Y_j or a keyword: a typo is an error, not ignored."""
        if _NUMBER.match(tok) or _INPUT.match(tok) or _OUTPUT.match(tok) or tok in _KEYWORDS:
            return
        if tok.lstrip("+-").lower() in ("nan", "inf", "infinity"):
            self.fail(f"bound {tok} is not a finite number", pos)
        if re.match(r"[XY]_\d+\Z", tok):
            self.fail(f"{tok} is not a valid name (write {tok[:2]}{int(tok[2:])}: no leading "
                      "zeros)", pos)
        if re.match(r"[-+.\d]", tok):
            self.fail(f"{tok!r} is not a number", pos)
        self.fail(f"unknown identifier {tok!r}: VNN-LIB names the inputs X_0, X_1, ... and the "
                  "outputs Y_0, Y_1, ...", pos)

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
        return float(expr) if _NUMBER.match(expr) else None

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
        undeclared = sorted(used - self.declared) if self.declared else []
        if undeclared:
            self.fail(f"asserts on X_{undeclared[0]}, which is not declared (it declares "
                      f"{len(self.declared)} inputs, up to X_{max(self.declared)})")
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
    p = checked_file(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DomainError(f"{p}: not a readable VNN-LIB file (UTF-8 text expected: {exc})") \
            from None
    try:
        return _VnnlibReader(p, text).read(n)
    except RecursionError:
        raise DomainError(f"{p}: expressions nested too deeply to read") from None
