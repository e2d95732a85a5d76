"""`exactprune verify A B`: compare two ONNX models in onnxruntime on an input domain."""

from __future__ import annotations

import json

import click
from rich.text import Text

from ..domain import Box
from ..equivalence import CheckOptions, VerifyReport, as_proto, check_same_inputs, compare
from ..errors import DomainError, VerificationError
from ..onnx_io.importer import stored_domain
from .app import console, main
from .options import check_options, domain_options

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
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def verify(model_a, model_b, domain_flags, samples, atol, rtol, vertices, seed, as_json):
    """Check that models A and B compute the same outputs on the input domain.

    Runs both in onnxruntime (graph optimisations off) on the domain's centre, uniform samples
    and random vertices, and reports the largest output deviation, absolute and relative to the
    output scale. Passes when max |a - b| <= atol + rtol x scale. Without a domain flag the
    domain exactprune stored in A or B is used (both: their intersection, so a model that
    was compressed on part of A's domain is checked where it claims to be exact), else the unit
    box [0, 1].
    Exit 0 within tolerance, 1 above it, 2 bad input.
    """
    models = [as_proto(model_a), as_proto(model_b)]
    n = check_same_inputs(*(proto for proto, _ in models), names=(model_a, model_b))
    domain = domain_flags.resolve(n, None if domain_flags.given else stored_domains(models, n))
    options = CheckOptions(samples=samples, vertices=vertices, atol=atol, rtol=rtol, seed=seed)
    report = compare(models[0][0], models[1][0], domain, options, names=(model_a, model_b))
    if as_json:
        click.echo(json.dumps({"model_a": model_a, "model_b": model_b, **report.to_json()}))
    else:
        _render(report, model_a, model_b)
    if not report.passed:
        raise VerificationError(f"{model_b} deviates from {model_a}: {report.summary()}")
