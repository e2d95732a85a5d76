"""`exactprune inspect MODEL [--json]`: the layers, sizes and stored domain of an ONNX model."""

from __future__ import annotations

import json

import click
from rich.table import Table
from rich.text import Text

from ..ir import Conv2d
from ..onnx_io import LoadedModel, load_model
from ..onnx_io.registry import supported_ops
from .app import console, main


def summary(source: LoadedModel) -> dict:
    """Everything `inspect` shows, as a JSON-ready dict."""
    network, domain = source.network, source.stored_domain
    return {
        "model": source.name,
        "opset": source.opset,
        "ir_version": source.ir_version,
        "producer": source.producer,
        **source.interface.to_json(),
        "input_map_identity": network.input_map.is_identity,
        "layers": [
            {
                "index": k,
                "nodes": list(layer.nodes),
                "act_node": layer.act_node,
                "n_in": layer.n_in,
                "n_out": layer.n_out,
                "activation": layer.activation.kind,
                "alpha": layer.activation.alpha if layer.activation.kind == "leaky_relu" else None,
                "params": layer.n_params,
                "macs": layer.n_macs,
                **_structure(layer),
            }
            for k, layer in enumerate(network.layers)
        ],
        "totals": {"params": network.n_params, "hidden_neurons": network.n_neurons,
                   "macs": network.n_macs},
        "domain": domain.to_json() if domain is not None else None,
    }


def _structure(layer) -> dict:
    """kind ("dense", "conv", "avgpool" or "maxpool": a stage of its ReLU tournament) and, for
    conv layers, their kernel and shapes."""
    if not isinstance(layer, Conv2d):
        return {"kind": "dense"}
    kind = {"": "conv", "average": "avgpool", "max": "maxpool"}[layer.pool]
    return {"kind": kind, "kernel": list(layer.kernel.shape[2:]),
            "strides": list(layer.strides), "pads": list(layer.pads),
            "dilations": list(layer.dilations), "groups": layer.groups,
            "channels": [layer.in_shape[0], layer.out_shape[0]],
            "in_shape": list(layer.in_shape), "out_shape": list(layer.out_shape)}


def _shape_text(layer: dict) -> str:
    if layer["kind"] == "dense":
        return f"{layer['n_in']} -> {layer['n_out']}"
    groups = f" g{layer['groups']}" if layer["groups"] > 1 and layer["kind"] == "conv" else ""
    return (f"{layer['kind']} {'x'.join(map(str, layer['kernel']))}/"
            f"{'x'.join(map(str, layer['strides']))}{groups} "
            f"{'x'.join(map(str, layer['in_shape']))} -> {'x'.join(map(str, layer['out_shape']))}")


def _domain_text(domain: dict | None) -> str:
    if domain is None:
        return "none"
    lo, hi = domain["lo"], domain["hi"]
    return (f"box over {len(lo)} inputs, lo in [{min(lo):g}, {max(lo):g}], hi in "
            f"[{min(hi):g}, {max(hi):g}] ({domain['source'] or 'no source'})")


def _value(value: dict) -> str:
    return f"{value['name']} {value['shape']} {value['type']}"


def _render(info: dict) -> None:
    table = Table(title=Text(info["model"]), title_justify="left")
    for column, justify in [("#", "right"), ("ONNX nodes", "left"), ("in -> out", "right"),
                            ("activation", "left"), ("parameters", "right"),
                            ("multiply-adds", "right")]:
        table.add_column(column, justify=justify)
    for layer in info["layers"]:
        act = layer["activation"]
        if layer["act_node"]:
            act += f" ({layer['act_node']})"
        table.add_row(str(layer["index"]), Text(", ".join(layer["nodes"]) or "-"),
                      _shape_text(layer), Text(act), f"{layer['params']:,}",
                      f"{layer['macs']:,}")
    console.print(table)
    totals = info["totals"]
    lines = [
        f"input   {_value(info['input'])}"
        + ("" if info["input_map_identity"] else " (normalised before the first layer)"),
        *(f"output  {_value(out)}" for out in info["outputs"]),
        f"tail    {', '.join(info['tail']) or 'none'}"
        + (f" (after the layers' output {info['body_output']})" if info["tail"] else ""),
        f"totals  {totals['params']:,} parameters, {totals['hidden_neurons']:,} hidden neurons, "
        f"{totals['macs']:,} multiply-adds",
        f"onnx    opset {info['opset']}, ir_version {info['ir_version']}, producer "
        f"{info['producer'] or 'unknown'}",
        f"domain  {_domain_text(info['domain'])}",
    ]
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True, markup=False)


@main.command("inspect")
@click.argument("model", type=click.Path(dir_okay=False), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of a table.")
@click.option("--supported", is_flag=True,
              help="List the ONNX ops exactprune can read (no MODEL needed).")
def inspect_command(model: str | None, as_json: bool, supported: bool) -> None:
    """Show the layers, sizes, input/output and stored domain of MODEL (or, with --supported,
    the ONNX ops exactprune reads)."""
    if supported:
        ops = supported_ops()
        if as_json:
            click.echo(json.dumps({"supported_ops": ops}, indent=2))
        else:
            for op, since in ops.items():
                console.print(f"{op:<20} from opset {since}", highlight=False, markup=False)
        return
    if model is None:
        raise click.UsageError("give MODEL (or --supported)")
    info = summary(load_model(model))
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        _render(info)
