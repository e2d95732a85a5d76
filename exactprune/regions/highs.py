"""The HiGHS instances of the region count: quiet, feasibility tolerances 1e-9, and the number of
threads fixed.

With `threads` left at 0, HiGHS asks the operating system for the number of CPUs on every `run`
(glibc reads /sys/devices/system/cpu/online), about 10% of a small LP's solve: 176 against 200 us
per outer-LP question on the MNIST model. THREADS is the count HiGHS would choose itself
((CPUs + 1) // 2), so instances made elsewhere with the default share its scheduler. Should the
process's scheduler already run another count (other code set one), `run` goes back to 0.
"""

from __future__ import annotations

import ctypes
import os
import sys

import highspy

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
