"""Conv, BatchNormalization, Pad, AveragePool, GlobalAveragePool, MaxPool, Flatten / Reshape /
Transpose / Gather and NHWC inputs: the imported network (float64) and the written model agree
with onnxruntime."""

import numpy as np
import pytest
from builders import conv_chain, rel_dev, run_ort

from exactprune.errors import UnsupportedModelError
from exactprune.ir import Conv2d
from exactprune.onnx_io import convert, to_onnx

CHAINS = {
    "conv": [("Conv", {"out": 3, "k": 3}), ("Relu", {})],
    "strides_pads": [("Conv", {"out": 4, "k": 3, "strides": [2, 1], "pads": [1, 0, 2, 1]}),
                     ("Relu", {}), ("Conv", {"out": 2, "k": 2, "bias": False}), ("Relu", {})],
    "dilations": [("Conv", {"out": 3, "k": 2, "dilations": [2, 2]}), ("Relu", {})],
    "depthwise": [("Conv", {"out": 4, "k": 3, "group": 2}), ("Relu", {}),
                  ("Conv", {"out": 4, "k": 2, "group": 4}), ("Relu", {})],
    "same_upper": [("Conv", {"out": 2, "k": 3, "auto_pad": "SAME_UPPER", "strides": [2, 2]}),
                   ("Relu", {})],
    "same_lower": [("Conv", {"out": 2, "k": 2, "auto_pad": "SAME_LOWER"}), ("Relu", {})],
    "valid": [("Conv", {"out": 2, "k": 3, "auto_pad": "VALID"}), ("Relu", {})],
    "batchnorm": [("Conv", {"out": 3, "k": 3}), ("BatchNormalization", {}), ("Relu", {})],
    "pad_conv": [("Conv", {"out": 3, "k": 2}), ("Relu", {}),
                 ("Pad", {"pads": [0, 0, 1, 2, 0, 0, 2, 1]}), ("Conv", {"out": 2, "k": 3}),
                 ("Relu", {})],
    "avgpool": [("Conv", {"out": 3, "k": 2}), ("Relu", {}),
                ("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2]})],
    "avgpool_pads": [("Conv", {"out": 3, "k": 2}), ("Relu", {}),
                     ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1],
                                      "count_include_pad": 1})],
    "pad_avgpool": [("Conv", {"out": 2, "k": 2}), ("Relu", {}),
                    ("Pad", {"pads": [0, 0, 1, 1, 0, 0, 1, 1]}),
                    ("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2]})],
    "global": [("Conv", {"out": 3, "k": 3}), ("Relu", {}), ("GlobalAveragePool", {})],
    "pool_then_conv": [("Conv", {"out": 3, "k": 2}), ("Relu", {}),
                       ("AveragePool", {"kernel_shape": [2, 2]}), ("Conv", {"out": 2, "k": 2}),
                       ("Relu", {})],
    "maxpool": [("Conv", {"out": 3, "k": 2}), ("Relu", {}),
                ("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2]})],
    "maxpool_3x3_pads": [("Conv", {"out": 2, "k": 2}), ("Relu", {}),
                         ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2],
                                      "pads": [1, 1, 1, 1]}), ("Conv", {"out": 2, "k": 2}),
                         ("Relu", {})],
    "maxpool_dilated": [("Conv", {"out": 2, "k": 2}), ("Relu", {}),
                        ("MaxPool", {"kernel_shape": [2, 3], "dilations": [2, 1]})],
    "channels_last_reshape": [("Conv", {"out": 3, "k": 3}), ("Relu", {}),
                              ("Transpose", {"perm": [0, 2, 3, 1]}),
                              ("Reshape", {"const": np.array([0, -1])})],
    "transpose_flatten": [("Conv", {"out": 3, "k": 3}), ("Relu", {}),
                          ("Transpose", {"perm": [0, 2, 3, 1]})],
    "gather_channels": [("Conv", {"out": 3, "k": 3}), ("Relu", {}),  # one read twice
                        ("Gather", {"axis": 1, "const": np.array([2, 0, 2])})],
    "pool_gather": [("Conv", {"out": 3, "k": 2}), ("Relu", {}),
                    ("AveragePool", {"kernel_shape": [2, 2]}),
                    ("Gather", {"axis": -1, "const": np.array([0, -1])})],
}


@pytest.mark.parametrize("name", sorted(CHAINS))
@pytest.mark.parametrize("nhwc", [False, True])
def test_chain_imports_and_exports_as_onnxruntime_computes(name, nhwc):
    model = conv_chain(CHAINS[name], nhwc=nhwc, seed=len(name))
    loaded = convert(model)
    assert any(isinstance(layer, Conv2d) for layer in loaded.network.layers)
    shape = [int(d.dim_value) or 4 for d in model.graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(1).normal(size=[4] + shape[1:]).astype(np.float32)
    want = run_ort(model, x)
    assert rel_dev(want, loaded.network.forward(x.reshape(4, -1))) < 1e-5
    written = to_onnx(loaded.network, interface=loaded.interface)
    ops = [node.op_type for node in written.graph.node]
    assert ("Conv" in ops) and not any(node.op_type == "Gemm" and node.name.startswith("Conv")
                                       for node in written.graph.node)
    assert rel_dev(want, run_ort(written, x)) < 1e-5
    if nhwc:
        assert written.graph.input[0] == model.graph.input[0]  # the input layout is kept


def test_pad_opset_2_attribute_form():
    model = conv_chain(CHAINS["pad_conv"], opset=10)
    x = np.random.default_rng(0).normal(size=(3, 2, 7, 7)).astype(np.float32)
    assert rel_dev(run_ort(model, x), convert(model).network.forward(x.reshape(3, -1))) < 1e-5


@pytest.mark.parametrize("ops, message", [
    ([("Conv", {"out": 2, "k": 2}), ("Relu", {}), ("Pad", {"pads": [0, 0, 1, 1, 0, 0, 1, 1],
                                                           "mode": "reflect"})],
     "only constant padding with 0"),
    ([("Conv", {"out": 2, "k": 2}), ("Relu", {}),
      ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]})], "count_include_pad=0"),
    ([("Conv", {"out": 2, "k": 2}), ("MaxPool", {"kernel_shape": [2, 2]})],
     "MaxPool is read only on the output of a Relu"),
])
def test_refused_forms_name_the_node(ops, message):
    with pytest.raises(UnsupportedModelError, match=message):
        convert(conv_chain(ops))


def test_a_scale_between_pad_and_conv_is_not_lost():
    ops = [("Conv", {"out": 2, "k": 2}), ("Relu", {}),
           ("Pad", {"pads": [0, 0, 1, 1, 0, 0, 1, 1]}), ("Mul", {"const": 2.0}),
           ("Conv", {"out": 2, "k": 2})]
    with pytest.raises(UnsupportedModelError, match="moves or scales"):
        convert(conv_chain(ops))
