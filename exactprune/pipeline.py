"""The compress pipeline: load once -> exact reductions to a fixpoint (the stability analysis
proving what they remove) -> ONNX -> sampled verification in onnxruntime -> CompressResult."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import onnx

from .atomic import write_atomic
from .bounds import check_domain
from .cluster import ClusterSpec
from .compress_report import CompressReport, by_rule, layer_reports
from .domain import Box
from .equivalence import CheckOptions, FormalOptions, FormalReport, VerifyReport, compare, prove_equivalence
from .equivalence.formal import ANALYSIS_METHOD
from .errors import DomainError, VerificationError
from .ir import Network
from .onnx_io import (
    LoadedModel,
    convert,
    default_interface,
    load_model,
    to_onnx,
    written_network,
)
from .onnx_io.metadata import KEY_PROOF
from .reductions import RANK_TOL, FixpointResult, reduce_network
from .reductions.base import name_layers
from .stability import StabilityOptions, StabilityResult, analyse_stability
from .stability.options import DEFAULT_TIME_LIMIT
from .stability.result import describe_reasons, trouble_note

NO_DOMAIN_NOTE = ("no domain given or stored: only data-free reductions (identity layers, "
                  "constant, dead and lumped neurons); give --box LO HI, --bounds FILE or "
                  "--vnnlib FILE to remove stable neurons")
MAX_WITNESSES = 2000  # stability witnesses added to the verification points


@dataclass(frozen=True)
class CompressOptions:
    """time_limit: seconds for all stability analyses together (undecided neurons are kept:
    the output stays exact, only larger). lump_tol: tolerance of equal / proportional rows in
    lumping (0: exact). rank_tol: relative tolerance of the rank merge. workers: processes for
    the per-neuron MILPs and searches, or a ClusterSpec (its workers). verify: compare the
    result with the original in onnxruntime (check: its points and tolerance). prove: also prove
    the written model equivalent to the original on the domain (equivalence.prove_equivalence
    with `proof`; the unit box without a domain); a counterexample fails the verification."""

    time_limit: float = DEFAULT_TIME_LIMIT
    lump_tol: float = 0.0
    rank_tol: float = RANK_TOL
    workers: int | ClusterSpec = 1
    verify: bool = True
    check: CheckOptions = CheckOptions()
    prove: bool = False
    proof: FormalOptions = FormalOptions()


@dataclass(eq=False)
class CompressResult:
    """The reduced network, its ONNX model (verified when `verification` passed), the report,
    the first stability analysis (None without a domain) and the model it came from."""

    source: LoadedModel
    network: Network
    model: onnx.ModelProto
    report: CompressReport
    stability: StabilityResult | None
    verification: VerifyReport | None
    domain: Box | None
    fixpoint: FixpointResult
    proof: FormalReport | None = None

    def model_bytes(self, allow_unverified: bool = False) -> bytes:
        """The serialized model that was verified; VerificationError when it did not pass
        verification (or was not verified), unless allow_unverified."""
        if not (self.report.verified or allow_unverified):
            raise VerificationError("the compressed model did not pass verification; not writing "
                                    "it (allow_unverified=True writes it anyway)")
        return self.model.SerializeToString()

    def save(self, path, overwrite_input: bool = False, allow_unverified: bool = False) -> Path:
        """Write the compressed model atomically (see model_bytes); the file it was read from
        is not replaced unless overwrite_input."""
        protect = None if overwrite_input else self.source.path
        return write_atomic(path, self.model_bytes(allow_unverified), protect)

    def to_json(self, output: str | None) -> dict:
        """The JSON document: the CompressReport, the path written (None: nothing written), the
        verification and the first stability analysis (without its witnesses)."""
        data = self.report.to_json()
        data["output"] = output
        data["verification"] = self.verification.to_json() if self.verification else None
        data["proof"] = self.proof.to_json() if self.proof else None
        data["stability"] = (self.stability.to_json(self.source.name, witnesses=False)
                             if self.stability else None)
        return data


def _witnesses(fix: FixpointResult, n_inputs: int) -> np.ndarray | None:
    parts = [np.asarray(r.witnesses, dtype=np.float64).reshape(-1, n_inputs)
             for r in fix.analyses if np.size(r.witnesses)]
    if not parts:
        return None
    return np.concatenate(parts)[:MAX_WITNESSES]


def compress(model, domain: Box | None = None, options: CompressOptions | None = None, *,
             progress=None, analyse=None, **changes) -> CompressResult:
    """Compress a model (a path, a LoadedModel, a ModelProto or a Network) exactly on `domain`
    (None: the domain stored in the model; if there is none, only the data-free reductions run).

    options: a CompressOptions with `changes` applied (e.g. time_limit=30). Verification runs
    both models in onnxruntime on samples of the domain and the stability witnesses
    (report.verified; compress does not raise on a failed check). analyse: the stability
    analyser (default: analyse_stability with the options' workers); progress: its callback
    (with options.prove also the formal check's steps, marked "proof": True).
    """
    options = replace(options or CompressOptions(), **changes)
    start = time.monotonic()
    source = _source(model)
    domain, narrowed = _domain(source, domain)
    network = name_layers(source.network)
    if domain is not None:
        check_domain(network, domain)
    if analyse is None:
        analyse = partial(analyse_stability, options=StabilityOptions(workers=options.workers))
    fix = reduce_network(network, domain, analyse=analyse, time_limit=options.time_limit,
                         lump_tol=options.lump_tol, rank_tol=options.rank_tol, progress=progress)
    reduced = fix.network
    model_proto = to_onnx(reduced, domain, [a.to_json() for a in fix.actions], source.interface)
    opset = source.interface.opset
    before, after = written_network(network, opset), written_network(reduced, opset)  # as written
    report = CompressReport(
        model=source.name,
        layers=layer_reports(before, after, fix.analysed, fix.stability, fix.actions),
        params_before=before.n_params, params_after=after.n_params,
        macs_before=before.n_macs, macs_after=after.n_macs,
        neurons_before=before.n_neurons, neurons_after=after.n_neurons,
        file_size_before=_file_size(source), file_size_after=model_proto.ByteSize(), time_s=0.0,
        stability_time_s=float(sum(r.time_s for r in fix.analyses)),
        domain=domain.source if domain is not None else None, complete=fix.complete,
        by_rule=by_rule(fix.actions), actions=list(fix.actions),
        opset=source.interface.opset, ir_version=model_proto.ir_version)
    _notes(report, fix, domain, narrowed)
    if before.n_neurons != network.n_neurons:
        report.notes.append(f"{network.n_neurons - before.n_neurons} Clip neuron(s) are analysed "
                            "as two ReLU units each (clip(g) = a + relu(g - a) - relu(g - b)); "
                            "the rule columns count units, the sizes count neurons")
    verification = None
    if options.verify:
        verification = compare(source.proto, model_proto, domain, options.check,
                               extra_inputs=_witnesses(fix, network.n_inputs),
                               names=(source.name, "compressed model"),
                               exact=None if source.interface.tail else network.forward)
        report.max_abs, report.max_rel = verification.max_abs, verification.max_rel
        report.own_error = verification.own_error
        report.verified = verification.passed
    proof = _prove(source, model_proto, domain, options, report, progress) if options.prove \
        else None
    report.time_s = time.monotonic() - start
    return CompressResult(source, reduced, model_proto, report, fix.stability, verification,
                          domain, fix, proof)


def prove(a, b, domain: Box | None = None, options: FormalOptions | None = None, *,
          names: tuple[str, str] = ("model A", "model B"), progress=None,
          workers: int | ClusterSpec = 1) -> FormalReport:
    """Prove models a and b (paths, ModelProtos or LoadedModels) equivalent within a tolerance
    on `domain` (None: the unit box): equivalence.prove_equivalence with the stability analysis
    of both (method ANALYSIS_METHOD: no solver; `workers` processes or a ClusterSpec for its searches)."""
    analyse = partial(analyse_stability,
                      options=StabilityOptions(method=ANALYSIS_METHOD, workers=workers))
    return prove_equivalence(a, b, domain, options, names=names, progress=progress,
                             analyse=analyse)


def _prove(source: LoadedModel, model: onnx.ModelProto, domain: Box | None,
           options: CompressOptions, report: CompressReport, progress) -> FormalReport:
    """The formal check of the model as written (read back by the importer) against the
    original, with its own stability analyses (never the caller's analyser: the proof trusts
    nothing of the compression); its outcome goes into the report and the model's metadata."""
    def told(info: dict) -> None:  # the formal check's steps, marked for compress's callback
        if progress is not None:
            progress({**info, "proof": True})

    proof = prove(source, model, domain, options.proof, names=(source.name, "compressed model"),
                  workers=options.workers, progress=told)
    report.proof = {"equivalent": proof.equivalent, "max_abs_bound": proof.max_abs_bound,
                    "tolerance": proof.tolerance, "time_s": proof.time_s,
                    "reason": proof.reason}
    if proof.equivalent is False:
        report.verified = False
        report.notes.append(f"the formal check refutes the compressed model: {proof.summary()}")
    elif proof.equivalent is None:
        report.notes.append(f"the formal check is undecided: {proof.summary()}")
    entry = model.metadata_props.add()
    entry.key, entry.value = KEY_PROOF, json.dumps({**report.proof, "domain": proof.domain_source})
    return proof


def _notes(report: CompressReport, fix: FixpointResult, domain: Box | None,
           narrowed: str) -> None:
    """What the report says in words: no domain, a narrowed domain, an incomplete analysis,
    what the precision guard kept, solver trouble."""
    if domain is None:
        report.notes.append(NO_DOMAIN_NOTE)
    if narrowed:
        report.notes.append(narrowed)
    report.interrupted = any(r.interrupted for r in fix.analyses)
    report.solver_trouble = [t for r in fix.analyses for t in r.trouble]
    if fix.analyses:
        report.unknown_by_reason = {str(reason): n for reason, n
                                    in fix.analyses[-1].unknown_by_reason().items()}
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


def _source(model) -> LoadedModel:
    """The LoadedModel of whatever compress was given (a Network is its own, exported)."""
    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, Network):
        face = default_interface(model)
        return LoadedModel(model, to_onnx(model, interface=face), None, "network", None, None,
                           face.opset, face.ir_version, "", face)
    if isinstance(model, onnx.ModelProto):
        return convert(model)
    return load_model(model)


def _file_size(source: LoadedModel) -> int:
    return source.path.stat().st_size if source.path is not None else source.proto.ByteSize()


def _domain(source: LoadedModel, given: Box | None) -> tuple[Box | None, str]:
    """The domain to compress on, and a note when it had to be narrowed.

    A model that exactprune already compressed computes the original function only on the domain
    it stores; a new domain reaching outside it is cut down to the intersection, so the output
    never claims a domain on which it differs from the original model.
    """
    stored = source.stored_domain
    if given is None or stored is None or not source.compressed:
        return (given if given is not None else stored), ""
    narrowed = given.intersect(stored, f"{given.source} within {stored.source}")
    if narrowed is None:
        raise DomainError(f"domain {given.source} does not meet {stored.source}, the only domain "
                          "on which this already compressed model is exact")
    if narrowed is given:
        return given, ""
    return narrowed, (f"the model was already compressed and is exact only on {stored.source}: "
                      f"compressed on the intersection with {given.source}")
