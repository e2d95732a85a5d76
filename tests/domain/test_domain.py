"""Input domains: --box scalars, bounds files, VNN-LIB specs, stored domains and their errors."""

import json
import re

import numpy as np
import pytest
from builders import (
    SHARED,  # noqa: E402
    SHARED_REASON,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from exactprune.domain import (
    Box,
    load_bounds_file,
    load_vnnlib,
    parse_box,
    parse_stored,
    resolve_domain,
)
from exactprune.errors import DomainError, MissingFileError

MODELS = SHARED / "models"
needs_shared = pytest.mark.skipif(not MODELS.is_dir(), reason=SHARED_REASON)

HEADER = "".join(f"(declare-const X_{i} Real)\n" for i in range(3)) + "(declare-const Y_0 Real)\n"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def bounds_text(lo, hi):
    return "".join(f"(assert (<= X_{i} {high!r}))\n(assert (>= X_{i} {low!r}))\n"
                   for i, (low, high) in enumerate(zip(lo, hi)))


# --box ----------------------------------------------------------------------------------------
def test_parse_box_broadcasts_scalars():
    box = parse_box(-1, 2.5, 4)
    assert box.lo.tolist() == [-1.0] * 4 and box.hi.tolist() == [2.5] * 4
    assert box.source == "--box -1 2.5"


@pytest.mark.parametrize("lo, hi, match", [(1, 0, r"lower bound 1 > upper bound 0"),
                                           (float("nan"), 1, "finite"),
                                           (0, float("inf"), "finite")])
def test_parse_box_errors(lo, hi, match):
    with pytest.raises(DomainError, match=match):
        parse_box(lo, hi, 3)


# bounds files ----------------------------------------------------------------------------------
@pytest.mark.parametrize("data", [
    {"lo": [0, -1, 2], "hi": [1, 0, 3]},
    {"lower": [0, -1, 2], "upper": [1, 0, 3]},
    [[0, 1], [-1, 0], [2, 3]],
])
def test_json_bounds_forms(tmp_path, data):
    box = load_bounds_file(write(tmp_path, "b.json", json.dumps(data)), 3)
    assert box.lo.tolist() == [0, -1, 2] and box.hi.tolist() == [1, 0, 3]
    assert box.source.endswith("b.json")


def test_json_scalar_broadcast(tmp_path):
    box = load_bounds_file(write(tmp_path, "b.json", '{"lo": 0, "hi": [1, 2, 3]}'), 3)
    assert box.lo.tolist() == [0, 0, 0] and box.hi.tolist() == [1, 2, 3]


@pytest.mark.parametrize("shape", [(2, 3), (3, 2)])
def test_npy_bounds(tmp_path, shape):
    lo, hi = np.array([0.0, -1.0, 2.0]), np.array([1.0, 0.5, 3.0])
    arr = np.stack([lo, hi]) if shape[0] == 2 else np.stack([lo, hi], axis=1)
    np.save(tmp_path / "b.npy", arr.reshape(shape))
    box = load_bounds_file(tmp_path / "b.npy", 3)
    np.testing.assert_array_equal(box.lo, lo)
    np.testing.assert_array_equal(box.hi, hi)


@pytest.mark.parametrize("name, text, match", [
    ("b.json", '{"lo": [0, 0], "hi": [1, 1]}', r"2 lower bounds for a model with 3 inputs"),
    ("b.json", '{"lo": [0, 2, 0], "hi": [1, 1, 1]}',
     r"lower bound 2.0 > upper bound 1.0 for input 1"),
    ("b.json", '{"lo": [0, NaN, 0], "hi": 1}', r"lower bound of input 1 is NaN"),
    ("b.json", '{"min": 0, "max": 1}', r'expected exactly the keys "lo" and "hi"'),
    ("b.json", '{"lo": [0, 0, ', r"not a readable JSON bounds file"),
    ("b.json", '[[0, 1], [0]]', r"list of \[lo, hi\] pairs"),
    ("b.txt", "0 1", r"unknown bounds file type '.txt'"),
])
def test_bounds_file_errors(tmp_path, name, text, match):
    with pytest.raises(DomainError, match=match):
        load_bounds_file(write(tmp_path, name, text), 3)


@pytest.mark.parametrize("shape", [(3, 3), (2, 1, 3), (3, 1, 2), (1, 2, 3), (6,)])
def test_npy_wrong_shape(tmp_path, shape):
    np.save(tmp_path / "b.npy", np.zeros(shape))
    with pytest.raises(DomainError, match=r"expected \(2, 3\) or \(3, 2\)"):
        load_bounds_file(tmp_path / "b.npy", 3)


@pytest.mark.parametrize("loader", [load_bounds_file, load_vnnlib])
def test_missing_file(tmp_path, loader):
    with pytest.raises(MissingFileError, match=r"nope\.\w+: no such file"):
        loader(tmp_path / ("nope.json" if loader is load_bounds_file else "nope.vnnlib"), 3)


# VNN-LIB ---------------------------------------------------------------------------------------
def test_vnnlib_all_bound_forms(tmp_path):
    text = HEADER + """; comment (with an unbalanced paren
(assert (<= X_0 1.5))
(assert (>= X_0 -0.5))
(assert (<= 0.25 X_1))   ; reversed: lower bound
(assert (>= 0.75 X_1))
(assert (and (<= X_2 (- 2)) (>= X_2 -3e0) (<= X_2 5)))
(assert (>= X_0 -1))     ; looser: ignored
(assert (or (and (<= Y_0 0)) (and (>= Y_0 1))))
(assert (<= Y_0 3))
"""
    box = load_vnnlib(write(tmp_path, "p.vnnlib", text), 3)
    assert box.lo.tolist() == [-0.5, 0.25, -3.0]
    assert box.hi.tolist() == [1.5, 0.75, -2.0]
    assert box.source.endswith("p.vnnlib")


def test_vnnlib_single_branch_or_and_equality(tmp_path):
    text = HEADER + "(assert (or (and (<= X_0 1) (>= X_0 0) (= X_1 0.5) (<= X_2 1) (>= X_2 0))))"
    box = load_vnnlib(write(tmp_path, "p.vnnlib", text), 3)
    assert box.lo.tolist() == [0, 0.5, 0] and box.hi.tolist() == [1, 0.5, 1]


@pytest.mark.parametrize("text, n, match", [
    (HEADER + bounds_text([0] * 3, [1] * 3), 4,
     r"declares 3 inputs \(up to X_2\) but the model has 4"),
    (bounds_text([0] * 5, [1] * 5), 3, r"declares 5 inputs \(up to X_4\) but the model has 3"),
    (HEADER + bounds_text([0, 0], [1, 1]), 3, r"input X_2 has no lower bound \(1 input\(s\) not"),
    (HEADER + bounds_text([0] * 3, [1] * 3).replace("(assert (<= X_1 1))", ""), 3,
     r"X_1 has no upper bound"),
    (HEADER + bounds_text([0, 2, 0], [1, 1, 1]), 3,
     r":8: X_1 has lower bound 2.0 > upper bound 1.0"),
    (HEADER + bounds_text([0, 0, 0], [1, float("nan"), 1]), 3,
     r":7: bound nan is not a finite number"),
    (HEADER + "(assert (or (<= X_0 1) (>= X_0 2)))", 3, r":5: disjunction \(or\) over the inputs"),
    (HEADER + "(assert (<= X_0 1)", 3, r":5: unclosed '\(' \(malformed s-expression\)"),
    (HEADER + "(assert (<= X_0 1)))", 3, r":5: unmatched '\)'"),
    (HEADER + "assert", 3, r":5: expected '\(' but found 'assert'"),
    (HEADER + "(assert (<= X_0 Y_0))", 3, r"not a bound of one X_i by a number"),
    (HEADER + "(assert (not (<= X_0 1)))", 3, r"unsupported input constraint \(not"),
    ("; nothing", 3, r"declares no inputs"),
])
def test_vnnlib_errors(tmp_path, text, n, match):
    with pytest.raises(DomainError, match=r"p\.vnnlib" + match if match[0] == ":" else match):
        load_vnnlib(write(tmp_path, "p.vnnlib", text), n)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e3, 1e3), st.floats(0, 1e3)), min_size=1, max_size=12),
       st.randoms(use_true_random=False))
