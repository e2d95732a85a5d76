"""Dask distributed behind exactprune.parallel: `--cluster ADDRESS` or `--cluster local:N`.

A ClusterSpec says where tasks go: an existing Dask scheduler (ADDRESS, e.g. tcp://host:8786;
its workers need exactprune installed) or a LocalCluster of N single-threaded worker processes
started for the run (local:N). Every `Workers` of one spec shares one Session (a Client, and the
LocalCluster it started): opened by the first holder, closed when the last one releases it. The
command line holds it for the whole command (`held`), so a run starts at most one cluster.

Tasks are those of the local pool (module-level functions, picklable tasks), run through
parallel.rebased (their deadlines read the caller's clock), submitted with pure=False (the same
task twice runs twice) and retries=RETRIES (a task that raised runs once more). A task whose
worker dies is rescheduled by the scheduler up to `distributed.scheduler.allowed-failures`
times; a death counts against every task the worker held, also those waiting there. local:N
sets it to 1 (retried once) and keeps fewer tasks waiting on workers (LOCAL_CONFIG); an
existing cluster keeps its scheduler's settings (Dask's default is 3; start the scheduler with
DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1 for the same semantics). Then the future raises
KilledWorker and run_tasks reports the task lost: its neurons stay unknown, never dropped.
Dask is imported here only, on first use (pip install 'exactprune[cluster]').
"""

from __future__ import annotations

import logging
import signal
import time
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from .errors import ClusterError, MissingDependencyError, first_line
from .parallel import clock, rebased

RETRIES = 1  # a task that raised runs once more
# local:N's scheduler: a task whose worker died runs once more; a worker is sent no more tasks
# than it runs when the scheduler queues them (large batches), as a death counts against every
# task the worker holds
LOCAL_CONFIG = {"distributed.scheduler.allowed-failures": 1,
                "distributed.scheduler.worker-saturation": 1.0}
CONNECT_S = 10.0  # how long to try reaching an existing scheduler


@dataclass(frozen=True)
class ClusterSpec:
    """A Dask scheduler's address, or `local` > 0 worker processes to start for the run."""

    address: str | None = None
    local: int = 0

    @classmethod
    def parse(cls, text: str) -> "ClusterSpec":
        """`local:N` (N >= 1) or a scheduler address; ValueError for anything else."""
        if text.startswith("local:"):
            n = text.removeprefix("local:")
            if not n.isdigit() or int(n) < 1:
                raise ValueError(f"local:N needs a worker count N >= 1, not {text!r}")
            return cls(local=int(n))
        if not text.strip() or text.startswith("local"):
            raise ValueError(f"expected a scheduler address or local:N, not {text!r}")
        return cls(address=text)

    def __str__(self) -> str:
        return self.address or f"local:{self.local}"

    def acquire(self) -> "Session":
        """This spec's session, opened if no one holds it yet; every acquire needs a release."""
        entry = _OPEN.get(self)
        if entry is None:
            entry = _OPEN[self] = [Session(self), 0]
        entry[1] += 1
        return entry[0]

    def release(self) -> None:
        """Give up one hold; the last one closes the session (and the cluster it started)."""
        entry = _OPEN[self]
        entry[1] -= 1
        if entry[1] == 0:
            del _OPEN[self]
            entry[0].close()

    @contextmanager
    def held(self) -> Iterator["Session"]:
        """The session, open for the duration of the block (also on an exception, Ctrl-C)."""
        session = self.acquire()
        try:
            yield session
        finally:
            self.release()


_OPEN: dict[ClusterSpec, list] = {}  # spec -> [session, holders]


def _distributed():
    try:
        import dask
        import distributed
    except ImportError as exc:
        raise MissingDependencyError(f"--cluster needs Dask distributed ({first_line(exc)}): "
                                     "pip install 'exactprune[cluster]'") from None
    return dask, distributed


def dask_setup(worker) -> None:
    """In each worker process of local:N (this module is its Dask preload): ignore Ctrl-C, which
    a terminal sends to the whole process group; the caller stops the cluster."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Executor(Executor):
    """The Client's executor, every task run through parallel.rebased."""

    def __init__(self, client):
        self._inner = client.get_executor(pure=False, retries=RETRIES)

    def submit(self, fn: Callable, /, *args, **kwargs) -> Future:
        return self._inner.submit(rebased, fn, clock(), time.time(), *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._inner.shutdown(wait=wait and not cancel_futures)


class Session:
    """A connected Client (and the LocalCluster started for it): `executor` takes the tasks,
    `slots` is how many run at once (the workers' threads)."""

    def __init__(self, spec: ClusterSpec):
        dask, distributed = _distributed()
        self.local = None
        try:
            if spec.address is None:
                with dask.config.set(LOCAL_CONFIG):
                    self.local = distributed.LocalCluster(
                        n_workers=spec.local, threads_per_worker=1, processes=True,
                        dashboard_address=None, silence_logs=logging.CRITICAL, memory_limit=0,
                        preload=[__name__])
                self.client = distributed.Client(self.local)
            else:
                self.client = distributed.Client(spec.address, timeout=CONNECT_S)
        except (OSError, TimeoutError) as exc:
            if self.local is not None:
                self.local.close()
            raise ClusterError(f"cannot start or reach the Dask cluster {spec}: "
                               f"{first_line(exc)}") from None
        self.executor = _Executor(self.client)
        self.slots = max(1, sum(self.client.nthreads().values()))

    def close(self) -> None:
        """Cancel what is queued, disconnect, and stop the cluster started for the run."""
        self.executor.shutdown(wait=False)
        self.client.close()
        if self.local is not None:
            self.local.close()
