"""One executor: the same results in this process and in workers, lost work reported (a task
that kills its worker, a deadline that passes), per-worker state reused by key."""

from __future__ import annotations

import os
import time

from exactprune.parallel import Workers, run_tasks, worker_cache


def square(task):
    return task * task


def die_on_three(task):
    if task == 3:
        os._exit(1)
    return task


def sleep_long(task):
    time.sleep(30)
    return task


def builds(task):
    key, value = task
    return worker_cache(key, lambda: [value])[0]


def collect(executor, fn, tasks, **kwargs):
    got = {}
    lost = run_tasks(executor, fn, tasks, lambda i, r: got.__setitem__(i, r), **kwargs)
    return got, lost


def test_workers_give_what_this_process_gives():
    tasks = list(range(20))
    here, lost_here = collect(None, square, tasks)
    with Workers(2) as workers:
        there, lost_there = collect(workers.executor, square, tasks)
    assert here == there == {i: i * i for i in tasks} and lost_here == lost_there == []


def test_a_worker_that_dies_loses_its_task_and_the_pool_is_replaced():
    with Workers(2) as workers:
        got, lost = collect(workers.executor, die_on_three, list(range(6)))
        assert 3 in lost and all(got[i] == i for i in got) and set(got) | set(lost) == set(range(6))
        again, lost_again = collect(workers.executor, square, [1, 2])
        assert again == {0: 1, 1: 4} and lost_again == []


def test_a_deadline_that_passes_gives_up_the_tasks_and_stops_the_workers(monkeypatch):
    from exactprune import parallel

    monkeypatch.setattr(parallel, "GRACE_S", 0.0)
    start = time.monotonic()
    with Workers(2) as workers:
        lost = workers.run(sleep_long, [1, 2], lambda i, r: None, deadline=time.monotonic() + 0.5)
        assert lost == [0, 1] and workers._pool is None  # stopped at once, not after 30 s
    assert time.monotonic() - start < 10


def test_worker_cache_builds_once_per_key():
    assert [builds(("a", 1)), builds(("a", 2)), builds(("b", 3))] == [1, 1, 3]