def test_vnnlib_round_trip(tmp_path_factory, pairs, rnd):
    """Bounds written in shuffled order and mixed forms read back exactly."""
    lo = [a for a, _ in pairs]
    hi = [a + w for a, w in pairs]
    lines = []
    for i, (low, high) in enumerate(zip(lo, hi)):
        lines += [rnd.choice([f"(assert (<= X_{i} {high!r}))", f"(assert (>= {high!r} X_{i}))"]),
                  rnd.choice([f"(assert (>= X_{i} {low!r}))", f"(assert (<= {low!r} X_{i}))"])]
    rnd.shuffle(lines)
    path = tmp_path_factory.mktemp("rt") / "p.vnnlib"
    path.write_text("\n".join(lines))
    box = load_vnnlib(path, len(pairs))
    assert box.lo.tolist() == lo and box.hi.tolist() == hi


def reference_bounds(path, n):
    """An independent reading of the simple (assert (<=|>= X_i c)) lines."""
    lo, hi = np.full(n, np.nan), np.full(n, np.nan)
    for op, i, c in re.findall(r"\(assert \((<=|>=) X_(\d+) (\S+)\)\)", path.read_text()):
        (hi if op == "<=" else lo)[int(i)] = float(c)
    return lo, hi


@needs_shared
@pytest.mark.parametrize("name, n", [("acasxu_prop_1", 5), ("acasxu_prop_3", 5),
                                     ("cartpole_case_safe_14", 4), ("mnistfc_prop_0_0.03", 784),
                                     ("oval21_cifar_base_kw", 3072)])
