"""Helpers the benchmark scripts share (import them as ``benchmarks._common``, not through sys.path)."""

from __future__ import annotations

from search_spaces import get_space

FASHION_MNIST = {"in_channels": 1, "input_size": 28, "num_classes": 10}


def gene_counts(genome: list[str], shape: dict[str, int] = FASHION_MNIST) -> dict[str, float]:
    """Counts over the block layers of one MnasNet genome (genes as `op_rN_kK_cC_seS_skip`)."""
    space = get_space("mnasnet")
    layers = [s for s in space.ops(space.from_genome(genome), **shape) if s.name.startswith("b")]
    counts: dict[str, float] = {
        "layers": len(layers),
        "with shortcut": sum(s.skip != "none" for s in layers),
        "plain": sum(s.skip == "none" for s in layers),
        "5x5": sum(s.kernel == 5 for s in layers),
        "squeeze-excite": sum(bool(s.se) for s in layers),
    }
    for op in ("conv", "dconv", "mb3", "mb6"):
        counts[op] = sum(int(g.split("_")[1][1:]) for g in genome if g.split("_")[0] == op)
    return counts
