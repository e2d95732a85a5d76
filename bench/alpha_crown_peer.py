"""Peer bounds: which ReLU neurons CROWN and alpha-CROWN (auto_LiRPA) prove stable on a box.

BENCH-ONLY. auto_LiRPA is not a dependency of exactprune: this script runs in a side virtualenv
that holds auto_LiRPA 0.3 (its pins need torch < 1.13, hence Python 3.10) and exactprune itself
(for the ONNX and VNN-LIB loaders only):

    /root/.pyenv/versions/3.10.13/bin/python -m venv /tmp/lirpaenv
    /tmp/lirpaenv/bin/pip install "auto_LiRPA==0.3" "numpy<2" tqdm /work/main
    OMP_NUM_THREADS=1 /tmp/lirpaenv/bin/python bench/alpha_crown_peer.py \
        [--out build/alpha_crown_peer.json] [--iterations 20,100] [--only SUBSTRING]

Per model/spec pair the network is rebuilt as a float64 torch nn.Sequential (the per-feature
input map is applied to the box, so the Dense layers act on the h0 box) and bounded by
  crown          CROWN (method="CROWN"), every layer's pre-activation bounds by back-substitution
                 (auto_LiRPA's default: neurons that IBP proves stable keep IBP's bounds);
  alpha-out-N    alpha-CROWN (method="CROWN-Optimized"), N iterations, lr_alpha 0.1, objective the
                 output bounds (lower and upper in two runs, as auto_LiRPA does); the intermediate
                 bounds are recomputed with their own alphas in every iteration and the best kept
                 (raw: they can be looser than crown's, see looser_than_crown);
  alpha-layer-N  alpha-CROWN with each ReLU layer's pre-activation bounds as the objective, layer
                 by layer, the earlier layers fixed at their optimised bounds, each layer's
                 bounds intersected with CROWN's and IBP's on the same fixed bounds (the tightest
                 per-neuron bounds alpha-CROWN gives; the first layer is exact with CROWN).
A neuron is stably active when its lower bound is >= 0, else stably inactive when its upper
bound is <= 0 (exactprune's order: a constant-zero neuron counts as active). The JSON has per
pair and method the per-layer counts and original neuron indices (to check inclusion in
exactprune's sets), time_s (BoundedModule build + bounds), looser_than_crown (neurons with a
bound looser than CROWN's) and sample_violations (sampled pre-activations outside the bounds:
should be 0). Prints a markdown table.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # a shared 2-core machine

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import auto_LiRPA  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from auto_LiRPA import BoundedModule, BoundedTensor, PerturbationLpNorm  # noqa: E402

from exactprune.domain import load_vnnlib  # noqa: E402
from exactprune.onnx_io import load_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "models"
DEEP = ROOT / "build" / "deep"
SAMPLES = ROOT / "sample_models"
LR_ALPHA = 0.1
N_SAMPLES = 2000
SAMPLE_TOL = 1e-9


def pairs() -> list[tuple[Path, Path | None]]:
    """(model, spec) of every benchmark case; spec None: the domain stored in the model."""
    out = [(SHARED / "mnistfc_256x2.onnx", SHARED / f"mnistfc_prop_0_{e}.vnnlib") for e in ("0.03", "0.05")]
    out += [(SHARED / "acasxu_1_1.onnx", SHARED / f"acasxu_prop_{i}.vnnlib") for i in range(1, 5)]
    out += [(SHARED / "cartpole.onnx", SHARED / "cartpole_case_safe_14.vnnlib"),
            (SHARED / "cora_mnist_set.onnx", SHARED / "cora_mnist_img1.vnnlib")]
    out += [(m, s) for m in sorted(DEEP.glob("*.onnx")) for s in sorted(DEEP.glob("*.vnnlib"))]
    digit = SAMPLES / "mnist_digit0_eps0.05.vnnlib"  # the README's box, for the 784-input models
    out += [(m, digit) for m in sorted(SAMPLES.glob("mnist_*.onnx"))]
    out += [(m, None) for m in sorted(SAMPLES.glob("*.onnx"))]
    return out


def load_case(model: Path, spec: Path | None):
    """The exactprune Network and the h0 box (lo, hi) its Dense layers see."""
    source = load_model(model)
    net = source.network
    box = load_vnnlib(spec, net.n_inputs) if spec is not None else source.stored_domain
    if box is None:
        raise ValueError("no spec and no stored domain")
    imap = net.input_map
    a = imap.scale * np.asarray(box.lo, dtype=np.float64)[imap.perm] + imap.shift
    b = imap.scale * np.asarray(box.hi, dtype=np.float64)[imap.perm] + imap.shift
    return net, np.minimum(a, b), np.maximum(a, b)


def to_torch(net) -> tuple[torch.nn.Sequential, list[int]]:
    """The Dense layers as a float64 nn.Sequential, and the indices (in net.layers) of the ReLU
    layers, in the order auto_LiRPA's BoundRelu nodes appear."""
    mods, relu_layers = [], []
    for k, layer in enumerate(net.layers):
        dense = layer.as_dense()
        lin = torch.nn.Linear(dense.n_in, dense.n_out).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(dense.weight))
            lin.bias.copy_(torch.from_numpy(dense.bias))
        mods.append(lin)
        kind = dense.activation.kind
        if kind == "relu":
            mods.append(torch.nn.ReLU())
            relu_layers.append(k)
        elif kind != "identity":
            raise ValueError(f"layer {k}: activation {kind} is not compared (only relu)")
    return torch.nn.Sequential(*mods), relu_layers


