"""HiGHS, set up in one place (the many small LPs of the region count), and second opinions for
an LP that a warm HiGHS solve left open.

`quiet_highs` instances are quiet, have feasibility tolerances 1e-9 and a fixed thread count
(left at 0, HiGHS asks the operating system for the number of CPUs on every `run`, a cost
docs/regions.md measures). THREADS is the count HiGHS would choose itself ((CPUs + 1) // 2), so
instances made with the default share its scheduler; should the process's scheduler already run
another count, `run` goes back to 0.

Second opinions (`solve_elsewhere`): the LP (a highspy HighsLp, minimisation) is solved from
scratch by fresh HiGHS instances with other options (presolve off, primal simplex, no scaling,
interior point with crossover), then by SCIP with continuous variables. The first conclusive
answer, optimal or infeasible, wins.
"""

from __future__ import annotations

import ctypes
import os
import sys

import highspy
import numpy as np
from pyscipopt import ExprCons, quicksum

from .scip import SolverTrouble, Status, new_model, solve

THREADS = ((os.cpu_count() or 1) + 1) // 2
_banner_shown = False


def new_highs() -> highspy.Highs:
    """A HiGHS instance with output off. The first one of a process prints HiGHS's banner to the
    C-level stdout before any option can be set; it goes to /dev/null instead, so that stdout
    carries only what exactprune prints (`--json -` pipelines)."""
    global _banner_shown
    if _banner_shown:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "wb") as sink:
                os.dup2(sink.fileno(), 1)
                h = highspy.Highs()
                ctypes.CDLL(None).fflush(None)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _banner_shown = True
    h.setOptionValue("output_flag", False)
    return h


def quiet_highs() -> highspy.Highs:
    h = new_highs()
    h.setOptionValue("primal_feasibility_tolerance", 1e-9)
    h.setOptionValue("dual_feasibility_tolerance", 1e-9)
    h.setOptionValue("threads", THREADS)
    return h


def run(h: highspy.Highs) -> None:
    """h.run(), again with threads = 0 when the scheduler refused THREADS."""
    if h.run() == highspy.HighsStatus.kError:
        h.setOptionValue("threads", 0)
        h.run()


OPTIMAL, INFEASIBLE = "optimal", "infeasible"
CONCLUSIVE = {highspy.HighsModelStatus.kOptimal: OPTIMAL,
              highspy.HighsModelStatus.kInfeasible: INFEASIBLE}
RETRIES = ({"presolve": "off"},
           {"presolve": "off", "simplex_strategy": 4},
           {"presolve": "on", "simplex_scale_strategy": 0},
           {"solver": "ipm", "run_crossover": "on"})


def solve_highs(lp, options: dict) -> tuple[str, float, np.ndarray | None]:
    """A fresh HiGHS solve of `lp` with `options`: (status or "", objective, x)."""
    h = quiet_highs()
    for key, value in options.items():
        h.setOptionValue(key, value)
    h.passModel(lp)
    run(h)
    status = CONCLUSIVE.get(h.getModelStatus(), "")
    if status != OPTIMAL:
        return status, float("nan"), None
    return status, h.getInfo().objective_function_value, np.asarray(h.getSolution().col_value)


def solve_scip(lp) -> tuple[str, float, np.ndarray | None]:
    """The same LP in SCIP with continuous variables: (status or "", objective, x)."""
    m = new_model("cell_lp", feastol=1e-9)
    inf = highspy.kHighsInf
    bound = lambda v: None if abs(v) >= inf else float(v)  # noqa: E731
    x = [m.addVar(f"u{i}", lb=bound(lo), ub=bound(hi), obj=float(c))
         for i, (lo, hi, c) in enumerate(zip(lp.col_lower_, lp.col_upper_, lp.col_cost_))]
    a = lp.a_matrix_
    rows = [[] for _ in range(lp.num_row_)]
    if a.format_ == highspy.MatrixFormat.kColwise:
        for j in range(lp.num_col_):
            for p in range(a.start_[j], a.start_[j + 1]):
                rows[a.index_[p]].append((j, a.value_[p]))
    else:
        for i in range(lp.num_row_):
            rows[i] = [(a.index_[p], a.value_[p]) for p in range(a.start_[i], a.start_[i + 1])]
    for i, (terms, lo, hi) in enumerate(zip(rows, lp.row_lower_, lp.row_upper_)):
        if not terms:
            if bound(lo) is not None and lo > 0.0 or bound(hi) is not None and hi < 0.0:
                return INFEASIBLE, float("nan"), None
            continue
        expr = quicksum(v * x[j] for j, v in terms)
        m.addCons(ExprCons(expr, lhs=bound(lo), rhs=bound(hi)), name=f"row[{i}]")
    try:
        status = {Status.OPTIMAL: OPTIMAL, Status.INFEASIBLE: INFEASIBLE}.get(solve(m), "")
    except SolverTrouble:
        return "", float("nan"), None
    if status != OPTIMAL:
        return status, float("nan"), None
    return status, m.getObjVal(), np.array([m.getVal(v) for v in x])


def solve_elsewhere(lp, retries=RETRIES) -> tuple[str, float, np.ndarray | None]:
    """The first conclusive answer of the fresh HiGHS retries, then SCIP."""
    for options in retries:
        answer = solve_highs(lp, options)
        if answer[0]:
            return answer
    return solve_scip(lp)
