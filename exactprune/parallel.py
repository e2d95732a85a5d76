"""Worker processes, one mechanism for all of exactprune (per-neuron MILPs, region cells).

The interface is the standard `concurrent.futures.Executor`: work is a picklable task handed to
a module-level function, so that the same tasks can go to any executor (a local process pool
from `Workers`, or a distributed engine's executor) without touching the code that makes them.
`run_tasks` submits the tasks, gives each result to the caller as it arrives, and returns the
indices of the tasks whose result never came: a worker died, a task raised, or the deadline plus
GRACE_S passed. The caller treats that work as undone (neurons stay unknown, cells count as one
region each): lost work is never wrong work. One clock: `clock()`, the caller's time.monotonic
(task code compares its deadline with it, also on another machine of a cluster). One SIGINT
policy: workers ignore Ctrl-C; the caller's process gets it and `Workers` then stops them.
The executor is a local process pool, or a Dask cluster (exactprune.cluster: `Workers` given a
Cluster, a ClusterSpec, instead of a count).

A worker keeps what it builds from a task's shared part (a SCIP model, an enumerator) in
`worker_cache`, keyed by a key the task carries, so that tasks of the same job reuse it.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from typing import Any, Callable, Protocol, Sequence

GRACE_S = 10.0  # how long past the deadline a worker may take to return its last results
POLL_S = 0.5  # how often the caller's tick() runs while it waits

_CACHE: dict = {}
_CALLER = threading.local()  # in a cluster task: how far the caller's clock is ahead of this one


def clock() -> float:
    """The caller's time.monotonic(), also inside a task on another machine (there: the caller's
    clock at submit plus the wall-clock time since, see `rebased`)."""
    return time.monotonic() + getattr(_CALLER, "offset", 0.0)


def rebased(fn: Callable, caller_clock: float, caller_wall: float, *args, **kwargs) -> Any:
    """fn(*args, **kwargs) with clock() reading the clock of the caller that submitted it when its
    clock() read caller_clock and time.time() read caller_wall: how a cluster runs every task.
    Assumes the hosts' wall clocks agree (NTP), as Dask does."""
    _CALLER.offset = caller_clock + (time.time() - caller_wall) - time.monotonic()
    try:
        return fn(*args, **kwargs)
    finally:
        _CALLER.offset = 0.0


class Cluster(Protocol):
    """Where `Workers` send tasks instead of local processes (exactprune.cluster.ClusterSpec)."""

    def acquire(self) -> Any:
        """An open session: `.executor` (an Executor), `.slots` (tasks run at once)."""

    def release(self) -> None:
        """Give up the session acquire returned."""


def spreads(where: int | Cluster) -> bool:
    """Whether Workers(where) sends tasks out of this process (a cluster, or n > 1)."""
    return not isinstance(where, int) or where > 1


def worker_cache(key, build: Callable[[], Any]) -> Any:
    """In a worker (or this process): the object built for `key`, built on first use; one key is
    kept at a time (a task of a new job replaces the old one)."""
    if _CACHE.get("key") != key:
        _CACHE.clear()
        _CACHE.update(key=key, value=build())
    return _CACHE["value"]


def _ignore_ctrl_c() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Workers:
    """`n` local worker processes, started on first use (n = 1: none; tasks run in this process),
    or, for n a Cluster, its workers (its session is acquired on first use and released by
    close(); see exactprune.cluster).

    A context manager; leaving it on an exception (Ctrl-C) stops the workers at once. Workers are
    forked, not spawned: spawn re-imports the caller's __main__, which breaks scripts without a
    main guard; the workers only touch solver state they build themselves.
    """

    def __init__(self, n: int | Cluster = 1):
        self.cluster = None if isinstance(n, int) else n
        self._n = 1 if self.cluster is not None else max(1, int(n))
        self._pool: ProcessPoolExecutor | None = None
        self._session = None

    @property
    def n(self) -> int:
        """How many tasks run at once: local processes, or the cluster's worker threads."""
        return self._n if self.cluster is None else self._cluster().slots

    def _cluster(self):
        if self._session is None:
            self._session = self.cluster.acquire()
        return self._session

    @property
    def executor(self) -> Executor | None:
        """The pool (None for n = 1) or the cluster's executor; a pool that lost a worker is
        replaced."""
        if self.cluster is not None:
            return self._cluster().executor
        if self._n == 1:
            return None
        if self._pool is not None and getattr(self._pool, "_broken", False):
            self.close(abort=True)
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self._n, multiprocessing.get_context("fork"),
                                             initializer=_ignore_ctrl_c)
        return self._pool

    def run(self, fn: Callable, tasks: Sequence, on_result: Callable[[int, Any], None],
            deadline: float | None = None, tick: Callable[[], None] | None = None) -> list[int]:
        """run_tasks on these workers; workers still busy past deadline + GRACE_S are stopped."""
        lost = run_tasks(self.executor, fn, tasks, on_result, deadline, tick)
        if lost and deadline is not None and clock() > deadline + GRACE_S:
            self.close(abort=True)
        return lost

    def close(self, abort: bool = False) -> None:
        """Stop the workers: at once with abort (running tasks are lost), else when idle; a
        cluster's session is released (closed by its last holder)."""
        session, self._session = self._session, None
        if session is not None:
            self.cluster.release()
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if abort:  # concurrent.futures cannot stop a running task: end its process
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, kind, error, trace) -> None:
        self.close(abort=kind is not None)


def run_tasks(executor: Executor | None, fn: Callable, tasks: Sequence,
              on_result: Callable[[int, Any], None], deadline: float | None = None,
              tick: Callable[[], None] | None = None) -> list[int]:
    """fn(task) for every task, on `executor` (None: in this process, in order); on_result(index,
    result) in the caller as results arrive. Returns the indices of the tasks without a result
    (see the module docstring). deadline: clock() by which the tasks should end (they watch it
    themselves); a result later than deadline + GRACE_S is not waited for."""
    if executor is None:
        for index, task in enumerate(tasks):
            on_result(index, fn(task))
        return []
    pending = {}
    lost = []
    for index, task in enumerate(tasks):
        try:
            pending[executor.submit(fn, task)] = index
        except Exception:  # a broken pool refuses new work
            lost.append(index)
    while pending:
        if tick is not None:
            tick()
        wait_s = POLL_S
        if deadline is not None:
            wait_s = min(wait_s, deadline + GRACE_S - clock())
            if wait_s <= 0:
                break
        done, _ = wait(pending, timeout=wait_s, return_when=FIRST_COMPLETED)
        for future in done:
            index = pending.pop(future)
            if future.exception() is not None:
                lost.append(index)
            else:
                on_result(index, future.result())
    for future, index in pending.items():  # past the deadline: given up
        future.cancel()
        lost.append(index)
    return sorted(lost)
