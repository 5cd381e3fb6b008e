"""Datasets: digits split, resumable seeded batches, Fashion-MNIST idx files, missing data."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from nascore.data import DataConfig, SearchData, load_datasets, normalization
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


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _idx(path: Path, array: np.ndarray) -> None:
    with gzip.open(path, "wb") as fh:
        fh.write(_idx_bytes(array))


def _fashion_dir(root: Path, n_train: int = 12, n_test: int = 5) -> Path:
    """Intact tiny Fashion-MNIST idx files (gzip) in ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        _idx(root / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 28, 28)))
        _idx(root / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return root


def _fashion(root: Path) -> DataConfig:
    return DataConfig(dataset="fashion-mnist", data_dir=str(root))


def test_fashion_mnist_reads_idx_files_from_data_dir(tmp_path: Path) -> None:
    train, test, info = load_datasets(_fashion(_fashion_dir(tmp_path)))
    assert (len(train), len(test)) == (12, 5)
    assert info.image_size == 28 and info.num_classes == 10
    assert train[3][1].item() == 3


def test_fashion_mnist_reads_uncompressed_idx_files(tmp_path: Path) -> None:
    images = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    for prefix in ("train", "t10k"):
        (tmp_path / f"{prefix}-images-idx3-ubyte").write_bytes(_idx_bytes(images))
        (tmp_path / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx_bytes(np.array([7, 0, 9])))
    train, _test, _info = load_datasets(_fashion(tmp_path))
    assert [int(y) for _x, y in train] == [7, 0, 9]
    mean, std = normalization("fashion-mnist")
    assert train[1][0][0, 0, 5].item() == pytest.approx(
        ((784 + 5) % 256 / 255 - mean[0]) / std[0], abs=1e-6
    )


def _gz(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


def _rewrite(path: Path, data: bytes) -> None:
    path.write_bytes(gzip.compress(data))


def _truncate_data(root: Path) -> Path:
    path = root / "train-images-idx3-ubyte.gz"
    _rewrite(path, _gz(path)[:-100])
    return path


def _truncate_header(root: Path) -> Path:
    path = root / "t10k-labels-idx1-ubyte.gz"
    _rewrite(path, _gz(path)[:6])
    return path


def _truncate_gzip(root: Path) -> Path:
    path = root / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-12])
    return path


def _empty(root: Path) -> Path:
    path = root / "t10k-images-idx3-ubyte.gz"
    _rewrite(path, b"")
    return path


def _garbage(root: Path) -> Path:
    path = root / "train-images-idx3-ubyte.gz"
    _rewrite(path, b"<html>404 Not Found</html>")
    return path


def _not_gzip(root: Path) -> Path:
    path = root / "train-labels-idx1-ubyte.gz"
    path.write_bytes(_gz(path))
    return path


def _gzip_without_suffix(root: Path) -> Path:
    gz = root / "t10k-labels-idx1-ubyte.gz"
    path = root / "t10k-labels-idx1-ubyte"
    path.write_bytes(gz.read_bytes())
    gz.unlink()
    return path


def _labels_as_images(root: Path) -> Path:
    path = root / "train-images-idx3-ubyte.gz"
    path.write_bytes((root / "train-labels-idx1-ubyte.gz").read_bytes())
    return path


def _wrong_image_size(root: Path) -> Path:
    path = root / "t10k-images-idx3-ubyte.gz"
    _idx(path, np.zeros((5, 32, 32)))
    return path


def _trailing_bytes(root: Path) -> Path:
    path = root / "t10k-labels-idx1-ubyte.gz"
    _rewrite(path, _gz(path) + b"\x00" * 3)
    return path


def _count_mismatch(root: Path) -> Path:
    path = root / "train-labels-idx1-ubyte.gz"
    _idx(path, np.arange(11) % 10)
    return path


def _label_out_of_range(root: Path) -> Path:
    path = root / "train-labels-idx1-ubyte.gz"
    _idx(path, np.full(12, 200))
    return path


def _missing_labels(root: Path) -> Path:
    path = root / "t10k-labels-idx1-ubyte.gz"
    path.unlink()
    return root


BROKEN = [
    (_truncate_data, r"is truncated \(its header declares 12 x 28 x 28 = 9408 data bytes, "
                     r"it holds 9308\)"),
    (_truncate_header, r"is truncated \(6 bytes, header needs 8\)"),
    (_truncate_gzip, r"is truncated \(its gzip stream ends early\)"),
    (_empty, r"is truncated \(0 bytes, no idx header\)"),
    (_garbage, r"has magic number 0x3c68746d, not 0x00000803 \(unsigned-byte idx\)"),
    (_not_gzip, r"is not a valid gzip file"),
    (_gzip_without_suffix, r"is gzip-compressed but not named \.gz"),
    (_labels_as_images, r"has 1 dimensions, expected 3"),
    (_wrong_image_size, r"holds 32 x 32 images, expected 28 x 28"),
    (_trailing_bytes, r"holds 8 data bytes, 3 more than its header declares \(5 = 5\)"),
    (_count_mismatch, r"has 11 labels for the 12 images of train-images-idx3-ubyte\.gz"),
    (_label_out_of_range, r"has label 200, expected 0-9"),
    (_missing_labels, r"t10k-labels-idx1-ubyte\[\.gz\] is missing from"),
]


@pytest.mark.parametrize(("damage", "problem"), BROKEN, ids=[d.__name__[1:] for d, _ in BROKEN])
def test_broken_fashion_mnist_files_give_one_line_errors(tmp_path, damage, problem) -> None:
    path = damage(_fashion_dir(tmp_path))
    with pytest.raises(DataError) as info:
        load_datasets(_fashion(tmp_path))
    message = str(info.value)
    assert "\n" not in message
    assert re.search(problem, message), message
    assert message.startswith(f"Fashion-MNIST file {path if path != tmp_path else ''}")
    assert message.endswith(
        "reinstall the Debian package (apt-get install --reinstall dataset-fashion-mnist) or "
        "point --data-dir at intact idx files"
    )


def test_nas_run_on_broken_fashion_mnist_exits_without_a_run_directory(tmp_path, nas) -> None:
    data = _fashion_dir(tmp_path / "data")
    _truncate_data(data)
    out = tmp_path / "run"
    args = ["--strategy", "random", "--space", "nb201", "--estimator", "nb201"]
    proc = nas("run", *args, "--dataset", "fashion-mnist", "--data-dir", str(data),
               "--out", str(out), cwd=tmp_path)
    assert proc.returncode == DataError.exit_code == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"error: Fashion-MNIST file {data / 'train-images-idx3-ubyte.gz'}")
    assert "is truncated" in lines[0] and "dataset-fashion-mnist" in lines[0]
    assert not out.exists() and not (tmp_path / "runs").exists()


def test_missing_dataset_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"cifar10 not found or damaged under {tmp_path}"):
        load_datasets(DataConfig(dataset="cifar10", data_dir=str(tmp_path)))
    with pytest.raises(DataError, match="needs --data-dir"):
        load_datasets(DataConfig(dataset="cifar100"))


def test_unknown_dataset_lists_available() -> None:
    with pytest.raises(UnknownNameError, match="available: cifar10, cifar100, digits"):
        DataConfig(dataset="mnist")