def bounded(seq, lo, hi, iterations: int = 20):
    """A fresh BoundedModule (no state shared between methods) and the perturbed input."""
    x_lo, x_hi = torch.from_numpy(lo)[None], torch.from_numpy(hi)[None]
    x = (x_lo + x_hi) / 2
    # dense alphas: 0.3's sparse ones index the neurons unstable at the start and crash (shape
    # mismatch, assertion) when a recomputed intermediate bound turns a stable neuron unstable
    opts = {"optimize_bound_args": {"iteration": iterations, "lr_alpha": LR_ALPHA},
            "sparse_features_alpha": False, "sparse_spec_alpha": False}
    model = BoundedModule(seq, x, bound_opts=opts, device="cpu")
    ptb = PerturbationLpNorm(norm=float("inf"), x_L=x_lo, x_U=x_hi)
    return model, (BoundedTensor(x, ptb),)


def relu_inputs(model) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pre-activation bounds of every ReLU node, in graph order (model.relus)."""
    return [(n.inputs[0].lower.detach().numpy()[0].copy(), n.inputs[0].upper.detach().numpy()[0].copy())
            for n in model.relus]


def run_crown(seq, lo, hi, _iterations):
    model, x = bounded(seq, lo, hi)
    model.compute_bounds(x=x, method="CROWN")
    return relu_inputs(model)


def run_alpha_out(seq, lo, hi, iterations):
    """Output objective: the lower and the upper run each leave their best intermediate bounds;
    both are sound, so their intersection is kept."""
    model, x = bounded(seq, lo, hi, iterations)
    model.compute_bounds(x=x, method="CROWN-Optimized", bound_upper=False)
    first = relu_inputs(model)
    model.compute_bounds(x=x, method="CROWN-Optimized", bound_lower=False)
    return [(np.maximum(l1, l2), np.minimum(u1, u2)) for (l1, u1), (l2, u2) in zip(first, relu_inputs(model))]


def run_alpha_layer(seq, lo, hi, iterations):
    """Each ReLU layer's pre-activation as the objective, the earlier ones fixed; the optimised
    bounds are intersected with CROWN's and IBP's on the same fixed bounds (alpha-CROWN alone can
    end looser than crown's CROWN/IBP mix on some neurons)."""
    model, x = bounded(seq, lo, hi, iterations)
    names = [n.inputs[0].name for n in model.relus]
    fixed, out = {}, []
    for k, name in enumerate(names):
        given = dict(fixed) or None
        lb, ub = model.compute_bounds(x=x, method="CROWN", final_node_name=name,
                                      intermediate_layer_bounds=given)
        if k:  # nothing to optimise before the first ReLU; CROWN is exact there
            for method in ("IBP", "CROWN-Optimized"):
                lo_m, up_m = model.compute_bounds(x=x, method=method, final_node_name=name,
                                                  intermediate_layer_bounds=given)
                lb, ub = torch.maximum(lb, lo_m), torch.minimum(ub, up_m)
        fixed[name] = (lb.detach().clone(), ub.detach().clone())
        out.append((lb.detach().numpy()[0].copy(), ub.detach().numpy()[0].copy()))
    return out


def sample_violations(net, lo, hi, relu_layers, bounds) -> int:
    """Sampled h0 points (and the box corners lo, hi) whose pre-activations leave the bounds."""
    rng = np.random.default_rng(0)
    h = np.vstack([lo, hi, lo + (hi - lo) * rng.random((N_SAMPLES, lo.size))])
    g_all = []
    for layer in net.layers:
        g_all.append(layer.affine(h))
        h = layer.activation.apply(g_all[-1])
    return sum(int(np.sum((g_all[k] < lb - SAMPLE_TOL) | (g_all[k] > ub + SAMPLE_TOL)))
               for k, (lb, ub) in zip(relu_layers, bounds))


def summarise(net, relu_layers, bounds, time_s, check, crown) -> dict:
    layers, looser = [], 0
    for k, (lb, ub), (lc, uc) in zip(relu_layers, bounds, crown):
        looser += int(np.sum((lb < lc - SAMPLE_TOL) | (ub > uc + SAMPLE_TOL)))
        dense = net.layers[k].as_dense()
        orig = np.asarray(dense.origin)
        active, inactive = np.flatnonzero(lb >= 0), np.flatnonzero((ub <= 0) & (lb < 0))
        layers.append({"index": k, "node": dense.act_node, "neurons": int(lb.size),
                       "active": int(active.size), "inactive": int(inactive.size),
                       "stably_active": orig[active].tolist(), "stably_inactive": orig[inactive].tolist()})
    return {"time_s": round(time_s, 4), "stable": sum(x["active"] + x["inactive"] for x in layers),
            "active": sum(x["active"] for x in layers), "inactive": sum(x["inactive"] for x in layers),
            "sample_violations": check, "looser_than_crown": looser, "layers": layers}


def run_pair(model: Path, spec: Path | None, methods) -> dict:
    net, lo, hi = load_case(model, spec)
    seq, relu_layers = to_torch(net)
    entry = {"model": os.path.relpath(model, ROOT), "spec": os.path.relpath(spec, ROOT) if spec else "stored",
             "neurons": int(sum(net.layers[k].n_out for k in relu_layers)), "methods": {}}
    crown = None
    for name, fn, iterations in methods:  # crown first
        start = time.perf_counter()
        bounds = fn(seq, lo, hi, iterations)
        elapsed = time.perf_counter() - start
        crown = crown or bounds
        check = sample_violations(net, lo, hi, relu_layers, bounds)
        entry["methods"][name] = summarise(net, relu_layers, bounds, elapsed, check, crown)
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "build" / "alpha_crown_peer.json"))
    parser.add_argument("--iterations", default="20,100", help="alpha-CROWN iteration counts")
    parser.add_argument("--only", default="", help="run only pairs whose model or spec path has this")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step()`")
    torch.set_default_dtype(torch.float64)
    iters = [int(i) for i in args.iterations.split(",") if i]
    methods = [("crown", run_crown, None)]
    methods += [(f"alpha-out-{n}", run_alpha_out, n) for n in iters]
    methods += [(f"alpha-layer-{n}", run_alpha_layer, n) for n in iters]
    doc = {"tool": "auto_LiRPA", "auto_lirpa_version": auto_LiRPA.__version__,
           "torch_version": torch.__version__, "dtype": "float64", "threads": torch.get_num_threads(),
           "lr_alpha": LR_ALPHA, "iterations": iters,
           "stable_rule": "active: lower >= 0, else inactive: upper <= 0",
           "alpha": "dense (sparse_features_alpha, sparse_spec_alpha off); auto_LiRPA 0.3 stores the "
                    "slopes as float32 (any slope in [0, 1] is sound), the bounds are float64",
           "pairs": []}
    rows = []
    for model, spec in pairs():
        tag = spec.stem if spec else "stored"
        if args.only and args.only not in str(model) + str(spec):
            continue
        if not model.exists() or (spec is not None and not spec.exists()):
            print(f"skip {model.name} / {tag}: file missing", flush=True)
            continue
        try:
            entry = run_pair(model, spec, methods)
        except Exception as exc:  # one broken pair must not stop the others
            traceback.print_exc()
            doc["pairs"].append({"model": str(model), "spec": str(spec), "error": repr(exc)})
            rows.append(f"| {model.stem} | {tag} | failed: {exc!r} |")
            continue
        doc["pairs"].append(entry)
        m = entry["methods"]
        cells = [str(entry["neurons"])] + [str(m[name]["stable"]) for name, _, _ in methods]
        cells += [f"{m[name]['time_s']:.2f}" for name, _, _ in methods]
        bad = sum(v["sample_violations"] for v in m.values())
        rows.append(f"| {model.stem} | {tag} | " + " | ".join(cells) + f" | {bad} |")
        print(model.name, "/", tag, "done", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1))
    names = [name for name, _, _ in methods]
    print("\n| model | spec | neurons | " + " | ".join(f"{n} stable" for n in names) + " | "
          + " | ".join(f"{n} s" for n in names) + " | sample violations |")
    print("|" + "---|" * (4 + 2 * len(names)))
    print("\n".join(rows))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
