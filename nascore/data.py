"""Datasets and the seeded search split.

``digits`` (scikit-learn, embedded, 8x8 grey) is the default; ``fashion-mnist`` is read from its
idx files (plain or gzip-compressed, checked for truncation and garbage), ``cifar10``, ``cifar100``
and ``imagefolder`` through torchvision, all from ``data_dir`` and never downloaded. The training
set is split, seeded, into a *weights* half (supernet weights) and an *arch* half (architecture
parameters / estimator validation). Batches are drawn in a permutation fixed by
``(seed, epoch, split)``, so an interrupted epoch can be resumed at any batch. In a data-parallel
search (:meth:`SearchData.shard`) every process takes its share of each of those batches.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from nascore.config import field, positive
from nascore.errors import DataError, UnknownNameError
from nascore.space import DataInfo

DATASETS = ("digits", "fashion-mnist", "cifar10", "cifar100", "imagefolder")
FASHION_MNIST_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"

_STATS = {
    "digits": ((0.3,), (0.4,)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagefolder": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


def _check_fraction(_inst: Any, attribute: attrs.Attribute, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{attribute.name} must lie strictly between 0 and 1, got {value}")


@attrs.frozen
class DataConfig:
    """Which data a run uses and how the training set is split for search."""

    dataset: str = field("digits", "digits | fashion-mnist | cifar10 | cifar100 | imagefolder "
                         "(python:NAME: data given to nascore.search in this process)")
    data_dir: str | None = field(None, "where the dataset lies (never downloaded)")
    arch_fraction: float = field(
        0.5, "share of the training set used for architecture steps", validator=_check_fraction
    )
    subset: int | None = field(None, "use only the first N training images (quick runs)")
    image_size: int = field(0, "resize images to this size (0: native; imagefolder: 32)")
    workers: int = field(0, "DataLoader worker processes")

    def __attrs_post_init__(self) -> None:
        if self.dataset not in DATASETS and not self.dataset.startswith(PYTHON_PREFIX):
            raise UnknownNameError("dataset", self.dataset, list(DATASETS))
        if self.subset is not None:
            positive(self, attrs.fields(DataConfig).subset, self.subset)


#: Names of datasets given as Python objects (:func:`register_dataset`) start with this.
PYTHON_PREFIX = "python:"
_PYTHON: dict[str, tuple[Dataset, Dataset, DataInfo]] = {}


def _data_info(train: Dataset) -> DataInfo:
    """Channels, size and classes of a dataset of ``(image [C, H, W], class index)`` pairs."""
    try:
        x, _ = train[0]
    except Exception as exc:
        raise DataError(f"a dataset must yield (image, label) pairs: {exc}") from None
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[1] != x.shape[2]:
        raise DataError("a dataset's images must be square [channels, height, width] tensors, "
                        f"got {getattr(x, 'shape', type(x).__name__)}")
    classes = getattr(train, "classes", None)
    if classes is not None:
        num_classes = len(classes)
    elif isinstance(train, TensorDataset):
        num_classes = int(train.tensors[1].max()) + 1
    else:
        num_classes = max(int(train[i][1]) for i in range(len(train))) + 1  # type: ignore[arg-type]
    return DataInfo(int(x.shape[0]), int(x.shape[1]), num_classes)


def _as_dataset(data: Any) -> Dataset:
    return data.dataset if isinstance(data, DataLoader) else data


def register_dataset(data: Any, name: str | None = None) -> str:
    """Name Python data for this process's runs: a ``Dataset`` (or ``DataLoader``) of
    ``(image, label)`` pairs, split seeded into 80% training and 20% test images, or a
    ``(train, test)`` pair of them. Images are used as given (normalise them yourself); the
    number of classes is ``len(train.classes)`` or the largest label plus one. Runs record the
    name only: they cannot be resumed, retrained or exported from another process (the CLI)."""
    pair = isinstance(data, (tuple, list))
    if pair and len(data) != 2:
        raise DataError(f"give data as a Dataset or a (train, test) pair, got {len(data)} items")
    if pair:
        train, test = (_as_dataset(d) for d in data)
    else:
        full = _as_dataset(data)
        order = torch.randperm(len(full), generator=torch.Generator().manual_seed(0)).tolist()
        n_train = int(0.8 * len(order))
        train, test = Subset(full, order[:n_train]), Subset(full, order[n_train:])
    if not isinstance(train, Dataset) or not isinstance(test, Dataset):
        raise DataError("data must be a torch Dataset, a DataLoader or a (train, test) pair")
    info = _data_info(train)
    given = _as_dataset(data[0] if pair else data)
    name = PYTHON_PREFIX + (name or f"{type(given).__name__.lower()}-{len(_PYTHON)}")
    _PYTHON[name] = (train, test, info)
    return name


def _digits() -> tuple[TensorDataset, TensorDataset, DataInfo]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    mean, std = _STATS["digits"]
    x = (x - mean[0]) / std[0]
    y = torch.tensor(bunch.target, dtype=torch.long)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[order], y[order]
    n_train = int(0.8 * len(y))
    return (
        TensorDataset(x[:n_train], y[:n_train]),
        TensorDataset(x[n_train:], y[n_train:]),
        DataInfo(in_channels=1, image_size=NATIVE_SIDE["digits"], num_classes=10),
    )


def _transform(name: str, size: int, train: bool) -> Any:
    from torchvision import transforms as T

    mean, std = _STATS[name]
    steps: list[Any] = []
    if name == "imagefolder":
        steps += [T.Resize(size), T.CenterCrop(size)] if not train else [T.RandomResizedCrop(size)]
    elif size:
        steps.append(T.Resize(size))
    if train and name.startswith("cifar"):
        steps += [T.RandomCrop(size or 32, padding=4), T.RandomHorizontalFlip()]
    if train and name == "imagefolder":
        steps.append(T.RandomHorizontalFlip())
    steps += [T.ToTensor(), T.Normalize(mean, std)]
    return T.Compose(steps)


_FASHION_FIX = (
    "reinstall the Debian package (apt-get install --reinstall dataset-fashion-mnist) or point "
    "--data-dir at intact idx files"
)
_FASHION_IMAGES, _FASHION_LABELS = "{}-images-idx3-ubyte", "{}-labels-idx1-ubyte"
#: Image side of the datasets whose images are not 32x32 (without ``data.image_size``).
NATIVE_SIDE = {"digits": 8, "fashion-mnist": 28}
_FASHION_CLASSES = 10


def _fashion_root(data_dir: str | None) -> str:
    candidates = [data_dir] if data_dir else []
    candidates.append(FASHION_MNIST_SYSTEM_DIR)
    for root in candidates:
        if root is None:
            continue
        base = Path(root)
        for probe in (base, base / "FashionMNIST" / "raw", base / "raw"):
            if any(probe.glob("train-images-idx3-ubyte*")):
                return str(probe)
    raise DataError(
        f"Fashion-MNIST not found (looked in {', '.join(str(c) for c in candidates)}); "
        "run `apt-get install dataset-fashion-mnist` or pass --data-dir with the idx files"
    )


def _idx_error(path: Path, problem: str) -> DataError:
    return DataError(f"Fashion-MNIST file {path} {problem}; {_FASHION_FIX}")


def _idx_path(root: Path, name: str) -> Path:
    """``root/name`` or ``root/name.gz``, whichever exists."""
    for path in (root / name, root / f"{name}.gz"):
        if path.is_file():
            return path
    raise DataError(f"Fashion-MNIST file {name}[.gz] is missing from {root}; {_FASHION_FIX}")


def _read_bytes(path: Path) -> bytes:
    """The content of ``path``, gunzipped if it ends in ``.gz``."""
    try:
        if path.suffix != ".gz":
            return path.read_bytes()
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except EOFError:
        raise _idx_error(path, "is truncated (its gzip stream ends early)") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise _idx_error(path, f"is not a valid gzip file ({exc})") from None
    except OSError as exc:
        raise _idx_error(path, f"cannot be read ({exc.strerror or exc})") from None


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """The unsigned-byte array with ``ndim`` dimensions stored in the idx file ``path``.

    An idx file is a 4-byte magic number (0x0000080N: unsigned bytes, N dimensions), N big-endian
    uint32 sizes, then the data. Raises :class:`DataError` naming the file and its defect.
    """
    data = _read_bytes(path)
    header = 4 + 4 * ndim
    if len(data) < 4:
        raise _idx_error(path, f"is truncated ({len(data)} bytes, no idx header)")
    if data[:2] == b"\x1f\x8b":
        raise _idx_error(path, "is gzip-compressed but not named .gz")
    if data[:3] != b"\x00\x00\x08":
        found, expected = data[:4].hex(), f"{0x800 + ndim:08x}"
        raise _idx_error(path, f"has magic number 0x{found}, not 0x{expected} (unsigned-byte idx)")
    if data[3] != ndim:
        raise _idx_error(path, f"has {data[3]} dimensions, expected {ndim}")
    if len(data) < header:
        raise _idx_error(path, f"is truncated ({len(data)} bytes, header needs {header})")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    shape = " x ".join(map(str, dims))
    expected, found = math.prod(dims), len(data) - header
    declared = f"{shape} = {expected}"
    if found < expected:
        problem = f"is truncated (its header declares {declared} data bytes, it holds {found})"
        raise _idx_error(path, problem)
    if found > expected:
        problem = f"holds {found} data bytes, {found - expected} more than its header declares"
        raise _idx_error(path, f"{problem} ({declared})")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _read_fashion_split(root: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N x 28 x 28) and labels (N, values 0-9) of the ``train`` or ``t10k`` split."""
    images_path = _idx_path(root, _FASHION_IMAGES.format(prefix))
    labels_path = _idx_path(root, _FASHION_LABELS.format(prefix))
    images, labels = _read_idx(images_path, 3), _read_idx(labels_path, 1)
    side = NATIVE_SIDE["fashion-mnist"]
    if images.shape[1:] != (side, side):
        found = f"{images.shape[1]} x {images.shape[2]}"
        raise _idx_error(images_path, f"holds {found} images, expected {side} x {side}")
    if len(images) != len(labels):
        counts = f"{len(labels)} labels for the {len(images)} images of {images_path.name}"
        raise _idx_error(labels_path, f"has {counts}")
    if len(labels) and labels.max() >= _FASHION_CLASSES:
        bound = _FASHION_CLASSES - 1
        raise _idx_error(labels_path, f"has label {labels.max()}, expected 0-{bound}")
    return images, labels


