"""Datasets from local files only (nothing is downloaded), with fixed seeded splits.

Each dataset yields ``train``, ``val`` and ``test`` splits as float32 arrays (N, C, H, W),
normalised per channel with the training split's mean and std, and int64 labels. Search scores on
``val``; ``test`` is only for final reports. Names: ``fashion-mnist``, ``digits``, ``cifar10``
and ``imagefolder:PATH``.
"""

from __future__ import annotations

import gzip
import pickle
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from core.errors import NasError, UnknownPluginError
from core.registry import Registry

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")
SPLIT_SEED = 20190401  # fixed: every process and every job sees the same splits


class DatasetNotFoundError(NasError, FileNotFoundError):
    """The dataset's files are not where we looked."""


@dataclass(frozen=True)
class DatasetInfo:
    """Shape of a dataset, known without loading it."""

    name: str
    in_channels: int
    input_size: int
    num_classes: int
    images: bool = True  # False: a shape only (``shape:CxHxW:N``), nothing to train or score on


@dataclass(frozen=True)
class Arrays:
    """One split: normalised images (N, C, H, W) float32 and labels (N,) int64."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def head(self, n: int) -> Arrays:
        return Arrays(self.x[:n], self.y[:n])


class Dataset(ABC):
    """A dataset: its shape and its three splits (raw uint8 images, split and normalised here)."""

    info: DatasetInfo
    val_size: ClassVar[float | int] = 0.1

    @abstractmethod
    def raw(self, data_dirs: tuple[Path, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(train images, train labels, test images, test labels); images uint8 (N, C, H, W)."""

    def splits(self, data_dirs: tuple[Path, ...]) -> dict[Split, Arrays]:
        x_train, y_train, x_test, y_test = self.raw(data_dirs)
        order = np.random.default_rng(SPLIT_SEED).permutation(len(y_train))
        n_val = self.val_size if isinstance(self.val_size, int) else round(self.val_size * len(y_train))
        val, train = order[:n_val], order[n_val:]
        x_train = x_train.astype(np.float32) / 255.0
        mean = x_train[train].mean(axis=(0, 2, 3), keepdims=True)
        std = x_train[train].std(axis=(0, 2, 3), keepdims=True) + 1e-6

        def norm(x: np.ndarray) -> np.ndarray:
            return ((x - mean) / std).astype(np.float32)

        x_test = x_test.astype(np.float32) / 255.0
        return {
            "train": Arrays(norm(x_train[train]), y_train[train].astype(np.int64)),
            "val": Arrays(norm(x_train[val]), y_train[val].astype(np.int64)),
            "test": Arrays(norm(x_test), y_test.astype(np.int64)),
        }


def _find(names: tuple[str, ...], folder: str, data_dirs: tuple[Path, ...], how: str) -> list[Path]:
    """Each of ``names`` (plain or .gz) in the first ``data_dir/folder`` that has them all."""
    looked = []
    for root in data_dirs:
        base = root / folder
        looked.append(str(base))
        found = [next((p for p in (base / n, base / f"{n}.gz") if p.is_file()), None) for n in names]
        if all(found):
            return [p for p in found if p is not None]
    raise DatasetNotFoundError(f"{folder}: files {', '.join(names)} not found; looked in {', '.join(looked)}. {how}")


