"""The result of `exactprune regions` and its JSON contract (docs/regions.md, "JSON")."""

from __future__ import annotations

from dataclasses import dataclass

from ..domain import Box
from .search import RegionCount


@dataclass(frozen=True, eq=False)
class RegionsReport:
    """The count of the regions of `model` on `domain` (on a 2-D slice of it when `sliced`; None
    for method "bounds": nothing counted) and the architecture's upper bounds (region_bounds)."""

    model: str
    domain: Box
    sliced: bool
    count: RegionCount | None
    bounds: dict[str, int]

    @property
    def interrupted(self) -> bool:
        """Ctrl-C stopped the count: it is a lower bound."""
        return self.count is not None and self.count.interrupted

    def to_json(self) -> dict:
        """model, domain, slice, then the count's keys (RegionCount.to_json; method "bounds":
        regions 0, exact false, time_s 0, note ""), then bounds, in that order."""
        data = {"model": self.model, "domain": self.domain.to_json(), "slice": self.sliced}
        if self.count is None:
            data.update(regions=0, exact=False, method="bounds", time_s=0.0, note="")
        else:
            data.update(self.count.to_json())
        data["bounds"] = dict(self.bounds)
        return data
