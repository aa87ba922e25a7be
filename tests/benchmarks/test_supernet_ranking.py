"""benchmarks/supernet_ranking.py without training: its flags, its config, its cache key and its summary
format (which benchmarks/supernet_genes.py and the kept results depend on)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from benchmarks import supernet_ranking as bench
from benchmarks._common import gene_counts
from evaluators.base import Task

ROOT = Path(__file__).parents[2]
KEPT = ROOT / "benchmarks" / "results" / "supernet_ranking-2026-11-30-spread-ridge.json"


def test_every_flag_is_a_config_field_and_the_defaults_agree() -> None:
    dests = {a.dest for a in bench.build_parser()._actions} - {"help"}
    assert dests - {"no_distill"} == {f.name for f in fields(bench.RankingConfig)} - {"distill"}
    assert bench.RankingConfig.from_args([]) == bench.RankingConfig()
    config = bench.RankingConfig.from_args(
        ["--no-distill", "--scratch-seeds", "3", "--home", "x", "--extremes", "cycled"]
    )
    assert (config.distill, config.scratch_seeds, config.home, config.extremes) == (False, 3, Path("x"), "cycled")
    with pytest.raises(SystemExit):
        bench.RankingConfig.from_args(["--supernet-seeds", "0"])


def test_the_default_scratch_recipe_finds_the_kept_ground_truth() -> None:
    config = bench.RankingConfig(home=Path("/nonexistent"))
    digest = __import__("hashlib").sha256(json.dumps(config.scratch_recipe("fashion-mnist")).encode()).hexdigest()
    assert (ROOT / "benchmarks" / "results" / f"scratch-{digest[:12]}.json").exists()
    run = config.run("fashion-mnist")
    assert (run.epochs, run.subset, run.width, run.recal_images, run.val_limit, run.distill) == (4, 12000, 0.5, 128,
                                                                                              2000, True)  # fmt: skip


def test_the_summary_of_kept_results_is_rebuilt_with_the_same_keys_and_values() -> None:
    kept = json.loads(KEPT.read_text())
    config = bench.RankingConfig(pick=kept["pick"], scratch_seeds=kept["scratch_seeds"], readout=kept["readout"])
    shape = {"in_channels": 1, "input_size": 28, "num_classes": 10}
    fake = SimpleNamespace(
        config=config, dataset=kept["dataset"], task=Task("mnasnet", dataset="fashion-mnist", **shape)
    )
    rows = kept["candidates"]
    ranked = [
        {
            **s,
            "scores": [r["supernet_acc"][i] for r in rows],
            "extra_scores": [],
            "seconds": [r["supernet_s"] for r in rows],
        }
        for i, s in enumerate(kept["supernets"])
    ]
    run = config.run(kept["dataset"])
    summary = bench.summarize(fake, run, rows, ranked, seeds_tau=kept["scratch_seed_kendall_tau"], extra=0)  # type: ignore[arg-type]
    assert list(summary) == [k for k in kept if k != "speedup_same_run"]
    for key in ("zero_cost_kendall_tau", "kendall_tau", "kendall_tau_inherited_readout", "speedup", "supernets"):
        assert summary[key] == kept[key], key
    assert gene_counts(rows[0]["genome"])["with shortcut"] >= 0
    assert np.isclose(summary["scratch_seconds_per_candidate"], kept["scratch_seconds_per_candidate"])


def test_the_scripts_run_as_modules_and_say_so_when_started_as_files() -> None:
    module = subprocess.run([sys.executable, "-m", "benchmarks.supernet_ranking", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert module.returncode == 0 and "--agreement-archs" in module.stdout
    script = subprocess.run([sys.executable, "benchmarks/supernet_genes.py", str(KEPT)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert script.returncode == 1 and "python -m benchmarks.supernet_genes" in script.stderr
