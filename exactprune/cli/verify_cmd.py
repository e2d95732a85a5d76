"""`exactprune verify A B`: compare two ONNX models in onnxruntime on an input domain, or with
--formal prove that they agree within a tolerance on all of it (equivalence/formal.py)."""

from __future__ import annotations

import json

import click
from rich.text import Text

from ..atomic import Outputs, check_distinct, check_target
from ..domain import Box
from ..equivalence import (
    CheckOptions,
    FormalOptions,
    FormalReport,
    VerifyReport,
    as_proto,
    check_same_inputs,
    compare,
)
from ..errors import DomainError, UndecidedError, VerificationError
from ..onnx_io.importer import stored_domain
from ..pipeline import prove
from .app import console, err_console, main, reporting
from .options import check_options, domain_options, report_console

NO_DOMAIN = "unit box [0,1] assumed: no domain given or stored"


def stored_domains(models, n: int) -> Box | None:
    """Where both models are meant to agree: the domain exactprune stored in A, in B, or (when
    both store one, e.g. B was compressed on part of A's domain) their intersection."""
    found = [d for d in (stored_domain(proto, n, f"stored in {name}") for proto, name in models)
             if d is not None]
    if len(found) < 2:
        return found[0] if found else None
    (a, b), (name_a, name_b) = found, (models[0][1], models[1][1])
    both = a.intersect(b, f"the intersection of the domains stored in {name_a} and {name_b}")
    if both is None:
        raise DomainError(f"the domains stored in {name_a} and {name_b} do not meet; give one "
                          "with --box, --bounds, --vnnlib or --calibration")
    return both


def _render(report: VerifyReport, name_a: str, name_b: str) -> None:
    kinds = ", ".join(f"{count} {kind}" for kind, count in report.points.items())
    domain = NO_DOMAIN if report.unit_box_assumed else report.domain_source
    verdict = Text("PASS", "bold green") if report.passed else Text("FAIL", "bold red")
    lines = [
        Text.assemble((name_a, "bold"), " vs ", (name_b, "bold")),
        Text(f"  domain          {domain}"),
        Text(f"  points          {report.n_points} ({kinds})"),
        Text(f"  max |a - b|     {report.max_abs:.3g} (worst: point {report.worst_input}, "
             f"{report.worst_kind})"),
        Text(f"  relative        {report.max_rel:.3g} of output scale {report.scale:.3g}"),
        Text(f"  tolerance       {report.tolerance:.3g} = atol {report.atol:g} + rtol "
             f"{report.rtol:g} x scale"),
        Text.assemble("  ", verdict),
    ]
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)


def _values(values, most: int = 6) -> str:
    shown = ", ".join(f"{v:.6g}" for v in values[:most])
    return f"[{shown}{', ...' if len(values) > most else ''}] ({len(values)} values)" \
        if len(values) > most else f"[{shown}]"


def render_formal(report: FormalReport, name_a: str, name_b: str, console) -> None:
    """The formal check's outcome, its proven bound or its counterexample."""
    domain = NO_DOMAIN if report.unit_box_assumed else report.domain_source
    n_a, n_b = report.neurons
    how = (f"bounds of both networks ({report.shared_neurons} of {n_b} neurons of B shared with "
           f"A{', product network' if report.product_network else ''}), float64 search, "
           f"{report.milp_sides} MILP side(s)")
    lines = [Text.assemble((name_a, "bold"), " vs ", (name_b, "bold"), " (formal)"),
             Text(f"  domain          {domain}"),
             Text(f"  method          {how}"),
             Text(f"  tolerance       {report.tolerance:.3g} on every output of the layers")]
    if report.equivalent is False:
        cex = report.counterexample_outputs
        lines += [Text(f"  counterexample  x = {_values(report.counterexample)}"),
                  Text(f"  a(x), b(x)      {_values(cex['a'])}, {_values(cex['b'])}"),
                  Text(f"  |a - b|         {cex['max_abs']:.6g} (float64)" + (
                      "" if cex["onnxruntime"] is None else
                      f", {cex['onnxruntime']['max_abs']:.6g} in onnxruntime")),
                  Text.assemble("  ", ("DIFFERENT", "bold red"))]
    else:
        bound = "none" if report.max_abs_bound is None else f"{report.max_abs_bound:.3g}"
        verdict = ("EQUIVALENT", "bold green") if report.equivalent else \
            (f"UNDECIDED ({report.reason})", "bold yellow")
        lines += [Text(f"  max |a - b|     <= {bound} (proven, over the whole domain)"),
                  Text.assemble("  ", verdict)]
    lines.append(Text(f"  time            {report.time_s:.1f} s"))
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)


