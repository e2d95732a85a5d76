"""`exactprune verify A B`: compare two ONNX models in onnxruntime on an input domain."""

from __future__ import annotations

import json

import click

from ..domain import Box, parse_stored
from ..errors import VerificationError
from ..metadata import KEY_DOMAIN
from ..verify import DEFAULT_VERTICES, VerifyReport, compare, flat_input_size, load_model
from .app import console, main
from .options import check_options, domain_from_options, domain_options

NO_DOMAIN = "unit box [0,1] assumed: no domain given or stored"


def stored_domain(models, n: int) -> Box | None:
    """The domain exactprune stored in the first of `models` ((proto, name) pairs) that has one."""
    for proto, name in models:
        for prop in proto.metadata_props:
            if prop.key == KEY_DOMAIN:
                return parse_stored(prop.value, n, f"stored in {name}")
    return None


def _render(report: VerifyReport, name_a: str, name_b: str) -> None:
    kinds = ", ".join(f"{count} {kind}" for kind, count in report.points.items())
    domain = NO_DOMAIN if report.unit_box_assumed else report.domain_source
    verdict = "[bold green]PASS[/]" if report.passed else "[bold red]FAIL[/]"
    lines = [
        f"[bold]{name_a}[/] vs [bold]{name_b}[/]",
        f"  domain          {domain}",
        f"  points          {report.n_points} ({kinds})",
        f"  max |a - b|     {report.max_abs:.3g} (worst: point {report.worst_input}, "
        f"{report.worst_kind})",
        f"  relative        {report.max_rel:.3g} of output scale {report.scale:.3g}",
        f"  tolerance       {report.tolerance:.3g} = atol {report.atol:g} + rtol {report.rtol:g}"
        f" x scale",
        f"  {verdict}",
    ]
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)


@main.command("verify")
@click.argument("model_a", metavar="A", type=click.Path(dir_okay=False))
@click.argument("model_b", metavar="B", type=click.Path(dir_okay=False))
@domain_options
@check_options
@click.option("--vertices", type=click.IntRange(min=0), default=DEFAULT_VERTICES,
              show_default=True, help="Random vertices of the domain (all of them if fewer).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random points.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def verify(model_a, model_b, box, bounds, vnnlib, samples, atol, rtol, vertices, seed, as_json):
    """Check that models A and B compute the same outputs on the input domain.

    Runs both in onnxruntime (graph optimisations off) on the domain's centre, uniform samples
    and random vertices, and reports the largest output deviation, absolute and relative to the
    output scale. Passes when max |a - b| <= atol + rtol x scale. Without --box/--bounds/--vnnlib
    the domain stored in A (then B) is used, else the unit box [0, 1].
    Exit 0 within tolerance, 1 above it, 2 bad input.
    """
    models = [load_model(model_a), load_model(model_b)]
    n = flat_input_size(*models[0])
    domain = domain_from_options(n, stored_domain(models, n), box, bounds, vnnlib)
    report = compare(models[0][0], models[1][0], domain, samples=samples, vertices=vertices,
                     seed=seed, atol=atol, rtol=rtol, names=(model_a, model_b))
    if as_json:
        click.echo(json.dumps({"model_a": model_a, "model_b": model_b, **report.to_json()}))
    else:
        _render(report, model_a, model_b)
    if not report.passed:
        raise VerificationError(f"{model_b} deviates from {model_a}: {report.summary()}")
