"""The MnasNet supernet: extracted subnets are exactly `space.build`'s networks with inherited weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from evaluators.supernet.network import MnasNetSupernet, largest_arch, scaled_ops, smallest_arch
from evaluators.supernet.training import fold_batchnorm
from search_spaces import get_space
from search_spaces.ops.modules import Network

SHAPE = {"in_channels": 1, "input_size": 8, "num_classes": 10}  # digits


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def perturb(net: MnasNetSupernet, seed: int = 0) -> None:
    """Non-trivial kernel transforms and BatchNorm statistics, so that slicing mistakes show."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in [*net.named_parameters(), *net.named_buffers()]:
            if "kernel_transforms" in name:
                t.add_(0.2 * torch.randn(t.shape, generator=g))
            elif name.endswith("running_mean"):
                t.copy_(0.1 * torch.randn(t.shape, generator=g))
            elif name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif t.dim() == 1 and t.is_floating_point():  # BN affine, biases
                t.add_(0.1 * torch.randn(t.shape, generator=g))


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def supernet() -> MnasNetSupernet:
    torch.manual_seed(0)
    net = MnasNetSupernet(**SHAPE)
    perturb(net)
    return net.eval()


def archs() -> list:
    space = get_space("mnasnet")
    rng = np.random.default_rng(3)
    chosen = [largest_arch(), smallest_arch(), *space.references().values(), *(space.sample(rng) for _ in range(3))]
    p = space.to_params(space.reference("mnasnet-a1"))  # regular convs with pooled shortcuts and 3x3 kernels
    p.update({f"b{b}_{k}": v for b in range(1, 8) for k, v in (("op", "conv"), ("skip", "poolskip"))})
    chosen.append(space.decode(p))
    return chosen


def test_extract_equals_build_in_structure_parameters_and_output(supernet: MnasNetSupernet) -> None:
    space = get_space("mnasnet")
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    for arch in archs():
        sub = supernet.extract(arch)
        built = space.build(arch, **SHAPE)
        assert n_params(sub) == n_params(built) == space.cost(arch, **SHAPE).params, arch.genome
        assert {k: v.shape for k, v in sub.state_dict().items()} == {k: v.shape for k, v in built.state_dict().items()}
        built.load_state_dict(sub.state_dict())  # "weights copied" into a freshly built network
        built.eval()
        with torch.no_grad():
            expected = supernet(x, arch)
            torch.testing.assert_close(sub(x), expected, rtol=0, atol=0)
            torch.testing.assert_close(built(x), expected, rtol=1e-5, atol=1e-6)


def test_channels_last_subnets_compute_the_same_function_and_gradients() -> None:
    torch.manual_seed(0)
    net = MnasNetSupernet(**SHAPE, width=0.5)
    perturb(net)
    net.eval()  # train-mode BatchNorm over 4 numbers per channel would amplify rounding differences
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    for arch in archs()[:4]:
        grads, outs = [], []
        for cl in (False, True):
            net.zero_grad(set_to_none=True)
            net.channels_last = cl
            out = net(x, arch)
            out.square().sum().backward()
            outs.append(out.detach())
            grads.append({n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None})
        net.channels_last = False
        torch.testing.assert_close(outs[1], outs[0], rtol=1e-4, atol=1e-5)
        assert grads[0].keys() == grads[1].keys() and grads[0]
        flat = [torch.cat([g[name].flatten() for name in sorted(g)]) for g in grads]
        assert float((flat[1] - flat[0]).norm()) < 1e-4 * float(flat[0].norm())


def test_small_kernels_are_the_transformed_centre_and_widths_are_prefixes(supernet: MnasNetSupernet) -> None:
    arch = get_space("mnasnet").reference("mnasnet-a1")  # block 2: mb6, 3x3, 24 filters, two layers
    sub = supernet.extract(arch)
    spec_index, spec = next((i, s) for i, s in enumerate(sub.specs) if s.name == "b2.2")
    full = supernet.positions["b2_1"]["mb-res"]
    big = full.layer.body[1][0].weight  # depthwise 5x5 of the widest layer
    matrix = full.kernel_transforms["body_1_0_weight_5to3"]
    mid = spec.mid
    expected = F.linear(big[:mid, :, 1:4, 1:4].reshape(-1, 9), matrix).reshape(mid, 1, 3, 3)
    torch.testing.assert_close(sub[spec_index].body[1][0].weight, expected)
    torch.testing.assert_close(sub[spec_index].body[0][0].weight, full.layer.body[0][0].weight[:mid, : spec.c_in])
    torch.testing.assert_close(sub[spec_index].body[0][1].running_var, full.layer.body[0][1].running_var[:mid])


