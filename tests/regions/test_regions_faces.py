"""Wide-input region counting: frame coordinates, the outer LP's proven misses, and the face count
of a cell's last layer against deletion-restriction and SCIP's count."""

from __future__ import annotations

import numpy as np
import pytest
from builders import wide_net

from exactprune.domain import Box
from exactprune.ir import Dense, Network
from exactprune.regions import count_regions, count_regions_milp, faces
from exactprune.regions.frame import Frame
from exactprune.regions.lp import CellLP
from exactprune.regions.outer import MISS_SHARE, OuterLP


def test_frame_keeps_products_and_norms_of_vectors_in_the_span():
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(3, 20))
    frame = Frame.spanning(np.vstack([rows, np.zeros((1, 20))]))
    assert frame.basis.shape == (20, 3)
    v = rng.normal(size=(2, 3)) @ rows
    u = rng.uniform(-1, 1, size=20)
    assert np.allclose(frame.coords(v) @ frame.coords(u), v @ u)
    assert np.allclose(np.linalg.norm(frame.coords(v), axis=1), np.linalg.norm(v, axis=1))
    assert np.allclose(frame.lift(frame.coords(v)), v)
    assert Frame.spanning(rng.normal(size=(5, 4))).basis is None  # spans everything


def test_cell_lp_in_frame_coordinates_answers_as_over_all_inputs():
    rng = np.random.default_rng(7)
    d = 20
    span = rng.normal(size=(3, d))
    span[:, :4] = 0.0  # four inputs no row depends on
    frame = Frame.spanning(span)
    lo, hi = np.zeros(d), np.ones(d)
    full, small = CellLP(lo, hi, cap=1e-2, inset=1e-7), CellLP(lo, hi, cap=1e-2, inset=1e-7, frame=frame)
    assert small.fixed == 3  # rows y - u B = 0
    rows = rng.normal(size=(4, 3)) @ span
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    centre = np.full(d, 0.5)
    for lp in (full, small):
        for row in rows:
            lp.push(row, row @ centre + 0.05)
    flat = rows[:2] * np.array([[1.0], [-1.0]])
    for offsets in (flat @ centre + 0.01, flat @ centre + 50.0):  # a flat through the cell; one far off
        want, got = full.on_flat(flat, offsets), small.on_flat(flat, offsets)
        assert got[0] == pytest.approx(want[0], abs=1e-8)
    margin, u = small.trial(rows[2], rows[2] @ centre - 0.2)
    assert margin == pytest.approx(full.trial(rows[2], rows[2] @ centre - 0.2)[0], abs=1e-8)
    assert np.all(rows[:2] @ u + margin <= rows[:2] @ centre + 0.05 + 1e-8)
    dead = np.setdiff1d(np.arange(d), frame.live)
    assert np.all((u > lo) & (u < hi)) and np.all(u[dead] == 0.5)  # inputs outside the span: centre
    small.pop()
    assert small.trial()[0] == pytest.approx(full.pop() or full.trial()[0], abs=1e-8)


def test_outer_lp_proves_a_flat_outside_the_domain_and_never_one_inside():
    rng = np.random.default_rng(2)
    d = 15
    frame = Frame.spanning(rng.normal(size=(3, d)))
    lo, hi = np.zeros(d), np.ones(d)
    outer = OuterLP(frame, lo, hi, cap=1e-3, tol=1e-7)
    inside = frame.coords(rng.uniform(0.2, 0.8, size=d))
    normals = rng.normal(size=(2, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    reach = outer.support(normals[:1])[0]
    # hyperplanes 0, 1 through the inside point; 2 = hyperplane 0 moved beyond the domain's reach
    outer.set_cell(np.zeros((0, 3)), np.zeros(0), np.vstack([normals, normals[:1]]),
                   np.r_[normals @ inside, reach + 1.0])
    assert outer.misses(np.array([0, 1])) is None
    needed = outer.misses(np.array([2, 1]))
    assert needed is not None and needed[0]
    assert outer.misses(np.array([0])) is None  # the question's bounds were released
    # y_0 >= top + 1 is infeasible over the variable box; combinations that prove nothing fail
    a, top = np.array([[1.0, 0.0, 0.0, 0.0]]), outer.upper[0]
    assert outer._proves(a, np.array([top + 1.0]), np.array([np.inf]), np.array([1.0]))
    assert not outer._proves(a, np.array([top + 1.0]), np.array([np.inf]), np.array([-1.0]))
    assert not outer._proves(a, np.array([top - 0.5]), np.array([np.inf]), np.array([1.0]))
    assert MISS_SHARE < 1.0


@pytest.mark.parametrize("seed,widths,dead", [(3, (4, 5), 0), (4, (5, 6), 1), (5, (4, 4, 3), 0)])
def test_face_count_equals_deletion_restriction_and_scip(seed, widths, dead, monkeypatch):
    rng = np.random.default_rng(seed)
    net = wide_net(12, widths, rng, dead)
    box = Box(np.zeros(12), np.ones(12))
    fast = count_regions(net, box, path="lp")
    monkeypatch.setattr("exactprune.regions.arrangement.count_faces", lambda *args: None)
    slow = count_regions(net, box, path="lp")
    milp = count_regions_milp(net, box)
    assert fast.exact and fast.verified and slow.exact and slow.verified and milp.verified
    assert fast.regions == slow.regions == milp.regions > len(widths)


@pytest.mark.parametrize("seed,widths", [(3, (4, 5)), (5, (4, 4, 3))])
def test_faces_asserted_on_an_open_outer_lp_are_certified_or_dropped(seed, widths, monkeypatch):
    """With an outer LP that never says "no" and no LP-free witness, every question is asserted as
    a face; certification must drop those the cell LP refutes and keep the count exact."""
    rng = np.random.default_rng(seed)
    net = wide_net(12, widths, rng)
    box = Box(np.zeros(12), np.ones(12))
    want = count_regions(net, box, path="lp")
    monkeypatch.setattr(OuterLP, "misses", lambda self, idx: None)
    monkeypatch.setattr("exactprune.regions.arrangement.flat_witness", lambda *args: None)
    dropped, drop = [], faces._Known.drop
    monkeypatch.setattr(faces._Known, "drop", lambda known, mask: (dropped.append(mask), drop(known, mask)))
    monkeypatch.setattr("exactprune.regions.arrangement.ArrangementCounter._node",
                        lambda *args: pytest.fail("the face count fell back to deletion-restriction"))
    got = count_regions(net, box, path="lp")
    assert got.exact and got.verified and got.regions == want.regions
    assert dropped  # refuted faces were asserted and then dropped


def test_dependent_normals_fall_back_to_deletion_restriction(monkeypatch):
    rng = np.random.default_rng(7)
    net = wide_net(10, (4, 4), rng)
    w2 = net.layers[1].weight.copy()
    b2 = net.layers[1].bias.copy()
    w2[3], b2[3] = w2[0] + w2[1], b2[0] + b2[1]  # g3 = g0 + g1: a pencil of three hyperplanes
    net = Network((net.layers[0], Dense(w2, b2), net.layers[2]), net.input_map)
    box = Box(np.zeros(10), np.ones(10))
    calls = []
    original = faces.count_faces

    def spy(*args):
        result = original(*args)
        calls.append(result)
        return result

    monkeypatch.setattr("exactprune.regions.arrangement.count_faces", spy)
    result = count_regions(net, box, path="lp")
    assert None in calls  # a cell where the pencil's axis lies: deletion-restriction counted it
    assert result.exact and result.verified and result.regions == count_regions_milp(net, box).regions
