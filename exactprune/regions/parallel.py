"""Independent cells counted in forked worker processes (count_regions(..., threads=N)).

The parent hands out task indices one at a time over a pipe per worker (no shared queue, so a
worker that dies holds no lock) and gets one result per task back. Workers are forked, so they
see the parent's tasks without pickling; they build their own solver state (`make_worker`) and
ignore Ctrl-C: the parent terminates them when it is interrupted. A worker that dies (its process
sentinel fires) or does not answer by the deadline plus GRACE_S loses its task: the caller gets
the indices of the tasks that never finished and treats them as unexplored.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from multiprocessing.connection import wait
from typing import Any, Callable

GRACE_S = 10.0  # how long past the deadline a worker may take to return its task
POLL_S = 0.5  # the parent's progress reports and deadline checks


def _serve(conn, make_worker: Callable[[], Callable[[int], Any]]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    work = make_worker()
    while True:
        index = conn.recv()
        if index is None:
            return
        conn.send(work(index))


def run_tasks(n: int, threads: int, make_worker: Callable[[], Callable[[int], Any]],
              on_result: Callable[[Any], None], deadline: float | None = None,
              tick: Callable[[], None] | None = None) -> list[int]:
    """Run tasks 0..n-1 in `threads` forked processes (make_worker() is called once in each, and
    its result once per task); on_result gets every result in the parent. Returns the indices
    of the tasks that did not finish."""
    context = multiprocessing.get_context("fork")
    todo = list(range(n - 1, -1, -1))
    busy: dict[Any, int | None] = {}
    lost: list[int] = []
    procs = {}
    try:
        for _ in range(min(threads, n)):
            parent, child = context.Pipe()
            proc = context.Process(target=_serve, args=(child, make_worker), daemon=True)
            proc.start()
            child.close()
            procs[parent] = proc
            busy[parent] = None
        for conn in procs:
            _hand_out(conn, todo, busy)
        while any(task is not None for task in busy.values()):
            if tick is not None:
                tick()
            if deadline is not None and time.perf_counter() > deadline + GRACE_S:
                break
            live = [c for c, task in busy.items() if task is not None]
            ready = wait(live + [procs[c].sentinel for c in live], timeout=POLL_S)
            for conn in live:
                if conn in ready or procs[conn].sentinel in ready:
                    try:
                        result = conn.recv()
                    except (EOFError, OSError):  # the worker died with its task
                        lost.append(busy[conn])
                        busy[conn] = None
                        continue
                    busy[conn] = None
                    on_result(result)
                    _hand_out(conn, todo, busy)
        return sorted(todo + lost + [task for task in busy.values() if task is not None])
    finally:
        _stop(procs)


def _hand_out(conn, todo: list[int], busy: dict) -> None:
    if todo:
        busy[conn] = todo.pop()
        conn.send(busy[conn])
    else:
        conn.send(None)


def _stop(procs: dict) -> None:
    for conn, proc in procs.items():
        if proc.is_alive():
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
    for proc in procs.values():
        proc.join(timeout=0.5)
        if proc.is_alive():
            proc.terminate()
            proc.join()
    for conn in procs:
        conn.close()