def _fashion(config: DataConfig) -> tuple[Dataset, Dataset, DataInfo]:
    root = Path(_fashion_root(config.data_dir))

    def load(prefix: str) -> TensorDataset:
        images, labels = _read_fashion_split(root, prefix)
        x = torch.tensor(images.copy(), dtype=torch.float32).unsqueeze(1) / 255.0
        mean, std = _STATS["fashion-mnist"]
        x = (x - mean[0]) / std[0]
        if config.image_size:
            x = torch.nn.functional.interpolate(x, size=config.image_size, mode="bilinear")
        return TensorDataset(x, torch.tensor(labels.copy(), dtype=torch.long))

    size = config.image_size or NATIVE_SIDE["fashion-mnist"]
    return load("train"), load("t10k"), DataInfo(1, size, _FASHION_CLASSES)


def _torchvision(config: DataConfig) -> tuple[Dataset, Dataset, DataInfo]:
    name = config.dataset
    if not config.data_dir:
        raise DataError(f"dataset {name} needs --data-dir pointing at its local copy")
    root = os.path.expanduser(config.data_dir)
    if name == "imagefolder":
        size = config.image_size or 32
        train = _image_folder(os.path.join(root, "train"), _transform(name, size, True))
        test_dir = next((os.path.join(root, d) for d in ("val", "test")
                         if os.path.isdir(os.path.join(root, d))), None)
        if test_dir is None:
            raise DataError(f"imagefolder {root} has train/ but no val/ or test/ folder")
        test = _image_folder(test_dir, _transform(name, size, False))
        return train, test, DataInfo(3, size, len(train.classes))
    return _cifar(name, root, config.image_size)