def _formal(models, names, domain, check: CheckOptions, tol, time_limit, json_target) -> None:
    options = FormalOptions(tol=tol, atol=check.atol, rtol=check.rtol, time_limit=time_limit,
                            samples=check.samples, vertices=check.vertices, seed=check.seed)
    with err_console.status("proving", spinner="dots") as status:
        def progress(info: dict) -> None:
            status.update(f"formal check: {info['stage']} ({info['elapsed_s']:.0f} s)")

        report = prove(models[0][0], models[1][0], domain, options, names=names,
                       progress=progress)
    done: list[str] = []
    if json_target is not None:
        with Outputs() as outputs:
            data = {"model_a": names[0], "model_b": names[1], **report.to_json()}
            outputs.stage(json_target, json.dumps(data, indent=1) + "\n")
            done = outputs.publish()
    with reporting(done):
        render_formal(report, *names, report_console(json_target))
    if report.equivalent is False:
        raise VerificationError(f"{names[1]} differs from {names[0]}: {report.summary()}")
    if report.equivalent is None:
        raise UndecidedError(f"{names[0]} vs {names[1]}: {report.summary()}")


@main.command("verify")
@click.argument("model_a", metavar="A", type=click.Path(dir_okay=False))
@click.argument("model_b", metavar="B", type=click.Path(dir_okay=False))
@domain_options
@check_options
@click.option("--vertices", type=click.IntRange(min=0), default=CheckOptions.vertices,
              show_default=True, metavar="N",
              help="Random vertices of the domain (all of them if fewer).")
@click.option("--seed", type=int, default=CheckOptions.seed, show_default=True, metavar="S",
              help="Seed of the random points.")
@click.option("--formal", is_flag=True,
              help="Prove instead of sample: decide whether max |a - b| <= T over the whole "
                   "domain, per output of the layers (before a shared tail such as Softmax). "
                   "Exit 0 equivalent (with the proven bound), 1 different (with a "
                   "counterexample checked in float64), 4 undecided at the time limit.")
@click.option("--tol", type=click.FloatRange(min=0), default=None, metavar="T",
              help="--formal: the tolerance T [default: atol + rtol x max(1, max |a|) as for "
                   "sampling, the maximum over the formal check's search points].")
@click.option("--time-limit", type=click.FloatRange(min=0), default=None,
              metavar="S",
              help="--formal: seconds for the whole check (stability analyses of A and B, then "
                   f"the MILPs) [default: {FormalOptions.time_limit:g}].")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, allow_dash=True),
              is_flag=False, flag_value="-", default=None, metavar="[FILE]",
              help="Also write the report as JSON to FILE (written atomically); without FILE, "
                   "or '-', print it on stdout instead of the table.")
def verify(model_a, model_b, domain_flags, samples, atol, rtol, vertices, seed, formal, tol,
           time_limit, json_out):
    """Check that models A and B compute the same outputs on the input domain.

    Runs both in onnxruntime (graph optimisations off) on the domain's centre, uniform samples
    and random vertices, and reports the largest output deviation, absolute and relative to the
    output scale. Passes when max |a - b| <= atol + rtol x scale. Without a domain flag the
    domain exactprune stored in A or B is used (both: their intersection, so a model that
    was compressed on part of A's domain is checked where it claims to be exact), else the unit
    box [0, 1].
    With --formal both models' layers are encoded over one input in one SCIP model (after
    sound bounds of both, which often prove equality at once) and max / min of every output
    difference is decided: EQUIVALENT within T, DIFFERENT (a counterexample input, both
    outputs, their difference, re-checked in float64 and in onnxruntime), or UNDECIDED at
    --time-limit with the best bounds found. Both models must have the same ops after their
    layers. See docs/verify.md.
    Exit 0 within tolerance, 1 above it, 2 bad input, 4 --formal undecided.
    """
    if not formal and (tol is not None or time_limit is not None):
        raise click.UsageError("--tol and --time-limit go with --formal")
    json_target = None if json_out is None else check_target(
        json_out, what="--json", allow_stdout=True)
    check_distinct(model_a, json_out)
    check_distinct(model_b, json_out)
    models = [as_proto(model_a), as_proto(model_b)]
    n = check_same_inputs(*(proto for proto, _ in models), names=(model_a, model_b))
    domain = domain_flags.resolve(n, None if domain_flags.given else stored_domains(models, n))
    options = CheckOptions(samples=samples, vertices=vertices, atol=atol, rtol=rtol, seed=seed)
    if formal:
        _formal(models, (model_a, model_b), domain, options, tol,
                FormalOptions.time_limit if time_limit is None else time_limit, json_target)
        return
    report = compare(models[0][0], models[1][0], domain, options, names=(model_a, model_b))
    data = {"model_a": model_a, "model_b": model_b, **report.to_json()}
    if json_target is not None and json_target.is_stdout:
        click.echo(json.dumps(data))
    else:
        if json_target is not None:
            with Outputs() as outputs:
                outputs.stage(json_target, json.dumps(data, indent=1) + "\n")
                outputs.publish()
        _render(report, model_a, model_b)
    if not report.passed:
        raise VerificationError(f"{model_b} deviates from {model_a}: {report.summary()}")