def test_shared_vnnlib(name, n):
    path = MODELS / f"{name}.vnnlib"
    box = load_vnnlib(path, n)
    lo, hi = reference_bounds(path, n)
    np.testing.assert_array_equal(box.lo, lo)
    np.testing.assert_array_equal(box.hi, hi)
    with pytest.raises(DomainError, match=rf"declares {n} inputs .* but the model has {n + 1}"):
        load_vnnlib(path, n + 1)


# resolve_domain / stored -----------------------------------------------------------------------
def test_resolve_domain_choices(tmp_path):
    stored = Box(np.zeros(3), np.full(3, 2.0), "stored in m.onnx")
    assert resolve_domain(3) is None
    assert resolve_domain(3, stored=stored) is stored
    assert resolve_domain(3, box=(0, 1), stored=stored).hi.tolist() == [1, 1, 1]
    bounds = write(tmp_path, "b.json", '{"lo": 0, "hi": 3}')
    assert resolve_domain(3, bounds=bounds).hi.tolist() == [3, 3, 3]
    spec = write(tmp_path, "p.vnnlib", HEADER + bounds_text([0] * 3, [4] * 3))
    assert resolve_domain(3, vnnlib=spec, stored=stored).hi.tolist() == [4, 4, 4]


def test_resolve_domain_errors(tmp_path):
    with pytest.raises(DomainError, match="give at most one domain, not --box and --vnnlib"):
        resolve_domain(3, box=(0, 1), vnnlib=tmp_path / "p.vnnlib")
    with pytest.raises(DomainError, match="domain stored in m.onnx has 2 inputs, the model has 3"):
        resolve_domain(3, stored=Box(np.zeros(2), np.ones(2), "stored in m.onnx"))


def test_parse_stored():
    box = parse_stored(Box([0, 1], [1, 2], "spec.vnnlib").dumps(), 2, "stored in m.onnx")
    assert box.hi.tolist() == [1, 2] and box.source == "stored in m.onnx (from spec.vnnlib)"
    with pytest.raises(DomainError, match="stored in m.onnx: stored domain is not valid JSON"):
        parse_stored('{"lo": [0]', 1, "stored in m.onnx")
    with pytest.raises(DomainError, match="2 lower bounds for a model with 3 inputs"):
        parse_stored('{"lo": [0, 0], "hi": [1, 1]}', 3)


def test_vnnlib_and_json_with_a_utf8_byte_order_mark(tmp_path):
    spec = tmp_path / "p.vnnlib"
    spec.write_bytes(("\ufeff" + HEADER + bounds_text([0] * 3, [1] * 3)).encode("utf-8"))
    assert load_vnnlib(spec, 3).hi.tolist() == [1, 1, 1]
    bounds = tmp_path / "b.json"
    bounds.write_bytes('\ufeff{"lo": 0, "hi": 1}'.encode("utf-8"))
    assert load_bounds_file(bounds, 3).hi.tolist() == [1, 1, 1]