def _cifar(name: str, root: str, image_size: int) -> tuple[Dataset, Dataset, DataInfo]:
    """CIFAR-10/100 in torchvision's layout (the "python version" archive, unpacked)."""
    from torchvision import datasets

    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    try:
        train = cls(root, train=True, download=False, transform=_transform(name, image_size, True))
        test = cls(root, train=False, download=False, transform=_transform(name, image_size, False))
    except (RuntimeError, OSError, ValueError) as exc:  # missing, corrupt, or not pickles
        files = ", ".join(f for f, _md5 in (*cls.train_list, *cls.test_list))
        raise DataError(
            f"{name} not found or damaged under {root} ({type(exc).__name__}): expected the "
            f"folder {cls.base_folder}/ with {files} (the CIFAR python version, unpacked); "
            "put an intact copy there yourself (nascore never downloads) or fix --data-dir"
        ) from None
    return train, test, DataInfo(3, image_size or 32, 10 if name == "cifar10" else 100)


class CorruptImageError(DataError):
    """An image of an imagefolder cannot be decoded. Raised between steps, so the engine keeps
    a checkpoint: replace or delete the file, then resume."""

    resumable = True


def _load_image(path: str) -> Any:
    """An RGB image, or a one-line :class:`CorruptImageError` naming ``path``."""
    from PIL import Image

    try:
        with open(path, "rb") as fh:
            return Image.open(fh).convert("RGB")
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptImageError(
            f"image {path} cannot be decoded ({str(exc).splitlines()[0][:80] or 'corrupt'}); "
            "replace it with an intact copy (removing it changes the dataset, so a run would "
            "have to start anew)"
        ) from None


