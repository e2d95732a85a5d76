"""The flags several commands share: the domain (--box LO HI, --bounds FILE, --vnnlib FILE,
--calibration FILE [--margin X]), the comparison (--samples, --atol, --rtol), --workers N or
--cluster ADDRESS|local:N, --time-limit S and --json FILE. Defaults come from the options
dataclasses the API uses (one place for each)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import click
from rich.console import Console

from ..atomic import Target
from ..cluster import ClusterSpec
from ..domain import Box, resolve_domain
from ..equivalence import TOLERANCES, CheckOptions
from ..stability.options import DEFAULT_TIME_LIMIT
from .app import console, err_console

CHECK = CheckOptions()

_BOX_HELP = "Every input lies in [LO, HI] (the same bounds for all inputs), e.g. --box 0 1."
_BOUNDS_HELP = ('Per-input bounds: .json with {"lo": [...], "hi": [...]} (or "lower"/"upper", '
                "or a list of [lo, hi] pairs; a scalar applies to all) or .npy of shape (2, n) "
                "or (n, 2).")
_VNNLIB_HELP = ("The input box of a VNN-LIB spec: its (<= X_i c) / (>= X_i c) asserts, X_i in "
                "flattened row-major order; output constraints are ignored.")


_CALIBRATION_HELP = ("The bounding box of input rows (.npy, .npz with X, or .csv; one row per "
                     "sample in the model's input layout): exact inside it.")
_MARGIN_HELP = "Widen the --calibration box by X times each input's range on both sides."


@dataclass(frozen=True)
class DomainFlags:
    """The domain flags of a command, passed to it as one `domain_flags` argument."""

    box: tuple | None
    bounds: str | None
    vnnlib: str | None
    calibration: str | None
    margin: float

    @property
    def given(self) -> bool:
        return any(v is not None for v in (self.box, self.bounds, self.vnnlib, self.calibration))

    def resolve(self, n_inputs: int, stored: Box | None) -> Box | None:
        """The domain a command works on: the one given by a flag, else `stored`, else None."""
        return resolve_domain(n_inputs, box=self.box, bounds=self.bounds, vnnlib=self.vnnlib,
                              stored=stored, calibration=self.calibration, margin=self.margin)


def domain_options(function):
    """Add --box/--bounds/--vnnlib/--calibration (at most one; none: the domain stored in the
    model) and --margin; the command receives them as `domain_flags` (DomainFlags)."""

    @functools.wraps(function)
    def with_flags(*args, box, bounds, vnnlib, calibration, margin, **kwargs):
        flags = DomainFlags(box, bounds, vnnlib, calibration, margin)
        return function(*args, domain_flags=flags, **kwargs)

    command = click.option("--margin", type=click.FloatRange(min=0), default=0.0,
                           metavar="X", help=_MARGIN_HELP)(with_flags)
    command = click.option("--calibration", type=click.Path(dir_okay=False), default=None,
                           metavar="FILE", help=_CALIBRATION_HELP)(command)
    command = click.option("--vnnlib", type=click.Path(dir_okay=False), default=None,
                           metavar="FILE", help=_VNNLIB_HELP)(command)
    command = click.option("--bounds", type=click.Path(dir_okay=False), default=None,
                           metavar="FILE", help=_BOUNDS_HELP)(command)
    return click.option("--box", type=(float, float), default=None, metavar="LO HI",
                        help=_BOX_HELP)(command)


def _by_type(k: int) -> str:
    return ", ".join(f"{tol[k]:g} for {kind} models" for kind, tol in TOLERANCES.items())


def check_options(command):
    """Add --samples/--atol/--rtol: the points and tolerance of an onnxruntime comparison."""
    command = click.option("--rtol", type=click.FloatRange(min=0), default=None, metavar="X",
                           help="Tolerance relative to the output scale max(1, max |output of the "
                                f"reference|) [default: {_by_type(1)}].")(command)
    command = click.option("--atol", type=click.FloatRange(min=0), default=None, metavar="X",
                           help="Absolute tolerance on the output deviation [default: "
                                f"{_by_type(0)}].")(command)
    return click.option("--samples", type=click.IntRange(min=0), default=CHECK.samples,
                        show_default=True, metavar="N",
                        help="Uniform random points of the domain to compare on.")(command)


_WORKERS_HELP = ("Worker processes for the branch-and-bound searches and the per-neuron "
                 "MILPs (the last stages of the analysis); bounds, witnesses and the single "
                 "MILP of --method milp run in the main process. --threads is an old name "
                 "for it.")
_CLUSTER_HELP = ("The same work on a Dask cluster instead of --workers: the ADDRESS of its "
                 "scheduler (tcp://host:8786), or local:N to start N worker processes for "
                 "this run (pip install 'exactprune[cluster]'). A task whose worker dies is "
                 "retried once, then counts as undone (neurons unknown, cells one region "
                 "each).")


def _cluster_spec(ctx, param, value: str | None) -> ClusterSpec | None:
    if value is None:
        return None
    try:
        return ClusterSpec.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def workers_option(command=None, *, help: str = _WORKERS_HELP):
    """Add --workers N (alias --threads; 1: everything in this process) and --cluster
    ADDRESS|local:N. The command receives one `workers` argument: N, or the ClusterSpec, whose
    cluster is started (or reached) before the command runs and closed after it."""
    def add(cmd):
        @functools.wraps(cmd)
        def with_cluster(*args, workers: int, cluster: ClusterSpec | None, **kwargs):
            if cluster is None:
                return cmd(*args, workers=workers, **kwargs)
            if workers > 1:
                raise click.UsageError(f"--cluster and --workers {workers} exclude each other: "
                                       "give one of them")
            with cluster.held():
                return cmd(*args, workers=cluster, **kwargs)

        with_flag = click.option("--cluster", default=None, metavar="ADDRESS|local:N",
                                 callback=_cluster_spec, help=_CLUSTER_HELP)(with_cluster)
        return click.option("--workers", "--threads", "workers", type=click.IntRange(min=1),
                            default=1, show_default=True, metavar="N", help=help)(with_flag)

    return add if command is None else add(command)


def time_limit_option(help: str):
    """Add --time-limit S (seconds, default DEFAULT_TIME_LIMIT)."""
    return click.option("--time-limit", type=click.FloatRange(min=0), default=DEFAULT_TIME_LIMIT,
                        show_default=True, metavar="S", help=help)


def json_option(help: str):
    """Add --json FILE ('-': standard output)."""
    return click.option("--json", "json_out", type=click.Path(dir_okay=False, allow_dash=True),
                        default=None, metavar="FILE", help=help)


def report_console(json_target: Target | None) -> Console:
    """Where the human-readable report goes: stderr when the JSON takes stdout."""
    return err_console if json_target is not None and json_target.is_stdout else console