def _read(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


def _idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format): magic, dims, then big-endian uint8 data."""
    data = _read(path)
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise NasError(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise NasError(f"{path}: truncated IDX file ({body.size} bytes for shape {dims})")
    return body.reshape(dims)


class FashionMnist(Dataset):
    info = DatasetInfo("fashion-mnist", 1, 28, 10)
    val_size = 5000
    FILES = (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    )
    HOW = "Install Debian's package (apt-get install dataset-fashion-mnist) or copy the four IDX files there."

    def raw(self, data_dirs: tuple[Path, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        xtr, ytr, xte, yte = (_idx(p) for p in _find(self.FILES, "fashion-mnist", data_dirs, self.HOW))
        return xtr[:, None], ytr, xte[:, None], yte


class Digits(Dataset):
    """scikit-learn's bundled 8x8 digits (1,797 images, always available); 20% held out as test."""

    info = DatasetInfo("digits", 1, 8, 10)
    val_size = 0.2

    def raw(self, data_dirs: tuple[Path, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x = (bunch.images * (255.0 / 16.0)).round().astype(np.uint8)[:, None]
        order = np.random.default_rng(SPLIT_SEED + 1).permutation(len(x))
        n_test = round(0.2 * len(x))
        test, train = order[:n_test], order[n_test:]
        return x[train], bunch.target[train], x[test], bunch.target[test]


class Cifar10(Dataset):
    """The python-pickle batches (``cifar-10-batches-py``) in ``<data dir>/cifar10``."""

    info = DatasetInfo("cifar10", 3, 32, 10)
    val_size = 5000
    FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
    HOW = "Unpack cifar-10-python.tar.gz and put the batch files in <data dir>/cifar10."

    def raw(self, data_dirs: tuple[Path, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        paths = _find(self.FILES, "cifar10", data_dirs, self.HOW)
        batches = []
        for p in paths:
            try:
                d = pickle.loads(_read(p), encoding="bytes")  # the user's own local file
                batches.append((np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32), np.asarray(d[b"labels"])))
            except Exception as e:
                raise NasError(f"{p}: not a CIFAR-10 python batch ({e})") from None
        x_train = np.concatenate([b[0] for b in batches[:5]])
        y_train = np.concatenate([b[1] for b in batches[:5]])
        return x_train, y_train, batches[5][0], batches[5][1]


class ImageFolder(Dataset):
    """``PATH/<class>/<image>``; images are converted to RGB and resized to 32x32; 10% held out as test."""

    SIZE = 32
    EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")

    def __init__(self, root: Path) -> None:
        self.root = root
        if not root.is_dir():
            raise DatasetNotFoundError(f"imagefolder: {root} is not a folder")
        self.classes = sorted(p.name for p in root.iterdir() if p.is_dir())
        if len(self.classes) < 2:
            raise DatasetNotFoundError(f"imagefolder: {root} needs at least two class folders")
        self.info = DatasetInfo(f"imagefolder:{root}", 3, self.SIZE, len(self.classes))

    def raw(self, data_dirs: tuple[Path, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        from PIL import Image

        images, labels = [], []
        for label, cls in enumerate(self.classes):
            for path in sorted((self.root / cls).iterdir()):
                if path.suffix.lower() in self.EXTENSIONS:
                    with Image.open(path) as im:
                        rgb = im.convert("RGB").resize((self.SIZE, self.SIZE), Image.Resampling.BILINEAR)
                    images.append(np.asarray(rgb, np.uint8).transpose(2, 0, 1))
                    labels.append(label)
        if len(images) < 10:
            raise DatasetNotFoundError(f"imagefolder: {self.root} holds {len(images)} images; need at least 10")
        x, y = np.stack(images), np.asarray(labels)
        order = np.random.default_rng(SPLIT_SEED + 2).permutation(len(x))
        n_test = max(1, round(0.1 * len(x)))
        return x[order[n_test:]], y[order[n_test:]], x[order[:n_test]], y[order[:n_test]]


class ShapeOnly(Dataset):
    """``shape:CxHxW:N`` — an input shape and a class count with no images, for searches whose
    metrics need no data (latency, params, MACs), e.g. at ImageNet's 3x224x224 and 1000 classes."""

    PATTERN = re.compile(r"shape:([1-9][0-9]{0,3})x([1-9][0-9]{0,4})x([1-9][0-9]{0,4}):([1-9][0-9]{0,6})")

    def __init__(self, name: str) -> None:
        m = self.PATTERN.fullmatch(name)
        if m is None or m.group(2) != m.group(3):
            raise UnknownPluginError(
                f"dataset {name!r}: write a shape-only dataset as shape:CxHxW:N with H = W (e.g. shape:3x224x224:1000)"
            )
        c, h, _, n = map(int, m.groups())
        self.info = DatasetInfo(name, c, h, n, images=False)

    def raw(self, data_dirs: tuple[Path, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        raise DatasetNotFoundError(f"{self.info.name} fixes a shape only and has no images to train or score on")


DATASETS: Registry[type[Dataset]] = Registry(
    "dataset",
    {
        "fashion-mnist": "evaluators.datasets:FashionMnist",
        "digits": "evaluators.datasets:Digits",
        "cifar10": "evaluators.datasets:Cifar10",
    },
)


def get_dataset(name: str) -> Dataset:
    """The dataset ``name`` (a registered name or ``imagefolder:PATH``)."""
    if name.startswith("imagefolder:"):
        text = name.split(":", 1)[1]
        try:
            return ImageFolder(Path(text).expanduser())
        except DatasetNotFoundError:
            raise
        except (OSError, RuntimeError) as e:  # a name too long, an unknown ~user, ...
            reason = type(e).__name__
            raise DatasetNotFoundError(f"imagefolder: {text[:80]!r} is not a usable folder ({reason})") from None
    if name.startswith("shape:"):
        return ShapeOnly(name)
    try:
        return DATASETS.get(name)()
    except UnknownPluginError:
        raise UnknownPluginError(
            f"unknown dataset {name!r}; known: {', '.join(DATASETS.names())}, imagefolder:PATH, shape:CxHxW:N"
        ) from None


def dataset_info(name: str) -> DatasetInfo:
    """Shape of ``name`` without loading it."""
    return get_dataset(name).info


@cache
def _cached_splits(name: str, data_dirs: tuple[Path, ...]) -> dict[Split, Arrays]:
    return get_dataset(name).splits(data_dirs)


def load_split(name: str, split: Split, *, data_dirs: tuple[Path, ...], limit: int | None = None) -> Arrays:
    """One split of ``name`` (cached per process); ``limit`` keeps the first N examples."""
    if split not in SPLITS:
        raise NasError(f"split {split!r} unknown; known: {', '.join(SPLITS)}")
    arrays = _cached_splits(name, tuple(data_dirs))[split]
    return arrays if limit is None else arrays.head(limit)


RECAL_SEED = 7


def recalibration_images(train: Arrays, count: int, seed: int = RECAL_SEED) -> np.ndarray:
    """A fixed, seeded sample of ``count`` training images for re-estimating BatchNorm statistics
    (the same images for every evaluator, so a score and its exported weights agree)."""
    pick = np.random.default_rng(seed).choice(len(train), size=min(count, len(train)), replace=False)
    return train.x[np.sort(pick)]


def scoring_data(
    name: str,
    *,
    data_dirs: Sequence[str | Path],
    train_limit: int | None = None,
    val_limit: int | None = None,
    recal_images: int = 256,
) -> tuple[Arrays, Arrays, np.ndarray]:
    """What an accuracy evaluator loads once: the train and validation splits and the BatchNorm
    recalibration images drawn from the (limited) train split."""
    dirs = tuple(Path(d) for d in data_dirs)
    train = load_split(name, "train", data_dirs=dirs, limit=train_limit)
    val = load_split(name, "val", data_dirs=dirs, limit=val_limit)
    return train, val, recalibration_images(train, recal_images)
