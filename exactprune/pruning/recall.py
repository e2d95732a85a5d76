"""Recall distortion: how pruning changes each class's recall relative to the accuracy.

Good et al., "Recall Distortion in Neural Network Pruning and the Undecayed Pruning Algorithm"
(NeurIPS 2022), call it intensification when pruning makes recall relatively worse for a class
whose recall is below the accuracy and relatively better for a class above it. With recall r_c
and accuracy a before, r'_c and a' after, the relative recall is rho_c = r_c / a; class c is
intensified when (rho'_c - rho_c) (rho_c - 1) > 0 (its relative recall moved away from 1), and
the model-level intensification ratio is the share of intensified classes among those with
rho_c != 1 and rho'_c != rho_c: above 0.5 pruning intensified the distortion, below 0.5 it
corrected it. Each class's change relative to the change in accuracy is (r'_c - r_c) / (a' - a).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def per_class_recall(y: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Recall of each class 0..n_classes-1 (NaN for a class without rows)."""
    hits = np.bincount(y[predicted == y], minlength=n_classes).astype(float)
    rows = np.bincount(y, minlength=n_classes).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(rows > 0, hits / rows, np.nan)


@dataclass(frozen=True, eq=False)
class RecallReport:
    """Per-class recall and accuracy before and after, on the same labelled rows."""

    before: np.ndarray
    after: np.ndarray
    accuracy_before: float
    accuracy_after: float

    @classmethod
    def of(cls, y: np.ndarray, predicted_before: np.ndarray,
           predicted_after: np.ndarray, n_classes: int) -> "RecallReport":
        return cls(per_class_recall(y, predicted_before, n_classes),
                   per_class_recall(y, predicted_after, n_classes),
                   float(np.mean(predicted_before == y)), float(np.mean(predicted_after == y)))

    @property
    def drops(self) -> np.ndarray:
        """r_c - r'_c per class (positive: the class lost recall)."""
        return self.before - self.after

    @property
    def relative_change(self) -> np.ndarray:
        """(r'_c - r_c) / (a' - a); NaN when the accuracy did not change."""
        change = self.accuracy_after - self.accuracy_before
        return (self.after - self.before) / change if change else np.full_like(self.before, np.nan)

    @property
    def intensified(self) -> np.ndarray:
        """+1 intensified, -1 corrected, 0 neither (rho on 1 or unchanged, or no rows)."""
        if self.accuracy_before == 0 or self.accuracy_after == 0:
            return np.zeros(self.before.size, dtype=int)
        rho, rho_after = self.before / self.accuracy_before, self.after / self.accuracy_after
        sign = np.sign((rho_after - rho) * (rho - 1.0))
        return np.nan_to_num(sign).astype(int)

    @property
    def intensification_ratio(self) -> float | None:
        """The share of intensified classes among those that moved (None: none moved)."""
        moved = self.intensified[self.intensified != 0]
        return float(np.mean(moved > 0)) if moved.size else None

    def to_json(self) -> dict:
        def floats(values):
            return [None if np.isnan(v) else round(float(v), 6) for v in values]

        return {"accuracy_before": self.accuracy_before, "accuracy_after": self.accuracy_after,
                "recall_before": floats(self.before), "recall_after": floats(self.after),
                "recall_drop": floats(self.drops),
                "change_relative_to_accuracy": floats(self.relative_change),
                "intensified": self.intensified.tolist(),
                "intensification_ratio": self.intensification_ratio,
                "max_recall_drop": float(np.nanmax(self.drops)) if self.drops.size else 0.0}
