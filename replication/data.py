"""Datasets as device-resident tensors, served in batches by index.

Every dataset loads once into a `TensorData`; per-epoch order and augmentation
draws come from a generator seeded by the run's SGD-noise seed, so the data
path has no per-example Python and no hidden global randomness.

Where a dataset must come from disk, we look in `--data-dir` / $REPLICATION_DATA,
then the usual system places, then try a download; if all fail the error says
which places were tried and how to get the files. Tests never download.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from .spec import DATASETS, is_import_path, load_object

# The digits split is fixed so every machine trains on the same 1,437 images.
DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_SYSTEM_PLACES = {
    "mnist": ["/usr/share/datasets/mnist", "~/.cache/replication/mnist"],
    "fashion-mnist": ["/usr/share/datasets/fashion-mnist", "~/.cache/replication/fashion-mnist"],
    "cifar10": ["/usr/share/datasets/cifar10", "~/.cache/replication/cifar10"],
    "imagenet": ["/usr/share/datasets/imagenet", "~/.cache/replication/imagenet"],
}
_HOW_TO_GET = {
    "mnist": "put the four MNIST idx files (optionally .gz) in <data-dir>/mnist",
    "fashion-mnist": "run `apt-get install dataset-fashion-mnist`, or put the four idx files in <data-dir>/fashion-mnist",
    "cifar10": "put the extracted cifar-10-batches-py folder (python version) in <data-dir>/cifar10",
    "imagenet": "put the ILSVRC train/ and val/ class folders in <data-dir>/imagenet",
}


@dataclass(frozen=True)
class Reduced:
    """A cheaper cousin of a dataset for a CPU scale: a fixed subset of its training images (the first
    `train_examples` of a permutation drawn with seed 0, the same on every machine), every image (test
    images too) average-pooled over `pool`×`pool` pixels, then standardized again on the subset."""

    base: str
    train_examples: int
    pool: int = 1


REDUCED = {"fashion-mnist-8k-14px": Reduced("fashion-mnist", 8192, pool=2)}


class DataError(RuntimeError):
    """A dataset that cannot be found or read; the message says how to get it."""


@dataclass
class TensorData:
    """A whole dataset held as tensors (images N×C×H×W, labels N)."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    def to(self, device: torch.device | str) -> "TensorData":
        return TensorData(self.name, self.x_train.to(device), self.y_train.to(device),
                          self.x_test.to(device), self.y_test.to(device), self.num_classes)

    def split(self, which: str) -> tuple[torch.Tensor, torch.Tensor]:
        if which == "train":
            return self.x_train, self.y_train
        if which == "test":
            return self.x_test, self.y_test
        raise ValueError(f"unknown split {which!r}; use 'train' or 'test'")


def epoch_order(n: int, generator: torch.Generator) -> torch.Tensor:
    """One epoch's shuffled order of the n training examples, drawn on the generator's device."""
    return torch.randperm(n, generator=generator, device=generator.device)


def batch_indices(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """One epoch of shuffled index batches; the last batch may be short."""
    yield from epoch_order(n, generator).split(batch_size)


def augment(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop with zero padding and horizontal flip, drawn per sample on the generator's device (a
    generator on x's device keeps the draws there: no copy from the host per batch)."""
    b, _, h, w = x.shape
    at = generator.device
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=at).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=at).to(x.device)
    flip = (torch.rand(b, generator=generator, device=at) < 0.5).to(x.device)
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # b×h×1
    cols = dx[:, None] + torch.arange(w, device=x.device)  # b×w
    cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, :]  # b×1×w
    out = padded[torch.arange(b, device=x.device)[:, None, None], :, rows, cols]  # b×h×w×c
    return out.permute(0, 3, 1, 2).contiguous()


# -- loading -------------------------------------------------------------------

