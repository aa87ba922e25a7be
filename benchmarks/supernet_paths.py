"""Which elastic dimensions and choice paths a MnasNet supernet can train at a CPU budget.

The diagnosis behind docs/supernet.md ("Diagnosed on 2026-11-28"). Trains a small supernet with
ONE random subnet per step (no sandwich) in which only the genes named by ``--genes`` are drawn
at random, per block; every other gene stays at the largest subnet's. Prints the mean training
loss of the last 25 steps, the largest gradient norm seen, and the validation accuracy of
``--evals`` random draws after BatchNorm recalibration (chance is 0.10).

``--anneal-plain N`` adds the space's parameter-free shortcut to plain layers, scaled from 1 to 0
over the first N steps (the trained and scored subnets are plain after that); ``--zero-plain``
zero-initialises the plain paths' last BatchNorm as the residual paths' are. ``--trust F`` caps every tensor's step at
F times its norm (a LARS-style trust ratio; 0 = off); it replaces the global gradient-norm clip at
5 unless ``--clip-with-trust``.

    .venv/bin/python benchmarks/supernet_paths.py --genes skip --steps 300 [--trust 0.02]
    .venv/bin/python benchmarks/supernet_paths.py --genes op,skip --steps 400 --trust 0.02
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from evaluators.datasets import Arrays, load_split, recalibration_images
from evaluators.supernet.network import MnasNetSupernet, largest_arch
from evaluators.supernet.training import Schedule, batches, cosine, make_optimizer, subnet_accuracy
from search_spaces import Architecture
from search_spaces.base import choices_of
from store.settings import Settings

GENES = ("op", "layers", "kernel", "filters", "se", "skip")


def sampler(
    net: MnasNetSupernet,
    genes: set[str],
    *,
    same: bool = False,
    ops: list[str] | None = None,
    fix: dict[str, str] | None = None,
) -> Callable[..., Architecture]:
    """A function (rng, blocks=None) -> Architecture drawing ``genes`` per block (one draw for all
    blocks when ``same``; ConvOps only from ``ops`` when given; only in ``blocks`` random blocks when
    given), the rest at ``fix`` or the largest's."""
    dists = {name: choices_of(d) for name, d in net.space.distributions().items()}
    largest, fix = net.space.to_params(largest_arch(net.space)), fix or {}
    n_blocks = len({name.split("_", 1)[0] for name in dists})

    def draw(rng: np.random.Generator, blocks: int | None = None) -> Architecture:
        params, shared = {}, {}
        mutated = None if blocks is None else {f"b{b + 1}" for b in rng.choice(n_blocks, blocks, replace=False)}
        for name, choices in dists.items():
            gene = name.split("_", 1)[1]
            if gene == "op" and ops:
                choices = tuple(ops)
            if gene not in genes or (mutated is not None and name.split("_", 1)[0] not in mutated):
                params[name] = type(choices[-1])(fix[gene]) if gene in fix else largest[name]
            elif same:
                params[name] = shared.setdefault(gene, choices[int(rng.integers(len(choices)))])
            else:
                params[name] = choices[int(rng.integers(len(choices)))]
        return net.space.decode(params)

    return draw


@torch.no_grad()
def trust_step(optimizer: torch.optim.Optimizer, trust: float, floor: float) -> None:
    """``optimizer.step()`` with each tensor's update capped at ``trust`` x max(its norm, ``floor``)."""
    params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    before = [p.detach().clone() for p in params]
    optimizer.step()
    for p, old in zip(params, before, strict=True):
        delta = p - old
        cap = trust * max(float(old.norm()), floor)
        size = float(delta.norm())
        if size > cap:
            p.copy_(old + delta * (cap / size))


