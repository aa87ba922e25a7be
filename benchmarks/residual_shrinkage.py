"""How much the additive predictor's residual trees help, on NAS-Bench-201 device columns.

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.residual_shrinkage [--n 1000] [--seeds 3]

Trains the service's additive predictor on n measured architectures (seeded draws, as
`benchmarks.latency_predictors`) and scores ``base x exp(lambda x residual)`` for lambda = 0
(the per-operator base alone) to 1 (the shipped predictor) on the held-out functions, beside the
op-count least-squares baseline: Kendall tau, share within ±10%, MAPE, means over the draws.
"""

from __future__ import annotations

import argparse

import numpy as np
import xgboost as xgb

from benchmarks import latency_predictors as lp
from predictors import PREDICTORS, Featurizer
from predictors.validation import function_key
from search_spaces import get_space

LAMBDAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--devices", default="hwnb_raspi4_lat_ms,hwnb_pixel3_lat_ms,galaxy_s7_lat_ms")
    args = parser.parse_args()
    shape = lp.SHAPES["nb201"]
    space = get_space("nb201")
    archs, cols, _ = lp.load("nb201")
    fz = Featurizer(space, shape, op_counts=True)
    x = fz.transform(archs)
    keys = np.array([function_key(space, a, shape) for a in archs])
    op_counts = np.array([[a.genome.count(op) for op in lp.OPS["nb201"]] for a in archs], dtype=float)
    for col in args.devices.split(","):
        y = cols[col]
        measured = np.flatnonzero(np.isfinite(y))
        rows: dict[str, list[dict[str, float]]] = {}
        for seed in range(args.seeds):
            train = np.random.default_rng(seed).choice(measured, size=args.n, replace=False)
            test = lp.held_out(keys, measured, train)
            model = PREDICTORS.get("additive")(featurizer=fz, metric="latency_ms", seed=seed).fit(x[train], y[train])
            base = model.base_prediction(x[test])
            residual = (
                np.stack([m.predict(xgb.DMatrix(model._residual_x(x[test], base))) for m in model.models]).mean(0)
                if model.models
                else np.zeros(len(test))
            )
            for lam in LAMBDAS:
                rows.setdefault(f"lambda {lam:.2f}", []).append(lp.scores(y[test], base * np.exp(lam * residual)))
            coef = lp.lstsq(op_counts[train], y[train])
            rows.setdefault("op-count LS", []).append(lp.scores(y[test], lp.apply(op_counts[test], coef)))
        for name, v in rows.items():
            means = {m: float(np.mean([r[m] for r in v])) for m in ("tau", "w10", "mape")}
            print(f"{col:24s} {name:12s} tau {means['tau']:.3f}  ±10% {means['w10']:.1%}  MAPE {means['mape']:.1%}")


if __name__ == "__main__":
    main()
