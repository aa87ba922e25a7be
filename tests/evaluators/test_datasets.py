"""Datasets: local files only, fixed splits, clear messages when something is missing."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from core.errors import NasError, UnknownPluginError
from evaluators.datasets import (
    DatasetNotFoundError,
    dataset_info,
    get_dataset,
    load_split,
)

SYSTEM = (Path("/usr/share/datasets"),)
HAS_FASHION = (SYSTEM[0] / "fashion-mnist").is_dir()


def test_digits_splits_are_fixed_disjoint_and_normalised() -> None:
    splits = get_dataset("digits").splits(SYSTEM)
    again = get_dataset("digits").splits(SYSTEM)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [1150, 288, 359]
    for s in splits:
        np.testing.assert_array_equal(splits[s].y, again[s].y)
    train = splits["train"].x
    assert abs(float(train.mean())) < 1e-4 and abs(float(train.std()) - 1) < 1e-3
    rows = {s: {a.tobytes() for a in splits[s].x} for s in splits}
    # digits has a few exact duplicate images; disjoint splits share almost none
    assert len(rows["train"] & rows["test"]) < 5 and len(rows["train"] & rows["val"]) < 5
    assert dataset_info("digits").input_size == 8


@pytest.mark.skipif(not HAS_FASHION, reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_from_the_debian_package() -> None:
    val = load_split("fashion-mnist", "val", data_dirs=SYSTEM)
    assert val.x.shape == (5000, 1, 28, 28) and set(np.unique(val.y)) == set(range(10))
    assert len(load_split("fashion-mnist", "train", data_dirs=SYSTEM, limit=100)) == 100


def test_missing_dataset_says_where_it_looked_and_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as err:
        get_dataset("fashion-mnist").raw((tmp_path,))
    assert str(tmp_path / "fashion-mnist") in str(err.value)
    assert "apt-get install dataset-fashion-mnist" in str(err.value)
    with pytest.raises(DatasetNotFoundError, match="cifar10"):
        get_dataset("cifar10").raw((tmp_path,))


def test_unknown_dataset_lists_known_names() -> None:
    with pytest.raises(UnknownPluginError, match="known: cifar10, digits, fashion-mnist, imagefolder:PATH"):
        get_dataset("mnist")


def test_malformed_idx_file_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        (folder / f"{name}.gz").write_bytes(gzip.compress(b"not idx at all"))
    with pytest.raises(NasError, match="not an unsigned-byte IDX file"):
        get_dataset("fashion-mnist").raw((tmp_path,))


def test_imagefolder(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(8):
            Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    ds = get_dataset(f"imagefolder:{tmp_path}")
    assert (ds.info.in_channels, ds.info.input_size, ds.info.num_classes) == (3, 32, 2)
    splits = ds.splits(())
    assert sum(len(a) for a in splits.values()) == 16
    assert splits["train"].x.shape[1:] == (3, 32, 32)
    with pytest.raises(DatasetNotFoundError, match="not a folder"):
        get_dataset(f"imagefolder:{tmp_path / 'nope'}")
