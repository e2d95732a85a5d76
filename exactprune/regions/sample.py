"""A sampling estimate: the number of distinct activation patterns among uniform samples.

Every pattern seen at a uniform random point belongs, with probability one, to a
full-dimensional region: a pre-activation that is not zero on a whole region vanishes only on a
null set there, so strict signs hold on a neighbourhood of the point, and a pre-activation that
is exactly 0 at the point is 0 on the region around it (a dead neuron, or one whose inputs are
all dead there) and counts as inactive. The count is a lower bound.
"""

from __future__ import annotations

import time

import numpy as np

from ..domain import Box
from ..ir import Network
from .search import RegionCount

BATCH = 8192


def sample_regions(network: Network, box: Box, samples: int = 100_000, seed: int = 0) -> RegionCount:
    """Distinct patterns among `samples` uniform points of `box` (a lower bound)."""
    start = time.monotonic()
    rng = np.random.default_rng(seed)
    seen: set[bytes] = set()
    piecewise = [k for k in network.two_phase if k < len(network.hidden)]
    for first in range(0, samples, BATCH):
        x = rng.uniform(box.lo, box.hi, size=(min(BATCH, samples - first), box.size))
        pre = network.preactivations(x)
        g = np.hstack([pre[k] for k in piecewise]) if piecewise else np.zeros((x.shape[0], 0))
        seen.update(row.tobytes() for row in np.packbits(g > 0.0, axis=1))
    return RegionCount(regions=max(len(seen), 1), exact=False, method="sample",
                       time_s=time.monotonic() - start,
                       note=f"distinct patterns among {samples} uniform samples: lower bound")