def _image_folder(path: str, transform: Any) -> Dataset:
    """``torchvision.datasets.ImageFolder`` of ``path``, refused with one line when a folder
    is missing or empty or a file is not an image (every file's header is read up front; a
    file that fails to decode later stops training with a checkpoint, see
    :class:`CorruptImageError`)."""
    from PIL import Image
    from torchvision import datasets

    if not os.path.isdir(path):
        raise DataError(f"imagefolder {path} does not exist; expected {path}/CLASS/IMAGE files "
                        "(one folder per class), beside a val/ or test/ folder alike")
    try:
        folder = datasets.ImageFolder(path, transform, loader=_load_image)
    except FileNotFoundError as exc:
        found = re.search(r"for the classes (.*?)\. ", str(exc))
        if found:
            raise DataError(f"imagefolder {path}: class folder(s) {found.group(1)} hold no "
                            "images (.jpg, .png, ...); add images or remove the folder") from None
        raise DataError(f"imagefolder {path} holds no class folders; expected one folder of "
                        "images per class") from None
    for file, _label in folder.samples:
        try:
            with Image.open(file) as image:
                image.verify()
        except Exception as exc:  # PIL raises many kinds for a damaged header
            raise DataError(f"imagefolder image {file} is not a readable image "
                            f"({type(exc).__name__}); replace or delete it") from None
    return folder