def init_grads(net: MnasNetSupernet, arch: Architecture, train: Arrays) -> None:
    """Each layer's gradient norm for one batch of 64 at initialisation (the extracted subnet, train mode)."""
    model = net.extract(arch).train()
    x, y = next(batches(train, 64))
    F.cross_entropy(model(x), y).backward()
    norms = [
        float(sum(p.grad.square().sum() for p in layer.parameters() if p.grad is not None)) ** 0.5
        for layer in model.children()
    ]
    print(f"{arch.genome}\nlayer gradient norms, input to output: {' '.join(f'{n:.0f}' for n in norms)}")
    growth = (norms[1] / norms[-2]) ** (1 / max(1, len(norms) - 3))
    print(f"mean growth per layer towards the input (layers 1..{len(norms) - 2}): {growth:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", default="op,skip", help=f"comma-separated from {','.join(GENES)}, or none")
    parser.add_argument("--same", action="store_true", help="one draw per gene for all blocks")
    parser.add_argument("--ops", default=None, help="ConvOps to draw from, e.g. mb6,conv (default: all four)")
    parser.add_argument("--fix", action="append", default=[], help="gene=value, e.g. skip=noskip")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--trust", type=float, default=0.0)
    parser.add_argument(
        "--trust-floor", type=float, default=1.0, help="norm assumed for smaller tensors (0: a zero tensor stays 0)"
    )
    parser.add_argument(
        "--clip-with-trust", action="store_true", help="also clip the global gradient norm at 5 under --trust"
    )
    parser.add_argument(
        "--init-grads", action="store_true", help="only print each layer's gradient norm at initialisation"
    )
    parser.add_argument(
        "--anneal-plain",
        type=int,
        default=0,
        help="give plain layers a shortcut scaled from 1 to 0 over this many steps (0: off)",
    )
    parser.add_argument(
        "--zero-plain",
        action="store_true",
        help="zero-initialise the plain paths' last BatchNorm too (not where a ReLU follows it)",
    )
    parser.add_argument(
        "--mutate",
        default="",
        help="draw the genes in only K random blocks per step (the rest the largest's): K, or K0:K1 "
        "for K growing linearly from K0 to K1 over the run (scoring always draws every block)",
    )
    parser.add_argument("--subset", type=int, default=None, help="training images (default: all)")
    parser.add_argument("--val", type=int, default=1000, help="validation images the draws are scored on")
    parser.add_argument("--evals", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    genes = set() if args.genes == "none" else set(args.genes.split(","))
    if genes - set(GENES):
        parser.error(f"unknown genes {sorted(genes - set(GENES))}; known: {', '.join(GENES)}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dirs = tuple(Settings().data_dirs)
    train = load_split(args.dataset, "train", data_dirs=dirs, limit=args.subset)
    val = load_split(args.dataset, "val", data_dirs=dirs, limit=args.val)
    c, h = train.x.shape[1], train.x.shape[2]
    net = MnasNetSupernet(in_channels=c, input_size=h, num_classes=int(train.y.max()) + 1, width=args.width)
    if args.zero_plain:
        net.zero_plain_paths()
    fix = dict(item.split("=", 1) for item in args.fix)
    ops = args.ops.split(",") if args.ops else None
    draw = sampler(net, genes, same=args.same, ops=ops, fix=fix)
    if args.init_grads:
        init_grads(net, draw(np.random.default_rng(args.seed)), train)
        return
    schedule = Schedule(epochs=1, batch_size=args.batch_size, lr=args.lr)
    optimizer = make_optimizer(net, schedule)
    scheduler = cosine(optimizer, args.steps)
    rng = np.random.default_rng(args.seed)
    k0, k1 = (int(k) for k in (args.mutate.split(":") * 2)[:2]) if args.mutate else (0, 0)

    def blocks(step: int) -> int | None:
        return None if not args.mutate else round(k0 + (k1 - k0) * step / max(1, args.steps - 1))

    losses, max_grad, step, start = [], 0.0, 0, time.perf_counter()
    net.train()
    while step < args.steps:
        for x, y in batches(train, args.batch_size, rng.permutation(len(train))):
            optimizer.zero_grad(set_to_none=True)
            net.plain_shortcut = max(0.0, 1.0 - step / args.anneal_plain) if args.anneal_plain else 0.0
            loss = F.cross_entropy(net(x, draw(rng, blocks(step))), y)
            loss.backward()
            clip = float("inf") if args.trust > 0 and not args.clip_with_trust else schedule.grad_clip
            max_grad = max(max_grad, float(nn.utils.clip_grad_norm_(net.parameters(), clip)))
            if args.trust > 0:
                trust_step(optimizer, args.trust, args.trust_floor)
            else:
                optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            step += 1
            if step == args.steps:
                break
    seconds = time.perf_counter() - start
    recal = recalibration_images(train, 256)
    eval_rng = np.random.default_rng(args.seed + 1)
    accs = [subnet_accuracy(net, draw(eval_rng), recal=recal, data=val) for _ in range(args.evals)]
    res_scale = [  # the residual paths' zero-initialised last BatchNorm scales: still 0 = still the identity
        float([m for m in elastic.layer.body.modules() if isinstance(m, nn.BatchNorm2d)][-1].weight.detach().norm())
        for choices in net.positions.values()
        for name, elastic in choices.items()  # type: ignore[union-attr]
        if name.endswith("-res")
    ]
    print(
        f"genes={args.genes}{' (same for all blocks)' if args.same else ''} ops={args.ops or 'all'} fix={fix} "
        f"mutate={args.mutate or 'all'} steps={args.steps} lr={args.lr} trust={args.trust} floor={args.trust_floor} "
        f"anneal={args.anneal_plain} zero-plain={args.zero_plain} "
        f"loss by quarter {' '.join(f'{np.mean(q):.2f}' for q in np.array_split(losses, 4))} "
        f"last-25 loss {np.mean(losses[-25:]):.3f} max grad norm {max_grad:.0f} "
        f"val acc of {args.evals} draws {min(accs):.3f}-{max(accs):.3f} (mean {np.mean(accs):.3f}) "
        f"residual paths' last-BN scale norm: max {max(res_scale):.3f} [{seconds:.0f} s training]"
    )


if __name__ == "__main__":
    main()
