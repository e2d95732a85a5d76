"""The HiGHS instances of the region count: quiet, feasibility tolerances 1e-9, and the number of
threads fixed.

With `threads` left at 0, HiGHS asks the operating system for the number of CPUs on every `run`
(glibc reads /sys/devices/system/cpu/online), about 10% of a small LP's solve: 176 against 200 us
per outer-LP question on the MNIST model. THREADS is the count HiGHS would choose itself
((CPUs + 1) // 2), so instances made elsewhere with the default share its scheduler. Should the
process's scheduler already run another count (other code set one), `run` goes back to 0.
"""

from __future__ import annotations

import os

import highspy

THREADS = ((os.cpu_count() or 1) + 1) // 2


def quiet_highs() -> highspy.Highs:
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("primal_feasibility_tolerance", 1e-9)
    h.setOptionValue("dual_feasibility_tolerance", 1e-9)
    h.setOptionValue("threads", THREADS)
    return h


def run(h: highspy.Highs) -> None:
    """h.run(), again with threads = 0 when the scheduler refused THREADS."""
    if h.run() == highspy.HighsStatus.kError:
        h.setOptionValue("threads", 0)
        h.run()
