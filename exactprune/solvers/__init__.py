"""The solvers layer: SCIP (scip.py: model factory, tolerances, status, errors, Ctrl-C), the
network encoding into a caller's SCIP model (encode.py), OBBT (obbt.py) and HiGHS for the many
small LPs of the region count (highs.py). Nothing above this layer creates a solver instance or
reads a solver's status string."""
