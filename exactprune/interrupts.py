"""Ctrl-C over short sections that must not be cut in half.

`deferred()` holds a Ctrl-C until its block ends and then delivers it to the handler that was in
place (for the default handler: KeyboardInterrupt), replacing any exception the block raised.
It is used where an interrupt would otherwise be lost or misread: while output files are
renamed into place, while SCIP runs Python callbacks (pyscipopt reports an exception raised in
a callback as a SCIP error), and while onnxruntime initialises (it turns an interrupt during
its import into an ImportError). The SIGINT handler is swapped rather than the signal masked: a
masked SIGINT would be delivered to another thread (onnxruntime's, BLAS's), whose C handler
still interrupts the main thread at once. Outside the main thread, and where SIGINT is ignored
(worker processes), the block runs as it is.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


@contextmanager
def deferred():
    """A Ctrl-C during the block reaches its usual handler only when the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    current = signal.getsignal(signal.SIGINT)
    if not callable(current):  # SIG_IGN (workers), SIG_DFL or a handler set outside Python
        yield
        return
    caught: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, current)
        if caught:
            signal.raise_signal(signal.SIGINT)  # now, to the restored handler
