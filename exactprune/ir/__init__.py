"""The IR: a Network of layers behind one protocol (Dense, Conv2d), each with an Activation, and
the input map in front of them. Frozen dataclasses, evaluated in float64; and the phase codes
of two-phase neurons."""

from .activation import IDENTITY, KINDS, RELU, Activation, activation, leaky_relu
from .conv import Conv2d
from .layers import Dense, InputMap, Layer
from .network import Network
from .phase import ACTIVE, INACTIVE, STABLE, UNKNOWN, UNSTABLE

__all__ = ["IDENTITY", "KINDS", "RELU", "Activation", "activation", "leaky_relu", "Conv2d", "Dense",
           "InputMap", "Layer", "Network", "ACTIVE", "INACTIVE", "STABLE", "UNKNOWN",
           "UNSTABLE"]
