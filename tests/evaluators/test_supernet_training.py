"""Sandwich training resumes exactly from a checkpoint; the supernet and train evaluators score,
cache and explain missing data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import NasError
from evaluators import EVALUATORS, Task
from evaluators.datasets import DatasetNotFoundError, load_split
from evaluators.supernet import training
from evaluators.supernet.checkpoint import load_supernet, save_supernet
from evaluators.supernet.network import MnasNetSupernet, largest_arch, smallest_arch
from evaluators.supernet.training import SandwichTrainer, Schedule
from search_spaces import get_space
from search_spaces.ops.modules import PoolShortcut

SHAPE = {"in_channels": 1, "input_size": 8, "num_classes": 10}
DIRS = (Path("/usr/share/datasets"),)
TASK = Task("mnasnet", dataset="digits", **SHAPE)


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_trainer(seed: int = 0) -> SandwichTrainer:
    torch.manual_seed(seed)
    data = load_split("digits", "train", data_dirs=DIRS, limit=32)
    net = MnasNetSupernet(**SHAPE, width=0.25)
    return SandwichTrainer(net, data, Schedule(epochs=2, batch_size=16, lr=0.1), random_subnets=1, seed=seed)


def test_resuming_from_a_checkpoint_continues_exactly_like_an_uninterrupted_run(tmp_path: Path) -> None:
    straight = tiny_trainer()
    initial = {k: v.clone() for k, v in straight.net.state_dict().items()}
    straight.train_epoch()
    straight.train_epoch()

    first = tiny_trainer()
    first.train_epoch()
    torch.save(first.state_dict(), tmp_path / "state.pt")
    resumed = tiny_trainer(seed=0)
    torch.manual_seed(123)  # a fresh process: different global RNG state, different initial weights
    resumed.net.load_state_dict(MnasNetSupernet(**SHAPE, width=0.25).state_dict())
    resumed.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert resumed.epoch == 1 and not resumed.done
    resumed.train_epoch()

    assert resumed.done
    a, b = straight.net.state_dict(), resumed.net.state_dict()
    changed = [k for k in a if not torch.equal(a[k], b[k])]
    assert not changed, changed[:5]
    initial = tiny_trainer().net.state_dict()
    assert not torch.equal(
        initial["positions.b7_0.mb-res.layer.body.0.0.weight"], a["positions.b7_0.mb-res.layer.body.0.0.weight"]
    )  # the largest subnet's paths were trained


def checkpoint(tmp_path: Path, *, dataset: str = "digits") -> Path:
    torch.manual_seed(0)
    net = MnasNetSupernet(**SHAPE, width=0.25)
    return save_supernet(tmp_path / "supernet.pt", net, info={"dataset": dataset, "space": "mnasnet"})


def test_plain_layers_start_as_their_shortcut_and_the_shortcut_anneals_to_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = tiny_trainer()  # plain_shortcut 0.5: the first half of the 4 steps
    net, specs = trainer.net, trainer.net.ops(smallest_arch())
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    net.eval()
    net.plain_shortcut = 1.0
    h = net.layer(specs[0], x)
    for spec in specs[1:-2]:  # every block layer of the smallest subnet is plain (dconv, noskip)
        assert spec.skip == "none"
        out = net.layer(spec, h)
        torch.testing.assert_close(out, PoolShortcut(spec.c_in, spec.c_out, spec.stride)(h), rtol=0, atol=0)
        h = out
    seen, step = [], SandwichTrainer.step

    def spy(self: SandwichTrainer, *args: object) -> float:
        loss = step(self, *args)  # type: ignore[arg-type]
        seen.append(self.net.plain_shortcut)
        return loss

    monkeypatch.setattr(SandwichTrainer, "step", spy)
    trainer.train_epoch()
    trainer.train_epoch()
    assert seen == [1.0, 0.5, 0.0, 0.0]
    assert net.plain_shortcut == 0.0  # scored and extracted subnets are the plain networks built
    with pytest.raises(ValueError, match="plain_shortcut"):
        SandwichTrainer(net, trainer.data, trainer.schedule, plain_shortcut=1.5)


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    path = checkpoint(tmp_path)
    net, info = load_supernet(path)
    torch.manual_seed(0)
    again = MnasNetSupernet(**SHAPE, width=0.25).eval()
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(net(x, largest_arch()), again(x, largest_arch()))
    assert info == {"dataset": "digits", "space": "mnasnet"} and net.width == 0.25
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(NasError, match="not a supernet checkpoint"):
        load_supernet(tmp_path / "junk.pt")
    old = torch.load(path, weights_only=True) | {"format": "nas-supernet/1"}
    torch.save(old, tmp_path / "old.pt")
    with pytest.raises(NasError, match=r"older version.*nas supernet train"):
        load_supernet(tmp_path / "old.pt")


def test_supernet_evaluator_scores_batches_and_caches_by_arch_id(tmp_path: Path) -> None:
    path = checkpoint(tmp_path)
    evaluator = EVALUATORS.get("supernet")(
        task=TASK, checkpoint=path, data_dirs=DIRS, artifact_id="a1b2", recal_images=64, val_limit=96
    )
    space = get_space("mnasnet")
    a, b = smallest_arch(), space.reference("mnasnet-a1")
    first = evaluator.evaluate([a, b, a])
    assert all(o.ok for o in first) and evaluator.computed == 2
    assert first[0].metrics == first[2].metrics and 0.0 <= first[1].metrics["accuracy"] <= 1.0
    again = evaluator.evaluate([b])
    assert again[0].metrics == first[1].metrics and evaluator.computed == 2
    assert evaluator.provenance() == {
        "evaluator": "supernet",
        "artifact_id": "a1b2",
        "checkpoint": "supernet.pt",
        "width": 0.25,
        "recal_images": 64,
        "val_images": 96,
        "readout": "ridge",
    }
    # the score is the extracted subnet's accuracy after recalibration, the same every time
    fresh = EVALUATORS.get("supernet")(task=TASK, checkpoint=path, data_dirs=DIRS, recal_images=64, val_limit=96)
    assert fresh.evaluate([b])[0].metrics == first[1].metrics


def test_supernet_evaluator_refuses_a_checkpoint_of_another_task(tmp_path: Path) -> None:
    path = checkpoint(tmp_path)
    other = Task("mnasnet", in_channels=1, input_size=28, num_classes=10, dataset="fashion-mnist")
    with pytest.raises(NasError, match="trained for mnasnet at"):
        EVALUATORS.get("supernet")(task=other, checkpoint=path, data_dirs=DIRS)
    with pytest.raises(NasError, match="does not exist"):
        EVALUATORS.get("supernet")(task=TASK, checkpoint=tmp_path / "nope.pt", data_dirs=DIRS)


def test_missing_dataset_says_where_it_looked_and_how_to_get_it(tmp_path: Path) -> None:
    path = checkpoint(tmp_path, dataset="cifar10")
    cifar = Task("mnasnet", dataset="cifar10", **SHAPE)
    with pytest.raises(DatasetNotFoundError) as err:
        EVALUATORS.get("supernet")(task=cifar, checkpoint=path, data_dirs=[tmp_path])
    assert str(tmp_path / "cifar10") in str(err.value) and "cifar-10-python.tar.gz" in str(err.value)
    with pytest.raises(DatasetNotFoundError, match="looked in"):
        EVALUATORS.get("train")(task=cifar, data_dirs=[tmp_path])


def test_train_evaluator_is_deterministic_and_cached() -> None:
    make = EVALUATORS.get("train")
    options = {"task": TASK, "data_dirs": DIRS, "epochs": 1, "train_limit": 64, "val_limit": 64, "width": 0.25}
    evaluator = make(**options)
    arch = smallest_arch()
    first = evaluator.evaluate([arch])[0]
    assert first.ok and 0.0 <= first.metrics["accuracy"] <= 1.0 and first.metrics["train_seconds"] > 0
    cached = evaluator.evaluate([arch])[0]
    assert cached.metrics == first.metrics and cached.seconds < first.seconds
    assert make(**options).evaluate([arch])[0].metrics["accuracy"] == first.metrics["accuracy"]
    assert evaluator.provenance()["epochs"] == 1 and evaluator.provenance()["train_images"] == 64
    with pytest.raises(NasError, match="epochs must be at least 1"):
        make(**{**options, "epochs": 0})


def test_recalibration_changes_only_statistics() -> None:
    from evaluators.supernet.training import recalibrate_bn

    net = MnasNetSupernet(**SHAPE, width=0.25).eval()
    sub = net.extract(largest_arch())
    weights = {k: v.clone() for k, v in sub.named_parameters()}
    recalibrate_bn(sub, np.random.default_rng(0).standard_normal((40, 1, 8, 8)).astype(np.float32), batch_size=16)
    assert not sub.training
    assert all(torch.equal(weights[k], v) for k, v in sub.named_parameters())
    bn = sub[1].body[0][1]
    assert int(bn.num_batches_tracked) == 3 and not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))


def test_drawn_extremes_draw_convop_paths_and_skips_but_keep_the_elastic_extremes() -> None:
    space, rng = get_space("mnasnet"), np.random.default_rng(0)
    fixed = {"largest": largest_arch(space), "smallest": smallest_arch(space)}
    ops: dict[str, set[str]] = {"largest": set(), "smallest": set()}
    skips: set[str] = set()
    for _ in range(40):
        for label, arch in (("largest", largest_arch(space, rng)), ("smallest", smallest_arch(space, rng))):
            for gene, extreme in zip(arch.genome, fixed[label].genome, strict=True):
                op, *elastic, skip = gene.split("_")
                assert elastic == extreme.split("_")[1:-1]  # depth, kernel, filters, SE stay extreme
                ops[label].add(op)
                skips.add(skip)
    assert ops == {"largest": {"conv", "dconv", "mb6"}, "smallest": {"conv", "dconv", "mb3"}}
    assert skips == {"noskip", "idskip", "poolskip"}


def trained_paths(extremes: str, steps: int = 1) -> set[str]:
    """The choice paths whose weights ``steps`` sandwich steps of the extremes alone changed."""
    torch.manual_seed(0)
    data = load_split("digits", "train", data_dirs=DIRS, limit=16 * steps)
    net = MnasNetSupernet(**SHAPE, width=0.25)
    trainer = SandwichTrainer(net, data, Schedule(epochs=1, batch_size=16, lr=0.1), random_subnets=0, extremes=extremes)
    before = {k: v.clone() for k, v in net.state_dict().items()}  # after the trainer zeroed plain paths' last BN
    trainer.train_epoch()
    after = net.state_dict()
    changed = {k.split(".")[2] for k in after if k.startswith("positions.") and not torch.equal(before[k], after[k])}
    return changed - {"fixed"}  # stem and head


def test_drawn_extremes_train_every_convop_path_not_only_mbconv_and_dconv() -> None:
    assert trained_paths("fixed") == {"mb-res", "mb-plain", "dconv-plain"}
    assert {"conv-plain", "conv-res", "dconv-res"} <= trained_paths("drawn")


def test_cycled_extremes_give_each_convop_path_a_sandwich_in_turn() -> None:
    assert trained_paths("cycled") == {"conv-res", "conv-plain"}  # the first step: conv everywhere
    assert trained_paths("cycled", steps=3) == {f"{p}-{s}" for p in ("conv", "dconv", "mb") for s in ("res", "plain")}
    space = get_space("mnasnet")
    assert {g.split("_")[0] for g in largest_arch(space, path="mb").genome} == {"mb6"}
    assert {g.split("_")[0] for g in smallest_arch(space, path="mb").genome if "_r0_" not in g} == {"mb3"}
    assert largest_arch(space, path="mb") == largest_arch(space)
    with pytest.raises(ValueError, match="unknown ConvOp path"):
        largest_arch(space, path="mb6")
    with pytest.raises(ValueError, match="extremes must be one of"):
        SandwichTrainer(
            MnasNetSupernet(**SHAPE, width=0.25),
            load_split("digits", "train", data_dirs=DIRS, limit=16),
            Schedule(epochs=1, batch_size=16),
            extremes="fair",
        )


def test_without_distillation_the_students_learn_the_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    targets: list[str] = []
    soft, hard = training.soft_cross_entropy, training.F.cross_entropy
    monkeypatch.setattr(training, "soft_cross_entropy", lambda *a: targets.append("teacher") or soft(*a))
    monkeypatch.setattr(training.F, "cross_entropy", lambda *a: targets.append("labels") or hard(*a))
    data = load_split("digits", "train", data_dirs=DIRS, limit=16)
    for distill in (True, False):
        net = MnasNetSupernet(**SHAPE, width=0.25)
        SandwichTrainer(net, data, Schedule(epochs=1, batch_size=16), random_subnets=1, distill=distill).train_epoch()
    # one step each: the largest on the labels, then the smallest and one random subnet
    assert targets == ["labels", "teacher", "teacher", "labels", "labels", "labels"]
