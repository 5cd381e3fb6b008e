"""Datasets: digits split, resumable seeded batches, Fashion-MNIST idx files, missing data."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from nascore.data import DataConfig, SearchData, load_datasets
from nascore.errors import DataError, UnknownNameError


def test_digits_split_is_disjoint_seeded_and_complete() -> None:
    data = SearchData(DataConfig(), seed=1)
    assert data.info.in_channels == 1 and data.info.image_size == 8
    weights, arch = set(data.indices["weights"]), set(data.indices["arch"])
    assert not weights & arch and len(weights | arch) == len(data.train)
    assert abs(len(arch) - len(weights)) <= 1
    again = SearchData(DataConfig(), seed=1)
    assert np.array_equal(data.indices["arch"], again.indices["arch"])
    other = SearchData(DataConfig(), seed=2)
    assert not np.array_equal(data.indices["arch"], other.indices["arch"])


def test_batches_resume_at_any_batch_and_change_with_epoch() -> None:
    data = SearchData(DataConfig(subset=100), seed=0)
    full = list(data.batches("weights", 16, epoch=3))
    tail = list(data.batches("weights", 16, epoch=3, start=2))
    assert len(full) == data.num_batches("weights", 16) == 4
    assert all(torch.equal(a[0], b[0]) for a, b in zip(full[2:], tail, strict=True))
    other = next(data.batches("weights", 16, epoch=4))
    assert not torch.equal(full[0][1], other[1])


def _idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_reads_idx_files_from_data_dir(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 12), ("t10k", 5)):
        _idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 28, 28)))
        _idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    train, test, info = load_datasets(DataConfig(dataset="fashion-mnist", data_dir=str(tmp_path)))
    assert (len(train), len(test)) == (12, 5)
    assert info.image_size == 28 and info.num_classes == 10
    assert train[3][1].item() == 3


def test_missing_dataset_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"cifar10 not found under {tmp_path}"):
        load_datasets(DataConfig(dataset="cifar10", data_dir=str(tmp_path)))
    with pytest.raises(DataError, match="needs --data-dir"):
        load_datasets(DataConfig(dataset="cifar100"))


def test_unknown_dataset_lists_available() -> None:
    with pytest.raises(UnknownNameError, match="available: cifar10, cifar100, digits"):
        DataConfig(dataset="mnist")