def load_dataset(name: str, data_dir: str | os.PathLike | None = None, download: bool = False) -> TensorData:
    """Load a dataset by name into CPU tensors (see module doc for where we look)."""
    if name == "digits":
        return load_digits()
    if is_import_path(name):  # your own: "module:function", given the data folder, returning TensorData
        data = load_object(name)(data_dir)
        if not isinstance(data, TensorData):
            raise DataError(f"dataset {name!r} returned {type(data).__name__}, not replication.data.TensorData")
        return data
    if name in REDUCED:
        return reduce(load_dataset(REDUCED[name].base, data_dir, download), REDUCED[name], name)
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; use one of {', '.join(DATASETS)}")
    places = candidate_dirs(name, data_dir)
    for place in places:
        found = _try_load(name, place)
        if found is not None:
            return found
    if download and data_dir is not None:
        return _download(name, Path(data_dir) / name)
    tried = ", ".join(str(p) for p in places)
    raise DataError(f"dataset {name!r} not found (looked in {tried}); {_HOW_TO_GET[name]}, "
                    f"or pass --data-dir DIR")


def reduce(data: TensorData, how: Reduced, name: str) -> TensorData:
    """`data` made smaller as `how` says, under the new `name`."""
    if how.train_examples > data.n_train:
        raise DataError(f"{name} needs {how.train_examples} training images but {data.name} has {data.n_train}")
    keep = torch.from_numpy(np.random.RandomState(0).permutation(data.n_train)[:how.train_examples])
    pool = (lambda x: torch.nn.functional.avg_pool2d(x, how.pool)) if how.pool > 1 else (lambda x: x)
    return _standardized(name, pool(data.x_train[keep]), data.y_train[keep], pool(data.x_test), data.y_test,
                         data.num_classes)


