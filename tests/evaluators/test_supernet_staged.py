"""Supernets of the ProxylessNAS and FBNet presets, derived from their stage descriptions: extracted
subnets are `space.build`'s networks with inherited weights; they checkpoint and train."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from evaluators.datasets import load_split
from evaluators.supernet.checkpoint import build_supernet, load_supernet, save_supernet, supernet_class
from evaluators.supernet.network import (
    CONVOP_PATHS,
    FBNetSupernet,
    ProxylessNasSupernet,
    StagedSupernet,
    largest_arch,
    smallest_arch,
)
from evaluators.supernet.training import SandwichTrainer, Schedule
from search_spaces import Architecture, get_space
from tests.evaluators.test_supernet import n_params, perturb

SHAPES = {
    "proxylessnas": {"in_channels": 1, "input_size": 8, "num_classes": 10},
    "fbnet": {"in_channels": 3, "input_size": 32, "num_classes": 100},  # HW-NAS-Bench's CIFAR-100 setting
}
SPACES = tuple(SHAPES)


pytestmark = pytest.mark.usefixtures("one_thread")


def archs(name: str) -> list[Architecture]:
    space = get_space(name)
    rng = np.random.default_rng(4)
    return [
        largest_arch(space),
        smallest_arch(space),
        *space.references().values(),
        largest_arch(space, rng),
        smallest_arch(space, rng),
        *(space.sample(rng) for _ in range(4)),
    ]


def batch(name: str, n: int = 3) -> torch.Tensor:
    shape = SHAPES[name]
    size = (n, shape["in_channels"], shape["input_size"], shape["input_size"])
    return torch.randn(*size, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("name", SPACES)
def test_extract_equals_build_in_parameters_and_output(name: str) -> None:
    torch.manual_seed(0)
    net = build_supernet(name, shape=SHAPES[name])
    perturb(net)
    net.eval()
    space, x = get_space(name), batch(name)
    for arch in archs(name):
        sub = net.extract(arch)
        built = space.build(arch, **SHAPES[name])
        assert n_params(sub) == n_params(built) == space.cost(arch, **SHAPES[name]).params, arch.genome
        built.load_state_dict(sub.state_dict())
        with torch.no_grad():
            expected = net(x, arch)
            torch.testing.assert_close(sub(x), expected, rtol=0, atol=0)
            torch.testing.assert_close(built.eval()(x), expected, rtol=1e-5, atol=1e-6)


def test_supernet_classes_and_paths() -> None:
    assert supernet_class("proxylessnas") is ProxylessNasSupernet and supernet_class("fbnet") is FBNetSupernet
    proxyless = build_supernet("proxylessnas", shape=SHAPES["proxylessnas"], width=0.25)
    assert proxyless.convop_paths == ("dconv", "mb")
    elastic = proxyless.positions["b2_0"]["mb-plain"]
    assert set(elastic.kernel_transforms) == {"body_1_0_weight_7to5", "body_1_0_weight_5to3"}
    assert set(proxyless.positions["b2_1"]) == {"mb-res"}  # later layers: identity shortcut (or zero)
    fbnet = build_supernet("fbnet", shape=SHAPES["fbnet"], width=0.25)
    assert fbnet.convop_paths == ("conv", "mb", "mbg2")
    assert set(fbnet.positions["b2_0"]) == {"conv-plain", "mb-plain", "mbg2-plain"}  # skip -> 1x1 conv
    assert all(c % 2 == 0 for c in (s.c_out for s in fbnet.ops(fbnet.space.reference("fbnet-c"))[:-1]))


@pytest.mark.parametrize("name", SPACES)
def test_reduced_width_subnets_and_checkpoints(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = build_supernet(name, shape=SHAPES[name], width=0.25)
    perturb(net, seed=3)
    net.eval()
    x = batch(name)
    save_supernet(tmp_path / "s.pt", net, info={"epochs": 0})
    loaded, info = load_supernet(tmp_path / "s.pt")
    assert isinstance(loaded, StagedSupernet) and loaded.space.name == name and info == {"epochs": 0}
    for arch in archs(name)[:4]:
        with torch.no_grad():
            expected = net(x, arch)
            torch.testing.assert_close(net.extract(arch)(x), expected, rtol=0, atol=0)
            torch.testing.assert_close(loaded(x, arch), expected, rtol=0, atol=0)


@pytest.mark.parametrize("name", SPACES)
def test_importance_sorting_keeps_the_largest_subnet(name: str) -> None:
    torch.manual_seed(1)
    net = build_supernet(name, shape=SHAPES[name], width=0.5)
    perturb(net, seed=2)
    x, largest = batch(name, 4), largest_arch(get_space(name))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    torch.nn.functional.cross_entropy(net.eval()(x, largest), torch.arange(4)).backward()
    optimizer.step()
    with torch.no_grad():
        before = net(x, largest)
    net.sort_channels(optimizer)
    with torch.no_grad():
        torch.testing.assert_close(net(x, largest), before, rtol=1e-4, atol=1e-5)


def test_extremes_of_layer_wise_spaces() -> None:
    proxyless, fbnet = get_space("proxylessnas"), get_space("fbnet")
    assert set(largest_arch(proxyless).genome) == {"k7_e6"}
    small = smallest_arch(proxyless).genome
    assert small[:4] == ("k3_e3", "zero", "zero", "zero") and small[-1] == "k3_e3"  # first layers cannot be zero
    assert set(largest_arch(fbnet).genome) == {"k5_e6"} and set(smallest_arch(fbnet).genome) == {"skip"}
    for path in CONVOP_PATHS:  # the trainer's cycled extremes: a family a space lacks falls back to all
        assert largest_arch(fbnet, path=path) in (largest_arch(fbnet), fbnet.from_genome(["skip"] * 22))
    grouped = {largest_arch(fbnet, np.random.default_rng(s)).genome for s in range(5)}
    assert any("k5_e1_g2" in g for g in grouped)


@pytest.mark.parametrize("name", SPACES)
def test_a_short_sandwich_epoch_trains(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # on this AMD EPYC host (2026-12-04) oneDNN aborts the process in the FBNet supernet's backward
    # pass; PyTorch's own CPU kernels run it. Open problem (see the stop note), not a fix.
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)
    shape = SHAPES[name]
    torch.manual_seed(0)
    net = build_supernet(name, shape=shape, width=0.25)
    if shape["in_channels"] == 1:
        data = load_split("digits", "train", data_dirs=(Path("/usr/share/datasets"),), limit=32)
    else:  # random CIFAR-shaped images: the step runs, nothing is learned
        from evaluators.datasets import Arrays

        g = np.random.default_rng(0)
        images = g.standard_normal((32, 3, 32, 32)).astype(np.float32)
        data = Arrays(images, g.integers(0, 100, 32).astype(np.int64))
    trainer = SandwichTrainer(net, data, Schedule(epochs=1, batch_size=16, lr=0.05), random_subnets=1)
    metrics = trainer.train_epoch()
    assert np.isfinite(metrics["loss"]) and trainer.done