def test_separate_weights_per_conv_op_type_and_shortcut_shared_across_depths_and_expansions(
    supernet: MnasNetSupernet,
) -> None:
    space = get_space("mnasnet")
    base = space.to_params(space.reference("mnasnet-a1"))
    paths = {}
    for op, skip in (("mb6", "idskip"), ("mb6", "noskip"), ("mb3", "idskip"), ("conv", "idskip")):
        arch = space.decode({**base, "b4_op": op, "b4_skip": skip})
        spec = next(s for s in supernet.ops(arch) if s.name == "b4.2")
        paths[(op, skip)] = supernet.where(spec)
    assert len(set(paths.values())) == 3 and paths[("mb6", "idskip")] == ("b4_1", "mb-res")
    assert paths[("mb3", "idskip")] == paths[("mb6", "idskip")]  # elastic expansion: MBConv3 is a slice of MBConv6
    shallow = space.decode({**base, "b4_layers": 3})
    assert [supernet.where(s) for s in supernet.ops(shallow) if s.name.startswith("b4.")] == [
        ("b4_0", "mb-plain"),  # the first layer never has matching shapes: idskip builds no shortcut there
        ("b4_1", "mb-res"),
        ("b4_2", "mb-res"),
    ]


def test_importance_sorting_keeps_the_largest_subnet_and_orders_expanded_channels() -> None:
    torch.manual_seed(1)
    net = MnasNetSupernet(**SHAPE, width=0.25)
    perturb(net, seed=2)
    net.eval()
    x = torch.randn(4, 1, 8, 8)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    with torch.no_grad():
        before = net(x, largest_arch())
    F.cross_entropy(net(x, largest_arch()), torch.arange(4)).backward()
    optimizer.step()  # momentum buffers exist now
    with torch.no_grad():
        before = net(x, largest_arch())
    project = net.positions["b3_1"]["mb-res"].layer.body[3][0].weight
    net.sort_channels(optimizer)
    with torch.no_grad():
        torch.testing.assert_close(net(x, largest_arch()), before, rtol=1e-4, atol=1e-5)
    importance = project.abs().sum(dim=(0, 2, 3))
    assert torch.all(importance[:-1] >= importance[1:])
    assert optimizer.state[project]["momentum_buffer"].shape == project.shape


def test_reduced_width_extracts_the_scaled_network() -> None:
    net = MnasNetSupernet(**SHAPE, width=0.25).eval()
    space = get_space("mnasnet")
    arch = space.reference("mnasnet-b1")
    sub = net.extract(arch)
    reference = Network(scaled_ops(space.ops(arch, **SHAPE), 0.25))
    assert n_params(sub) == n_params(reference) < space.cost(arch, **SHAPE).params / 8
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(sub(x), net(x, arch), rtol=0, atol=0)


def test_bad_width_and_foreign_architectures_are_refused() -> None:
    with pytest.raises(ValueError, match="width must be in"):
        MnasNetSupernet(**SHAPE, width=1.5)
    net = MnasNetSupernet(**SHAPE, width=0.25)
    foreign = get_space("mnasnet").reference("mnasnet-a1").model_copy(update={"space": "nasnet"})
    with pytest.raises(ValueError, match="space: 'nasnet' is not 'mnasnet'"):
        net.extract(foreign)


@pytest.mark.parametrize("kind", ["conv", "dconv", "mbconv"])
def test_zero_initialised_residual_bodies_still_train(kind: str) -> None:
    """A residual body starts at zero output but gets gradients; a ``conv`` body (BN then ReLU)
    keeps its scale, since ReLU(0) would pass no gradient and the body would never train."""
    from evaluators.supernet.network import zero_init_residuals
    from search_spaces.ops.spec import OpSpec

    torch.manual_seed(0)
    spec = OpSpec(kind, 8, 8, 6, kernel=3, stride=1, expansion=3 if kind == "mbconv" else 1, skip="id")
    net = zero_init_residuals(Network([spec])).train()
    x = torch.randn(4, 8, 6, 6)
    net(x).square().mean().backward()
    last_bn = [m for m in net[0].body.modules() if isinstance(m, torch.nn.BatchNorm2d)][-1]
    assert last_bn.weight.grad is not None and float(last_bn.weight.grad.abs().sum()) > 0
    if kind != "conv":
        assert torch.equal(net.eval()(x), x)  # starts as its shortcut


def test_folded_batchnorm_scores_the_same_function(supernet: MnasNetSupernet) -> None:
    x = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    for arch in archs():
        sub = supernet.extract(arch).eval()
        n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in sub.modules())
        with torch.no_grad():
            expected = sub(x)
            folded = fold_batchnorm(sub)
            got = folded(x)
        assert n_bn > 0 and not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules()), arch.genome
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
