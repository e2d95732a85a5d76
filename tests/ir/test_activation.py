"""The Activation value object: validation, the image of an interval, the linear relaxation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exactprune.ir import IDENTITY, RELU, Activation, Dense, leaky_relu


def test_relaxation_lines_enclose_the_activation():
    layer = Dense(np.eye(3), np.zeros(3), leaky_relu(0.2))
    lo, up = np.array([-2.0, 0.5, -3.0]), np.array([1.0, 2.0, -1.0])
    ls, li, us, ui = layer.activation.relaxation(lo, up)
    t = np.linspace(lo, up, 101)
    f = layer.activation.apply(t)
    assert (ls * t + li <= f + 1e-12).all() and (us * t + ui >= f - 1e-12).all()
    assert np.allclose(us[1:], [1.0, 0.2]) and np.allclose(ls[1:], [1.0, 0.2])  # stable: exact


def test_an_activation_is_validated():
    with pytest.raises(ValueError, match="unknown activation 'tanh'"):
        Activation("tanh")
    with pytest.raises(ValueError, match="not a finite number"):
        leaky_relu(float("nan"))
    with pytest.raises(ValueError, match="relu takes no slope"):
        Activation("relu", 0.5)
    assert Dense(np.eye(2), np.zeros(2), "identity").activation == IDENTITY


def test_the_properties_of_each_kind():
    assert RELU.two_phase and RELU.inactive_slope == 0.0 and RELU.monotone
    assert not IDENTITY.two_phase and IDENTITY.inactive_slope == 1.0
    assert not leaky_relu(-0.5).monotone and leaky_relu(-2.0).max_slope == 2.0
    assert str(leaky_relu(0.1)) == "leaky_relu(0.1)"


@settings(max_examples=200, deadline=None)
@given(alpha=st.floats(-3.0, 3.0), a=st.floats(-5.0, 5.0), b=st.floats(-5.0, 5.0))
def test_image_and_relaxation_hold_on_the_interval(alpha, a, b):
    act = leaky_relu(alpha)
    lo, up = np.array([min(a, b)]), np.array([max(a, b)])
    g = np.vstack([np.linspace(lo, up, 401), np.clip(0.0, lo, up)[None, :]])  # the kink too
    h = act.apply(g)
    low, high = act.image(lo, up)
    assert (h >= low - 1e-12).all() and (h <= high + 1e-12).all()
    assert np.isclose(h.min(), low).all() and np.isclose(h.max(), high).all()  # tight
    ls, li, us, ui = act.relaxation(lo, up)
    assert (ls * g + li <= h + 1e-9).all() and (us * g + ui >= h - 1e-9).all()
