"""Data: the digits split, augmentation, the idx reader, and a missing dataset that never downloads."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import replication.data as D
from replication.data import DataError, TensorData, augment, load_dataset

FAST = settings(max_examples=25, deadline=None)


# -- digits -------------------------------------------------------------------------

def test_digits_split_sizes(digits):
    assert isinstance(digits, TensorData)
    assert digits.name == "digits" and digits.num_classes == 10
    assert digits.n_train == 1437 and len(digits.y_test) == 360
    assert digits.x_train.shape == (1437, 1, 8, 8) and digits.x_test.shape == (360, 1, 8, 8)
    assert digits.image_shape == (1, 8, 8)
    assert digits.x_train.dtype == torch.float32 and digits.y_train.dtype == torch.long


def test_digits_split_is_stratified(digits):
    train_counts = torch.bincount(digits.y_train, minlength=10).numpy()
    test_counts = torch.bincount(digits.y_test, minlength=10).numpy()
    total = train_counts + test_counts
    assert total.sum() == 1797 and (test_counts > 0).all()
    # every class is split 80/20 to within one example
    assert np.all(np.abs(test_counts - 0.2 * total) <= 1)


def test_digits_standardized_with_training_statistics(digits):
    assert float(digits.x_train.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(digits.x_train.std()) == pytest.approx(1.0, abs=1e-4)
    assert abs(float(digits.x_test.mean())) < 0.1  # test set uses the training statistics, so only close
    assert torch.isfinite(digits.x_train).all() and torch.isfinite(digits.x_test).all()


def test_digits_are_the_same_every_load(digits):
    again = D.load_digits()
    assert torch.equal(again.x_train, digits.x_train) and torch.equal(again.y_test, digits.y_test)
    assert load_dataset("digits").n_train == 1437
    assert digits.split("train")[0] is digits.x_train
    with pytest.raises(ValueError, match="split"):
        digits.split("valid")


# -- augmentation -------------------------------------------------------------------------

def _images(seed, b=6, c=3, h=5, w=7):
    return torch.randn(b, c, h, w, generator=torch.Generator().manual_seed(seed))


def _crops(x, pad):
    """Every crop of the zero-padded sample x (C×H×W) and of its mirror."""
    _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    out = []
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            crop = padded[:, dy:dy + h, dx:dx + w]
            out += [crop, crop.flip(-1)]
    return out


@FAST
@given(seed=st.integers(0, 2**31 - 1), pad=st.integers(0, 4), shape=st.tuples(st.integers(1, 5), st.integers(1, 3),
                                                                               st.integers(1, 8), st.integers(1, 8)))
def test_augment_keeps_shape_and_is_deterministic(seed, pad, shape):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed + 1))
    a = augment(x, torch.Generator().manual_seed(seed), pad=pad)
    b = augment(x, torch.Generator().manual_seed(seed), pad=pad)
    assert a.shape == x.shape and a.dtype == x.dtype and a.is_contiguous()
    assert torch.equal(a, b)
    for i in range(x.shape[0]):  # each sample is a crop of its padded self, possibly mirrored
        assert any(torch.equal(a[i], c) for c in _crops(x[i], pad))


def test_augment_without_padding_or_flips_is_identity(monkeypatch):
    x = _images(0)
    never = lambda n, generator=None, device=None: torch.ones(n)  # noqa: E731  flip where rand < 0.5: never
    monkeypatch.setattr(D.torch, "rand", never)
    assert torch.equal(augment(x, torch.Generator().manual_seed(0), pad=0), x)


def test_augment_forced_flips_mirror_each_sample(monkeypatch):
    x = _images(1)
    always = lambda n, generator=None, device=None: torch.zeros(n)  # noqa: E731
    monkeypatch.setattr(D.torch, "rand", always)
    assert torch.equal(augment(x, torch.Generator().manual_seed(0), pad=0), x.flip(-1))
    padded = augment(x, torch.Generator().manual_seed(3), pad=2)
    for i in range(x.shape[0]):
        mirrored = [c for k, c in enumerate(_crops(x[i], 2)) if k % 2 == 1]
        assert any(torch.equal(padded[i], c) for c in mirrored)


def test_augment_draws_differ_between_samples_and_generators():
    x = _images(2, b=64)
    a = augment(x, torch.Generator().manual_seed(0))
    assert not torch.equal(a, augment(x, torch.Generator().manual_seed(1)))
    assert not torch.equal(a, x)
    # without padding only the flips remain: drawn per sample, so both outcomes appear in a batch of 64
    flips = augment(x, torch.Generator().manual_seed(0), pad=0)
    same = [torch.equal(flips[i], x[i]) for i in range(64)]
    mirrored = [torch.equal(flips[i], x[i].flip(-1)) for i in range(64)]
    assert all(s or m for s, m in zip(same, mirrored))
    assert any(same) and any(mirrored)


# -- idx files ------------------------------------------------------------------------------

def _idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_idx(folder, stem, array, gz):
    folder.mkdir(parents=True, exist_ok=True)
    payload = _idx_bytes(array)
    if gz:
        with gzip.open(folder / f"{stem}.gz", "wb") as f:
            f.write(payload)
    else:
        (folder / stem).write_bytes(payload)


def _fake_mnist(folder, gz, n_train=12, n_test=5, side=4, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, side, side)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, side, side)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for i, (stem, array) in enumerate(arrays.items()):
        _write_idx(folder, stem, array, gz if isinstance(gz, bool) else bool(i % 2))
    return arrays


@pytest.mark.parametrize("gz", [False, True, "mixed"])
def test_idx_loader_reads_synthetic_mnist(tmp_path, gz):
    arrays = _fake_mnist(tmp_path / "mnist", gz)
    data = load_dataset("mnist", data_dir=tmp_path)
    assert isinstance(data, TensorData) and data.name == "mnist" and data.num_classes == 10
    assert data.x_train.shape == (12, 1, 4, 4) and data.x_test.shape == (5, 1, 4, 4)
    assert data.y_train.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert data.y_test.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    # standardized with the training statistics, order and values preserved
    raw = arrays["train-images-idx3-ubyte"].astype(np.float32) / 255.0
    expected = (raw - raw.mean()) / raw.std(ddof=1)
    np.testing.assert_allclose(data.x_train[:, 0].numpy(), expected, rtol=1e-4, atol=1e-5)


def test_idx_loader_finds_the_raw_subfolder_and_env_var(tmp_path, monkeypatch):
    _fake_mnist(tmp_path / "fashion-mnist" / "FashionMNIST" / "raw", gz=True)
    monkeypatch.setenv("REPLICATION_DATA", str(tmp_path))
    data = load_dataset("fashion-mnist")
    assert data.n_train == 12 and data.name == "fashion-mnist"


def test_read_idx_plain_and_gz(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path, "a", array, gz=False)
    _write_idx(tmp_path, "b", array, gz=True)
    np.testing.assert_array_equal(D._read_idx(tmp_path / "a"), array)
    np.testing.assert_array_equal(D._read_idx(tmp_path / "b.gz"), array)


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "short").write_bytes(b"\x00\x00")
    truncated = _idx_bytes(np.zeros((3, 2, 2), dtype=np.uint8))[:-2]
    (tmp_path / "truncated").write_bytes(truncated)
    wrong_type = bytearray(_idx_bytes(np.zeros((2,), dtype=np.uint8)))
    wrong_type[2] = 0x0D  # float32 idx: not what MNIST ships
    (tmp_path / "float").write_bytes(bytes(wrong_type))
    for name in ("short", "truncated", "float"):
        with pytest.raises(DataError, match="not a readable idx file"):
            D._read_idx(tmp_path / name)


# -- missing data -----------------------------------------------------------------------------

@pytest.fixture
def no_data_anywhere(tmp_path, monkeypatch):
    """Empty data dir and HOME; any attempt to download fails the test."""
    empty, home = tmp_path / "data", tmp_path / "home"
    empty.mkdir()
    home.mkdir()
    monkeypatch.setenv("REPLICATION_DATA", str(empty))
    monkeypatch.setenv("HOME", str(home))

    def no_download(*args, **kwargs):
        raise AssertionError("load_dataset tried to download")

    monkeypatch.setattr(D, "_download", no_download)
    return empty, home


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_missing_dataset_names_the_places_tried(no_data_anywhere, name):
    empty, home = no_data_anywhere
    system = [p for p in D._SYSTEM_PLACES[name] if not p.startswith("~")]
    if any(D.Path(p).is_dir() for p in system):
        pytest.skip(f"{name} is installed on this machine")
    with pytest.raises(DataError) as err:
        load_dataset(name)
    message = str(err.value)
    assert repr(name) in message
    assert str(empty / name) in message
    assert str(home / ".cache" / "replication" / name) in message
    for place in system:
        assert place in message
    assert "--data-dir" in message
    assert list(empty.iterdir()) == [] and list(home.iterdir()) == []  # nothing was created


def test_missing_dataset_with_explicit_dir_never_downloads_by_default(no_data_anywhere, tmp_path):
    target = tmp_path / "explicit"
    with pytest.raises(DataError, match="explicit"):
        load_dataset("mnist", data_dir=target)
    assert not target.exists()


def test_unknown_dataset_is_a_data_error():
    with pytest.raises(DataError, match="unknown dataset"):
        load_dataset("svhn")


def test_imagenet_folders_load_lazily(tmp_path, monkeypatch):
    """A tiny ImageNet-shaped folder tree (two classes, PNGs) loads without holding images in memory."""
    from PIL import Image

    from replication.data import FolderImages, load_dataset

    for split in ("train", "val"):
        for label, wnid in enumerate(("n01", "n02")):
            folder = tmp_path / "imagenet" / split / wnid
            folder.mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (300, 280), (100 * label, 50 * i, 30)).save(folder / f"{i}.png")
    monkeypatch.setenv("REPLICATION_DATA", str(tmp_path))
    data = load_dataset("imagenet")
    assert isinstance(data.x_train, FolderImages)
    assert data.n_train == 4 and data.num_classes == 2 and data.image_shape == (3, 224, 224)
    batch = data.x_train[torch.tensor([0, 3])]
    assert batch.shape == (2, 3, 224, 224)
    assert torch.equal(data.y_train, torch.tensor([0, 0, 1, 1]))
    assert torch.allclose(data.x_test[0:1], data.x_test[torch.tensor([0])])


def test_a_reduced_dataset_is_a_fixed_subset_pooled_and_standardized_again():
    """data.reduce: the first N of a seed-0 permutation of the training images (the same on every load), each image
    average-pooled, then standardized on the subset; the test images are all kept and pooled alike."""
    g = torch.Generator().manual_seed(0)
    base = TensorData("base", torch.rand(100, 1, 8, 8, generator=g), torch.arange(100) % 10,
                      torch.rand(30, 1, 8, 8, generator=g), torch.arange(30) % 10, 10)
    how = D.Reduced("base", train_examples=40, pool=2)
    small, again = D.reduce(base, how, "base-40-4px"), D.reduce(base, how, "base-40-4px")
    assert small.name == "base-40-4px" and small.image_shape == (1, 4, 4)
    assert small.n_train == 40 and len(small.y_test) == 30
    torch.testing.assert_close(small.x_train, again.x_train)
    keep = torch.from_numpy(np.random.RandomState(0).permutation(100)[:40])
    torch.testing.assert_close(small.y_train, base.y_train[keep])
    pooled = base.x_train[keep[0], 0, :2, :2].mean()
    raw = torch.nn.functional.avg_pool2d(base.x_train[keep], 2)
    assert float(small.x_train[0, 0, 0, 0]) == pytest.approx(float((pooled - raw.mean()) / raw.std()), abs=1e-5)
    assert float(small.x_train.mean()) == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(DataError, match="needs 400 training images"):
        D.reduce(base, D.Reduced("base", 400), "too-big")


def test_every_reduced_dataset_is_a_dataset_name_and_reduces_a_loadable_one():
    from replication.spec import DATASETS
    for name, how in D.REDUCED.items():
        assert name in DATASETS and how.base in DATASETS and how.base not in D.REDUCED
