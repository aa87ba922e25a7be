"""How well a latency table predicts end-to-end measurements: the report and its scatter plot.

Measured values are drift-corrected to the table's machine speed (see
`evaluators.devices.timing`); ``raw_*`` fields compare the same predictions with the
uncorrected medians, to show what the correction is worth on the machine at hand.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.stats import kendalltau

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path


@dataclass(frozen=True)
class ValidationReport:
    """Predicted vs measured latency (ms) of ``n`` architectures."""

    n: int
    within_5pct: float
    within_10pct: float
    rmse_ms: float
    mape_pct: float
    kendall_tau: float
    mean_measured_ms: float
    table_id: str
    device: str
    space: str
    raw_within_10pct: float | None = None
    raw_kendall_tau: float | None = None

    @classmethod
    def compute(
        cls,
        predicted: Sequence[float],
        measured: Sequence[float],
        *,
        table_id: str,
        device: str,
        space: str,
        raw: Sequence[float] | None = None,
    ) -> ValidationReport:
        p, m = np.asarray(predicted, float), np.asarray(measured, float)
        rel = np.abs(p - m) / m
        r = np.asarray(raw, float) if raw is not None else None
        return cls(
            n=len(m),
            within_5pct=float((rel <= 0.05).mean()),
            within_10pct=float((rel <= 0.10).mean()),
            rmse_ms=float(np.sqrt(np.mean((p - m) ** 2))),
            mape_pct=float(rel.mean() * 100),
            kendall_tau=float(kendalltau(p, m).statistic) if len(m) > 1 else float("nan"),
            mean_measured_ms=float(m.mean()),
            table_id=table_id,
            device=device,
            space=space,
            raw_within_10pct=None if r is None else float((np.abs(p - r) / r <= 0.10).mean()),
            raw_kendall_tau=None if r is None or len(r) < 2 else float(kendalltau(p, r).statistic),
        )

    def summary(self) -> str:
        raw = (
            ""
            if self.raw_within_10pct is None
            else f" (without drift correction: {self.raw_within_10pct:.1%} within ±10%, tau {self.raw_kendall_tau:.3f})"
        )
        return (
            f"{self.n} architectures on {self.device}: {self.within_5pct:.1%} within ±5%, "
            f"{self.within_10pct:.1%} within ±10%, RMSE {self.rmse_ms:.3f} ms "
            f"(mean latency {self.mean_measured_ms:.2f} ms), MAPE {self.mape_pct:.2f}%, "
            f"Kendall tau {self.kendall_tau:.3f}{raw}"
        )

    def write(
        self,
        folder: Path,
        predicted: Sequence[float],
        measured: Sequence[float],
        archs: Sequence[str],
        *,
        raw: Sequence[float] | None = None,
    ) -> None:
        """``report.json`` (the figures and every point) and ``scatter.png`` in ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        raws = list(raw) if raw is not None else [None] * len(measured)
        points = [
            {"arch_id": a, "predicted_ms": float(p), "measured_ms": float(m), "raw_ms": r}
            for a, p, m, r in zip(archs, predicted, measured, raws, strict=True)
        ]
        doc: dict[str, Any] = {**asdict(self), "points": points}
        (folder / "report.json").write_text(json.dumps(doc, indent=1))
        _scatter(folder / "scatter.png", np.asarray(predicted), np.asarray(measured), self)


def _scatter(path: Path, predicted: np.ndarray, measured: np.ndarray, report: ValidationReport) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=120)
    lo, hi = float(min(predicted.min(), measured.min())) * 0.95, float(max(predicted.max(), measured.max())) * 1.05
    grid = np.linspace(lo, hi, 2)
    ax.fill_between(grid, grid * 0.9, grid * 1.1, color="tab:green", alpha=0.12, label="±10%")
    ax.fill_between(grid, grid * 0.95, grid * 1.05, color="tab:green", alpha=0.18, label="±5%")
    ax.plot(grid, grid, color="tab:green", lw=1)
    ax.scatter(measured, predicted, s=12, color="tab:blue", alpha=0.8)
    ax.set(xlim=(lo, hi), ylim=(lo, hi), ylabel="LUT prediction (ms)")
    ax.set_xlabel("measured end-to-end latency (ms, drift-corrected)")
    ax.set_title(
        f"{report.space} on {report.device}: {report.within_10pct:.0%} within ±10%, tau {report.kendall_tau:.2f}",
        fontsize=9,
    )
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
