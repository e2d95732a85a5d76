"""Dense.columns: the inputs the written model reads (a Gather); the other columns are zero."""

import numpy as np
import pytest

from exactprune.ir import Dense

W = np.array([[1.0, 0.0, 2.0, 0.0], [3.0, 0.0, 4.0, 0.0]])


def test_columns_count_the_written_form_and_keep_the_map():
    layer = Dense(W, np.ones(2), columns=(0, 2))
    assert (layer.n_in, layer.n_read, layer.n_params, layer.n_macs) == (4, 2, 6, 4)
    h = np.arange(8.0).reshape(2, 4)
    assert np.array_equal(layer.affine(h), Dense(W, np.ones(2)).affine(h))


def test_a_read_column_left_out_is_refused():
    with pytest.raises(ValueError, match="others' weights zero"):
        Dense(W, np.ones(2), columns=(0,))
    with pytest.raises(ValueError, match="sorted distinct"):
        Dense(W, np.ones(2), columns=(2, 0))
    with pytest.raises(ValueError, match="sorted distinct"):
        Dense(W, np.ones(2), columns=(0, 2, 4))


def test_edits_keep_or_drop_the_record():
    layer = Dense(W, np.ones(2), columns=(0, 2))
    assert layer.with_params(W[:1], np.ones(1), (0,)).columns == (0, 2)  # rows: kept
    assert layer.with_params(W + 1, np.ones(2)).columns is None  # a zero column filled: dropped
    kept = layer.keep_inputs(np.array([False, True, True, True]))
    assert kept.columns == (1,) and kept.n_in == 3
