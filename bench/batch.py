"""Benchmark: `exactprune batch` with 2 worker processes against 1, in the same run.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/batch.py [--reps R]
        [--skip NAME ...] [--csv FILE]

The rows of --csv (default bench/instances/shared.csv) whose model or spec name contains none
of --skip (default: marabou, whose one 60 s row would bound any speed-up) are written to
build/instances/bench.csv (same depth as bench/instances, so the relative paths still hold).
Then, R times, the batch runs into a fresh directory with --workers 1 and with --workers 2,
alternately, so that both see the same machine. Prints a markdown table: wall time of each
command (start-up included), the sum of the rows' own seconds, the load average at the end,
and the median ratio workers 1 / workers 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXE = ROOT / ".venv" / "bin" / "exactprune"


def subset(csv: Path, skip: list[str]) -> Path:
    lines = [line for line in csv.read_text().splitlines()
             if line.strip() and not line.startswith("#") and not any(s in line for s in skip)]
    out = ROOT / "build" / "instances" / "bench.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    return out


def run(csv: Path, workers: int) -> tuple[float, float]:
    """Wall seconds of one batch into a fresh directory, and the sum of its rows' seconds."""
    out = ROOT / "build" / f"bench_batch_w{workers}"
    shutil.rmtree(out, ignore_errors=True)
    start = time.monotonic()
    subprocess.run([str(EXE), "batch", str(csv), "--out", str(out), "--workers", str(workers)],
                   check=True, capture_output=True)
    wall = time.monotonic() - start
    rows = [json.loads(line) for line in (out / "batch.jsonl").read_text().splitlines()]
    assert all(row["status"] == "ok" for row in rows), rows
    return wall, sum(row["seconds"] for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv", type=Path, default=ROOT / "bench" / "instances" / "shared.csv")
    parser.add_argument("--skip", nargs="*", default=["marabou"])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    csv = subset(args.csv, args.skip)
    n_rows = len(csv.read_text().splitlines())
    print(f"{n_rows} rows of {args.csv.name} (skipped: {', '.join(args.skip) or 'none'})\n")
    print("| rep | workers | wall s | rows' own s | load avg |")
    print("|---|---|---|---|---|")
    walls: dict[int, list[float]] = {1: [], 2: []}
    for rep in range(1, args.reps + 1):
        for workers in (1, 2):
            wall, own = run(csv, workers)
            walls[workers].append(wall)
            print(f"| {rep} | {workers} | {wall:.1f} | {own:.1f} | {os.getloadavg()[0]:.2f} |",
                  flush=True)
    ratios = [a / b for a, b in zip(walls[1], walls[2])]
    print(f"\nspeed-up workers 1 / workers 2: median {statistics.median(ratios):.2f}x "
          f"(each rep: {', '.join(f'{r:.2f}' for r in ratios)})")


if __name__ == "__main__":
    main()
