"""The compress pipeline: load -> exact reductions to a fixpoint -> ONNX -> verification, and
its report (per layer before/after, totals, what each rule contributed)."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx

from .atomic import write_atomic
from .bounds import check_domain
from .domain import Box
from .errors import DomainError, VerificationError
from .ir import Network
from .onnx_io import to_onnx
from .onnx_io.importer import convert, convert_read, read_model
from .reductions import RANK_TOL, RULES, Action, FixpointResult, layer_name, reduce_network
from .reductions.base import name_layers
from .stability_result import ACTIVE, INACTIVE, StabilityResult, describe_reasons, trouble_note
from .verify import DEFAULT_ATOL, DEFAULT_RTOL, DEFAULT_SAMPLES, VerifyReport, compare

NO_DOMAIN_NOTE = ("no domain given or stored: only data-free reductions (identity layers, "
                  "constant, dead and lumped neurons); give --box LO HI, --bounds FILE or "
                  "--vnnlib FILE to remove stable neurons")
MAX_WITNESSES = 2000  # stability witnesses added to the verification points
REMOVED, FOLDED, MERGED = ("inactive", "constant", "dead"), ("rank-merge", "layer-fold"), ("lump",)
NEURON_RULES = ("inactive", "rank-merge", "layer-fold", "constant", "dead", "lump")  # these
# take neurons out of a layer; "output-zero" only zeroes rows of the output layer


@dataclass
class LayerReport:
    """One layer of the original model: neurons and parameters before/after and why they went.

    stably_active / stably_inactive come from the first stability analysis (None: not analysed).
    removed: stably inactive, constant and dead neurons; folded: merged by the rank rule or in a
    folded layer; merged: lumped into an equal / proportional neuron. rules: the neurons each
    rule of NEURON_RULES took out (only rules that took some); they add up to
    neurons_before - neurons_after.
    """

    name: str
    activation: str
    neurons_before: int
    neurons_after: int
    stably_active: int | None
    stably_inactive: int | None
    removed: int
    folded: int
    merged: int
    params_before: int
    params_after: int
    rules: dict = field(default_factory=dict)


@dataclass
class CompressReport:
    model: str
    layers: list[LayerReport]
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    neurons_before: int
    neurons_after: int
    file_size_before: int
    file_size_after: int
    time_s: float
    stability_time_s: float
    domain: str | None
    complete: bool
    interrupted: bool = False  # Ctrl-C ended a stability analysis early
    unknown_by_reason: dict = field(default_factory=dict)  # of the last analysis: reason -> n
    solver_trouble: list[str] = field(default_factory=list)
    precision_kept: list[dict] = field(default_factory=list)  # edits the precision guard refused
    max_abs: float | None = None
    max_rel: float | None = None
    own_error: float | None = None  # the original's own float32 error on the same points
    verified: bool | None = None
    by_rule: dict = field(default_factory=dict)  # rule -> {"neurons": n, "params": saved}
    notes: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)

    @property
    def params_removed_pct(self) -> float:
        return 100.0 * (1 - self.params_after / self.params_before) if self.params_before else 0.0

    @property
    def macs_removed_pct(self) -> float:
        return 100.0 * (1 - self.macs_after / self.macs_before) if self.macs_before else 0.0

    def to_json(self) -> dict:
        """A JSON-safe dict; a deviation that is not finite (NaN or inf outputs) becomes null."""
        data = asdict(self)
        for key in ("max_abs", "max_rel", "own_error"):
            if data[key] is not None and not np.isfinite(data[key]):
                data[key] = None
        data["actions"] = [a.to_json() for a in self.actions]
        data["params_removed_pct"] = self.params_removed_pct
        data["macs_removed_pct"] = self.macs_removed_pct
        return data


@dataclass(eq=False)
class CompressResult:
    """The reduced network, its ONNX model (verified when `verification` passed), the report and
    the first stability analysis (None without a domain)."""

    network: Network
    model: onnx.ModelProto
    report: CompressReport
    stability: StabilityResult | None
    verification: VerifyReport | None
    domain: Box | None
    fixpoint: FixpointResult

    def model_bytes(self, allow_unverified: bool = False) -> bytes:
        """The serialized model that was verified; VerificationError when it did not pass
        verification (or was not verified), unless allow_unverified."""
        if not (self.report.verified or allow_unverified):
            raise VerificationError("the compressed model did not pass verification; not writing "
                                    "it (allow_unverified=True writes it anyway)")
        return self.model.SerializeToString()

    def save(self, path, overwrite_input: bool = False, allow_unverified: bool = False) -> Path:
        """Write the compressed model atomically (see model_bytes)."""
        protect = None if overwrite_input else self.network.metadata.get("path")
        return write_atomic(path, self.model_bytes(allow_unverified), protect)

    def to_json(self, output: str | None, model_path: str) -> dict:
        """The JSON report: the CompressReport, the path written (None: nothing written), the
        verification and the first stability analysis."""
        data = self.report.to_json()
        data["output"] = output
        data["verification"] = self.verification.to_json() if self.verification else None
        data["stability"] = self.stability.to_json(model_path) if self.stability else None
        return data


def _layer_reports(before: Network, after: Network, analysed: Network | None,
                   stability: StabilityResult | None, actions: list[Action]) -> list[LayerReport]:
    after_by_name = {layer_name(layer): layer for layer in after.layers}
    stable: dict[str, tuple[int, int]] = {}
    if stability is not None and analysed is not None:
        for ls in stability.layers:
            name = layer_name(analysed.layers[ls.layer])
            stable[name] = (int(np.sum(ls.status == ACTIVE)), int(np.sum(ls.status == INACTIVE)))
    reports = []
    for layer in before.layers:
        name = layer_name(layer)
        done = [a for a in actions if a.layer == name]

        def count(rules, done=done):
            return sum(len(a.neurons) for a in done if a.rule in rules)

        now = after_by_name.get(name)
        active, inactive = stable.get(name, (None, None))
        reports.append(LayerReport(
            name=name, activation=layer.activation, neurons_before=layer.n_out,
            neurons_after=now.n_out if now is not None else 0,
            stably_active=active, stably_inactive=inactive,
            removed=count(REMOVED), folded=count(FOLDED), merged=count(MERGED),
            params_before=layer.n_params, params_after=now.n_params if now is not None else 0,
            rules={rule: count((rule,)) for rule in NEURON_RULES if count((rule,))}))
    return reports


def _by_rule(actions: list[Action]) -> dict:
    out = {}
    for rule in RULES:
        done = [a for a in actions if a.rule == rule]
        if done:
            out[rule] = {"neurons": sum(len(a.neurons) for a in done),
                         "params": sum(a.params_saved for a in done)}
    return out


def _witnesses(fix: FixpointResult, n_inputs: int) -> np.ndarray | None:
    parts = [np.asarray(r.witnesses, dtype=np.float64).reshape(-1, n_inputs)
             for r in fix.analyses if np.size(r.witnesses)]
    if not parts:
        return None
    return np.concatenate(parts)[:MAX_WITNESSES]


def compress(model_or_path, domain: Box | None = None, *, time_limit: float | None = None,
             lump_tol: float = 0.0, rank_tol: float = RANK_TOL, verify: bool = True,
             samples: int = DEFAULT_SAMPLES, atol: float = DEFAULT_ATOL,
             rtol: float = DEFAULT_RTOL, progress=None, analyse=None) -> CompressResult:
    """Compress a model (path, ModelProto or Network) exactly on `domain` (None: the domain
    stored in the model; if there is none, only the data-free reductions run).

    time_limit bounds the stability analyses (seconds); lump_tol is the lumping tolerance (0:
    exact); verification runs both models in onnxruntime on samples of the domain and the
    stability witnesses (report.verified; compress does not raise on a failed check).
    analyse: a stability analyser with the signature of exactprune.stability.analyse_stability.
    """
    start = time.monotonic()
    name, original_proto, network = _read(model_or_path)
    domain, narrowed = _domain(network, domain)
    if domain is not None:
        check_domain(network, domain)
    network = name_layers(network)
    fix = reduce_network(network, domain, analyse=analyse, time_limit=time_limit,
                         lump_tol=lump_tol, rank_tol=rank_tol, progress=progress)
    reduced = fix.network
    model = to_onnx(reduced, domain, [a.to_json() for a in fix.actions])
    if original_proto is None:
        original_proto = to_onnx(network)
    size_before = (os.path.getsize(model_or_path) if isinstance(model_or_path, (str, Path))
                   else original_proto.ByteSize())
    report = CompressReport(
        model=name, layers=_layer_reports(network, reduced, fix.analysed, fix.stability, fix.actions),
        params_before=network.n_params, params_after=reduced.n_params,
        macs_before=network.n_macs, macs_after=reduced.n_macs,
        neurons_before=network.n_neurons, neurons_after=reduced.n_neurons,
        file_size_before=size_before, file_size_after=model.ByteSize(), time_s=0.0,
        stability_time_s=float(sum(r.time_s for r in fix.analyses)),
        domain=domain.source if domain is not None else None, complete=fix.complete,
        by_rule=_by_rule(fix.actions), actions=list(fix.actions))
    if domain is None:
        report.notes.append(NO_DOMAIN_NOTE)
    if narrowed:
        report.notes.append(narrowed)
    report.interrupted = any(r.interrupted for r in fix.analyses)
    report.solver_trouble = [t for r in fix.analyses for t in r.trouble]
    if fix.analyses:
        report.unknown_by_reason = fix.analyses[-1].unknown_by_reason()
    if not fix.complete:
        head = ("the stability analysis was interrupted (Ctrl-C)" if report.interrupted
                else "the stability analysis stopped early")
        why = describe_reasons(report.unknown_by_reason) or "no neuron left undecided"
        report.notes.append(f"{head}: {why}, kept: the output is exact but may be larger")
    guard = fix.guard
    report.precision_kept = [{"rule": rule, "layer": layer, "neurons": n}
                             for rule, layer, n in guard.refused]
    if guard.refused:
        kept = sum(n for _, _, n in guard.refused)
        report.notes.append(f"the precision guard kept {kept} neuron(s) that "
                            f"{', '.join(sorted({r for r, _, _ in guard.refused}))} would have "
                            f"removed: their float32 rounding would exceed {guard.factor:g}x the "
                            "original's own")
    if report.solver_trouble:
        report.notes.append(trouble_note(report.solver_trouble))
    verification = None
    if verify:
        verification = compare(original_proto, model, domain, samples=samples,
                               extra_inputs=_witnesses(fix, network.n_inputs), atol=atol,
                               rtol=rtol, names=(name, "compressed model"), exact=network.forward)
        report.max_abs, report.max_rel = verification.max_abs, verification.max_rel
        report.own_error = verification.own_error
        report.verified = verification.passed
    report.time_s = time.monotonic() - start
    return CompressResult(reduced, model, report, fix.stability, verification, domain, fix)


def _domain(network: Network, given: Box | None) -> tuple[Box | None, str]:
    """The domain to compress on, and a note when it had to be narrowed.

    A model that exactprune already compressed computes the original function only on the domain
    it stores; a new domain reaching outside it is cut down to the intersection, so the output
    never claims a domain on which it differs from the original model.
    """
    stored = network.metadata.get("domain")
    if given is None or stored is None or not network.metadata.get("actions"):
        return (given if given is not None else stored), ""
    narrowed = given.intersect(stored, f"{given.source} within {stored.source}")
    if narrowed is None:
        raise DomainError(f"domain {given.source} does not meet {stored.source}, the only domain "
                          "on which this already compressed model is exact")
    if narrowed is given:
        return given, ""
    return narrowed, (f"the model was already compressed and is exact only on {stored.source}: "
                      f"compressed on the intersection with {given.source}")


def _read(model_or_path) -> tuple[str, onnx.ModelProto | None, Network]:
    """(name for reports, the original ModelProto or None, Network)."""
    if isinstance(model_or_path, Network):
        return "network", None, model_or_path
    if isinstance(model_or_path, onnx.ModelProto):
        return "model", model_or_path, convert(model_or_path)
    proto = read_model(model_or_path)
    return str(model_or_path), proto, convert_read(proto, model_or_path)