def candidate_dirs(name: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    roots = [data_dir, os.environ.get("REPLICATION_DATA")]
    places = [Path(r).expanduser() / name for r in roots if r]
    return places + [Path(p).expanduser() for p in _SYSTEM_PLACES.get(name, [])]


def load_digits() -> TensorData:
    """scikit-learn's 1,797 8×8 handwritten digits, split 80/20 stratified with seed 0."""
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_digits()
    images = bunch.images.astype(np.float32) / 16.0
    x_tr, x_te, y_tr, y_te = train_test_split(images, bunch.target, test_size=DIGITS_TEST_FRACTION,
                                              stratify=bunch.target, random_state=DIGITS_SPLIT_SEED)
    return _standardized("digits", x_tr[:, None], y_tr, x_te[:, None], y_te, 10)


def _standardized(name, x_tr, y_tr, x_te, y_te, num_classes) -> TensorData:
    """Standardize per channel with training-set statistics."""
    x_tr = torch.as_tensor(np.ascontiguousarray(x_tr), dtype=torch.float32)
    x_te = torch.as_tensor(np.ascontiguousarray(x_te), dtype=torch.float32)
    mean = x_tr.mean(dim=(0, 2, 3), keepdim=True)
    std = x_tr.std(dim=(0, 2, 3), keepdim=True)
    return TensorData(name, (x_tr - mean) / std, torch.as_tensor(y_tr, dtype=torch.long),
                      (x_te - mean) / std, torch.as_tensor(y_te, dtype=torch.long), num_classes)


def _try_load(name: str, place: Path) -> TensorData | None:
    if not place.is_dir():
        return None
    if name in ("mnist", "fashion-mnist"):
        return _load_idx_dataset(name, place)
    if name == "imagenet":
        return _load_image_folders(place)
    return _load_cifar10(place)


def _find(place: Path, stem: str) -> Path | None:
    for sub in (place, place / "raw", place / "MNIST" / "raw", place / "FashionMNIST" / "raw"):
        for candidate in (sub / stem, sub / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    try:
        _, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
        shape = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
        if dtype_code != 0x08:
            raise ValueError(f"unsupported idx dtype {dtype_code:#x}")
        return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)
    except (struct.error, ValueError) as err:
        raise DataError(f"{path} is not a readable idx file ({err}); replace it with the original download") from err


def _load_idx_dataset(name: str, place: Path) -> TensorData | None:
    paths = {k: [_find(place, s) for s in stems] for k, stems in _IDX_FILES.items()}
    if any(p is None for ps in paths.values() for p in ps):
        return None
    (xtr, ytr), (xte, yte) = ([_read_idx(p) for p in paths[k]] for k in ("train", "test"))
    to_img = lambda a: a.astype(np.float32)[:, None] / 255.0  # noqa: E731
    return _standardized(name, to_img(xtr), ytr.astype(np.int64), to_img(xte), yte.astype(np.int64), 10)


def _load_cifar10(place: Path) -> TensorData | None:
    folder = next((p for p in (place / "cifar-10-batches-py", place) if (p / "data_batch_1").is_file()), None)
    if folder is None:
        return None

    def read(files):
        xs, ys = [], []
        for f in files:
            with open(folder / f, "rb") as fh:
                d = pickle.load(fh, encoding="bytes")
            xs.append(np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(d[b"labels"], dtype=np.int64))
        return np.concatenate(xs).astype(np.float32) / 255.0, np.concatenate(ys)

    xtr, ytr = read([f"data_batch_{i}" for i in range(1, 6)])
    xte, yte = read(["test_batch"])
    return _standardized("cifar10", xtr, ytr, xte, yte, 10)


def _download(name: str, target: Path) -> TensorData:
    """Fetch through torchvision when online; only ever called with download=True."""
    import torchvision

    cls = {"mnist": torchvision.datasets.MNIST, "fashion-mnist": torchvision.datasets.FashionMNIST,
           "cifar10": torchvision.datasets.CIFAR10}[name]
    try:
        cls(str(target), train=True, download=True)
        cls(str(target), train=False, download=True)
    except Exception as err:  # network errors come in many types
        raise DataError(f"could not download {name!r} into {target} ({err}); {_HOW_TO_GET[name]}") from err
    found = _try_load(name, target)
    if found is None:
        raise DataError(f"downloaded {name!r} into {target} but could not read it; {_HOW_TO_GET[name]}")
    return found


# -- ImageNet: too large to hold in memory, so images are decoded per batch ---------------

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class FolderImages:
    """A lazily decoded image list that indexes like a tensor (by index tensor or slice).

    Every image is resized to 256 and centre-cropped to 224, deterministically;
    training randomness (crop with padding, flip) is added on the device by
    `augment`, drawn from the run's noise seed. This differs from the usual
    RandomResizedCrop and is documented as a choice.
    """

    def __init__(self, paths: list[Path], size: int = 224, device: str | torch.device = "cpu"):
        self.paths, self.size, self.device = paths, size, torch.device(device)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.paths), 3, self.size, self.size)

    def to(self, device) -> "FolderImages":
        return FolderImages(self.paths, self.size, device)

    def _decode(self, path: Path) -> torch.Tensor:
        from PIL import Image
        from torchvision.transforms import functional as TF

        with Image.open(path) as image:
            image = TF.center_crop(TF.resize(image.convert("RGB"), 256), self.size)
            x = TF.to_tensor(image)
        return TF.normalize(x, IMAGENET_MEAN, IMAGENET_STD)

    def __getitem__(self, index) -> torch.Tensor:
        if isinstance(index, slice):
            chosen = self.paths[index]
        else:
            chosen = [self.paths[int(i)] for i in torch.as_tensor(index).flatten().tolist()]
        return torch.stack([self._decode(p) for p in chosen]).to(self.device)


_IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}


def _image_folder(folder: Path, classes: list[str]) -> tuple[list[Path], torch.Tensor]:
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        paths += files
        labels += [label] * len(files)
    return paths, torch.tensor(labels, dtype=torch.long)


def _load_image_folders(place: Path) -> TensorData | None:
    """ILSVRC as class folders: <place>/train/<wnid>/*.JPEG and <place>/val/<wnid>/*.JPEG."""
    train_dir, val_dir = place / "train", place / "val"
    if not (train_dir.is_dir() and val_dir.is_dir()):
        return None
    classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    if not classes or sorted(p.name for p in val_dir.iterdir() if p.is_dir()) != classes:
        raise DataError(f"{place}: train/ and val/ must hold the same class folders; re-extract ImageNet there")
    x_tr, y_tr = _image_folder(train_dir, classes)
    x_te, y_te = _image_folder(val_dir, classes)
    return TensorData("imagenet", FolderImages(x_tr), y_tr, FolderImages(x_te), y_te, len(classes))