def normalization(
    dataset: str, channels: int = 1
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel ``(mean, std)`` the images of ``dataset`` are normalised with (0..1 scale);
    data given in Python is used as given (mean 0, std 1 on each of its ``channels``)."""
    if dataset.startswith(PYTHON_PREFIX):
        return (0.0,) * channels, (1.0,) * channels
    return _STATS[dataset]


def load_datasets(config: DataConfig) -> tuple[Dataset, Dataset, DataInfo]:
    """``(train, test, info)`` for ``config.dataset``; raises :class:`DataError` if missing."""
    if config.dataset.startswith(PYTHON_PREFIX):
        if config.dataset not in _PYTHON:
            raise DataError(f"dataset {config.dataset} was given as a Python object in another "
                            "process and cannot be loaded again; rerun from Python with the data")
        train, test, info = _PYTHON[config.dataset]
    elif config.dataset == "digits":
        train, test, info = _digits()
        if config.image_size:

            def resize(ds: TensorDataset) -> TensorDataset:
                x, y = ds.tensors
                x = torch.nn.functional.interpolate(x, size=config.image_size, mode="bilinear")
                return TensorDataset(x, y)

            train, test = resize(train), resize(test)
            info = DataInfo(1, config.image_size, 10)
    elif config.dataset == "fashion-mnist":
        train, test, info = _fashion(config)
    else:
        train, test, info = _torchvision(config)
    if config.subset is not None:
        train = Subset(train, range(min(config.subset, len(train))))  # type: ignore[arg-type]
    return train, test, info


class SearchData:
    """The seeded weights/arch split of a training set, with resumable batch iteration."""

    def __init__(self, config: DataConfig, seed: int) -> None:
        self.config = config
        self.seed = seed
        self.train, self.test, self.info = load_datasets(config)
        n = len(self.train)  # type: ignore[arg-type]
        perm = np.random.default_rng(seed).permutation(n)
        n_arch = max(1, int(round(n * config.arch_fraction)))
        self.indices = {"arch": perm[:n_arch], "weights": perm[n_arch:]}
        if len(self.indices["weights"]) == 0:
            raise DataError(f"dataset {config.dataset} has too few images ({n}) to split")
        self.rank, self.replicas = 0, 1

    def shard(self, rank: int, replicas: int) -> None:
        """Make :meth:`batches` yield process ``rank``'s share of every batch when ``replicas``
        processes search together: images ``rank, rank + replicas, ...`` of the batch, the last
        batch padded with its own first images to a multiple of ``replicas`` (so every process
        runs the same number of equally sized steps)."""
        if not 0 <= rank < replicas:
            raise ValueError(f"rank {rank} is not one of {replicas} processes")
        self.rank, self.replicas = rank, replicas

    def size(self, split: str) -> int:
        """Number of images in ``split`` (``"weights"`` or ``"arch"``)."""
        return len(self.indices[split])

    def num_batches(self, split: str, batch_size: int) -> int:
        """Batches per epoch of ``split`` (the last partial batch is kept)."""
        return -(-self.size(split) // batch_size)

    def batches(
        self, split: str, batch_size: int, epoch: int, start: int = 0
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Shuffled batches of ``split`` for ``epoch``, skipping the first ``start`` batches.

        The order depends only on ``(seed, epoch, split)``; the iterator ends after one pass.
        After :meth:`shard`, each batch is this process's share of it (``start`` still counts
        whole batches).
        """
        salt = {"weights": 1, "arch": 2}[split]
        rng = np.random.default_rng([self.seed, epoch, salt])
        order = self.indices[split][rng.permutation(self.size(split))]
        if self.replicas > 1:
            order, batch_size = self._local_order(order, batch_size)
        yield from self._iterate(self.train, order, batch_size, start)

    def _local_order(self, order: np.ndarray, batch_size: int) -> tuple[np.ndarray, int]:
        """This process's images of every batch of ``order``, concatenated, and its batch size
        (full batches give ``ceil(batch_size / replicas)`` images each, the last one at most
        that many, so cutting the result into that size gives back the shares)."""
        share = -(-batch_size // self.replicas)
        pieces = []
        for begin in range(0, len(order), batch_size):
            batch = order[begin : begin + batch_size]
            padded = np.resize(batch, -(-len(batch) // self.replicas) * self.replicas)
            pieces.append(padded[self.rank :: self.replicas])
        return np.concatenate(pieces), share

    def test_batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The test set in order."""
        yield from self._iterate(self.test, np.arange(len(self.test)), batch_size, 0)  # type: ignore[arg-type]

    def _iterate(
        self, dataset: Dataset, order: np.ndarray, batch_size: int, start: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        yield from iterate_batches(dataset, order, batch_size, start, self.config.workers)


def iterate_batches(
    dataset: Dataset, order: np.ndarray, batch_size: int, start: int = 0, workers: int = 0
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of ``dataset`` taken in ``order``, skipping the first ``start`` batches.

    Tensor datasets are indexed directly; others go through a :class:`DataLoader` with
    ``workers`` processes.
    """
    n_batches = -(-len(order) // batch_size)
    if isinstance(dataset, TensorDataset):
        x, y = dataset.tensors
        for b in range(start, n_batches):
            idx = torch.as_tensor(order[b * batch_size : (b + 1) * batch_size])
            yield x[idx], y[idx]
        return
    loader = DataLoader(
        Subset(dataset, order[start * batch_size :].tolist()),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
    )
    yield from loader
