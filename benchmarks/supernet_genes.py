"""Which genes does the supernet over- or under-rate? Reads `supernet_ranking.py --out` summaries.

For every summary it prints the Kendall tau of each gene count (layers with a shortcut, layers
per ConvOp, 5x5 and squeeze-excite layers, depth, MACs, parameters) against the scratch truth
and against the supernets' mean score: a gene whose two taus differ much is one the supernet
weighs differently from training from scratch. A second table does the same beyond the count of
layers with a shortcut (what both rankings follow most): truth and score minus their least-squares
fit on that count. With several files, the candidates are pooled. No training; reads the kept
results (benchmarks/results/).

    .venv/bin/python -m benchmarks.supernet_genes benchmarks/results/supernet_ranking-2026-11-29-{spread,random}.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

try:
    from benchmarks._common import gene_counts
except ModuleNotFoundError as e:  # started as a file: the repository root is not on the path
    raise SystemExit("run it from the repository root as a module: python -m benchmarks.supernet_genes") from e


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summaries", type=Path, nargs="+")
    args = parser.parse_args()
    rows = [c for path in args.summaries for c in json.loads(path.read_text())["candidates"]]
    truth = np.array([c["scratch_acc"] for c in rows])
    score = np.array([np.mean(c["supernet_acc"]) for c in rows])
    features = [gene_counts(c["genome"]) | {"MACs": c["macs"], "params": c["params"]} for c in rows]
    print(f"{len(rows)} candidates; supernet (mean score) vs truth: tau {kendalltau(score, truth).statistic:.2f}")
    table(features, truth, score)
    shortcuts = np.array([f["with shortcut"] for f in features], dtype=float)
    truth, score = beyond(truth, shortcuts), beyond(score, shortcuts)
    print(f"\nbeyond the layers with a shortcut: supernet vs truth tau {kendalltau(score, truth).statistic:.2f}")
    table(features, truth, score)


def beyond(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``y`` minus its least-squares line on ``x``: what ``x`` does not explain."""
    slope, intercept = np.polyfit(x, y, 1)
    return y - (slope * x + intercept)


def table(features: list[dict[str, float]], truth: np.ndarray, score: np.ndarray) -> None:
    print(f"{'gene count':16} {'vs truth':>9} {'vs supernet':>12}")
    for name in features[0]:
        values = [f[name] for f in features]
        t, s = kendalltau(values, truth).statistic, kendalltau(values, score).statistic
        print(f"{name:16} {t:+9.2f} {s:+12.2f}")


if __name__ == "__main__":
    main()
