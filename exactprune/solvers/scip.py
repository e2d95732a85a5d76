"""SCIP, set up in one place: the model factory and its tolerances, a status enum, and one solve()
that turns a user's Ctrl-C into KeyboardInterrupt and SCIP's errors into SolverTrouble.

SCIP errors ("SCIP: error in LP solver!") never reach the user as errors: callers leave what the
solve was to decide unknown. SCIP's own error lines are collected for SolverTrouble's message
instead of being printed on stderr.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections import deque
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Callable

import pyscipopt
from pyscipopt import SCIP_EVENTTYPE, SCIP_PARAMSETTING, Eventhdlr, Model

from ..interrupts import deferred

# SCIP tolerances of every model (reported in StabilityResult.tolerances)
FEASTOL = 1e-6
DUALFEASTOL = 1e-7
EPSILON = 1e-9
FLIP_MARGIN = 1e-5  # a flip counts in a MILP when sign * g >= FLIP_MARGIN (reported too)
SCIP_INFINITY = 1e20  # SCIP's default numerics/infinity: larger bounds are refused


class SolverTrouble(RuntimeError):
    """SCIP failed on a model (pyscipopt raised, e.g. "SCIP: error in LP solver!"). Callers
    leave what the solve was to decide unknown; it never reaches the user as an error."""


class _ErrorLog:
    """SCIP prints its error messages ("[lp.c:123] ERROR: unresolved numerical troubles ...") on
    stderr itself; this collects them instead, for SolverTrouble's message. Where SCIP's library
    cannot be found (an unusual install), they stay on stderr."""

    def __init__(self) -> None:
        self.lines: deque[str] = deque(maxlen=8)
        self._printer = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p,
                                         ctypes.c_char_p)(self._add)
        library = self._library()
        if library is not None:
            library.SCIPmessageSetErrorPrinting(self._printer, None)

    @staticmethod
    def _library():
        """pyscipopt's own libscip (a wheel bundles it beside the package), else the system's."""
        bundled = sorted(Path(pyscipopt.__file__).parent.parent.glob("pyscipopt.libs/libscip*"))
        for path in [*map(str, bundled), ctypes.util.find_library("scip")]:
            try:
                library = ctypes.CDLL(path)
                library.SCIPmessageSetErrorPrinting.restype = None
                return library
            except (OSError, TypeError, AttributeError):
                continue
        return None

    def _add(self, data, file, message: bytes) -> None:
        text = message.decode(errors="replace").strip()
        if text and not text.startswith("["):  # the "[file.c:line] ERROR:" headers go
            self.lines.append(text)

    def take(self) -> str:
        """What SCIP said since the last take(), on one line."""
        text = "; ".join(dict.fromkeys(self.lines))
        self.lines.clear()
        return text


_SCIP_SAID = _ErrorLog()


@contextmanager
def scip_calls():
    """Around short SCIP calls (build, change or solve a model; never a loop of solves): turn
    the errors pyscipopt raises for SCIP's return codes (messages "SCIP: ...") into
    SolverTrouble (any other exception is a bug and passes through), and hold a Ctrl-C until the
    calls end, so that one landing in a Python callback is not reported as a SCIP error."""
    with deferred():
        _SCIP_SAID.take()
        try:
            yield
        except Exception as exc:
            if not str(exc).startswith("SCIP:"):
                raise
            said = _SCIP_SAID.take()
            raise SolverTrouble(f"{exc} ({said})" if said else str(exc)) from None


class Status(Enum):
    """How a solve ended (SCIP's status strings grouped by what callers do with them)."""

    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"  # also: pruned by the objective limit
    TIME_LIMIT = "time limit"
    STOPPED = "stopped"  # by a callback of ours (or a Ctrl-C the caller handles itself)
    LIMIT = "other limit"  # solution, gap, node or memory limit
    FAILED = "failed"  # unbounded, or ended without an answer

    @staticmethod
    def of(scip_status: str) -> "Status":
        return _STATUS.get(scip_status, Status.LIMIT if scip_status.endswith("limit")
                           else Status.FAILED)


_STATUS = {"optimal": Status.OPTIMAL, "infeasible": Status.INFEASIBLE,
           "timelimit": Status.TIME_LIMIT, "userinterrupt": Status.STOPPED}


def solve(model: Model, stopped_by_us: Callable[[], bool] = lambda: False) -> Status:
    """model.optimize() and how it ended. SolverTrouble when SCIP fails; KeyboardInterrupt when
    the user pressed Ctrl-C while SCIP held the signal, unless stopped_by_us() says that a
    callback of ours stopped the solve (or that the caller handles a Ctrl-C itself)."""
    with scip_calls():
        model.optimize()
    status = Status.of(model.getStatus())
    if status is Status.STOPPED and not stopped_by_us():
        raise KeyboardInterrupt
    return status


def new_model(name: str, feastol: float = FEASTOL) -> Model:
    """A quiet SCIP model with the documented tolerances, cutting planes off, fast heuristics
    and fast presolving (cuts cost far more than they save on big-M models: docs/stability.md)."""
    model = Model(name)
    model.hideOutput()
    model.setSeparating(SCIP_PARAMSETTING.OFF)
    model.setHeuristics(SCIP_PARAMSETTING.FAST)
    model.setPresolve(SCIP_PARAMSETTING.FAST)
    model.setParam("numerics/feastol", feastol)
    model.setParam("numerics/dualfeastol", DUALFEASTOL)
    model.setParam("numerics/epsilon", EPSILON)
    return model


class Incumbents(Eventhdlr):
    """An event handler that gives every new best solution of its model to `take(sol)` (the
    caller re-checks it in float64 and may interrupt the solve)."""

    def __init__(self, take: Callable):
        self.take = take

    def eventinit(self):
        self.model.catchEvent(SCIP_EVENTTYPE.BESTSOLFOUND, self)

    def eventexit(self):
        self.model.dropEvent(SCIP_EVENTTYPE.BESTSOLFOUND, self)

    def eventexec(self, event):
        self.take(self.model.getBestSol())
