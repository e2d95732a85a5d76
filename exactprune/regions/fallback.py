"""Second opinions for an LP the warm HiGHS solve left open (status kNotset/kUnknown).

The LP (a highspy HighsLp, minimisation) is solved from scratch by fresh HiGHS instances with
other options (presolve off, primal simplex, no scaling, interior point with crossover), then by
SCIP (pyscipopt, continuous variables). The first conclusive answer, optimal or infeasible, wins.
"""

from __future__ import annotations

import highspy
import numpy as np
import pyscipopt

from .highs import quiet_highs, run

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
    m = pyscipopt.Model("cell_lp")
    m.hideOutput()
    m.setParam("numerics/feastol", 1e-9)
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
        expr = pyscipopt.quicksum(v * x[j] for j, v in terms)
        m.addCons(pyscipopt.ExprCons(expr, lhs=bound(lo), rhs=bound(hi)), name=f"row[{i}]")
    m.optimize()
    status = {"optimal": OPTIMAL, "infeasible": INFEASIBLE}.get(m.getStatus(), "")
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
