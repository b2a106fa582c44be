"""Reading MNIST in its original IDX format (gzip), as the Azure ML tutorial's utils.py does.

`load_data(folder)` is what train.py uses (the canonical file names, a (X_train, X_test, y_train,
y_test) tuple); `load_data(file, label)` is the tutorial notebook's own (one array per file).
`download_mnist(folder)` writes the notebook's four files (train-images.gz, ...)."""

import gzip
import hashlib
import os
import shutil
import struct
import sys
import tempfile
import urllib.request
from pathlib import Path

import numpy as np


def load_idx(path):
    """An IDX file (images: n x rows x cols uint8, labels: n uint8) as a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        zero, dtype, ndim = struct.unpack(">HBB", f.read(4))
        if zero != 0 or dtype != 0x08:
            raise ValueError(f"{path} is not an unsigned-byte IDX file")
        shape = struct.unpack(">" + "I" * ndim, f.read(4 * ndim))
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(shape)


def load_data(folder, label=False, *, test_rows=2000):
    """A folder: (X_train, X_test, y_train, y_test), pixels scaled to [0, 1].
    A file (the tutorial notebook's form): its images as n x 784 uint8 rows, or its labels as an
    n x 1 column with label=True.

    With the full data set (train-images present) this is the canonical 60k/10k split; with only
    the 10k test set (the offline copy) the first rows train and the last `test_rows` test."""

    if os.path.isfile(folder):
        array = load_idx(folder)
        return array.reshape(len(array), 1) if label else array.reshape(len(array), -1)

    def path(name):
        return os.path.join(folder, name)

    X_t10k = load_idx(path("t10k-images-idx3-ubyte.gz"))
    y_t10k = load_idx(path("t10k-labels-idx1-ubyte.gz"))
    if os.path.exists(path("train-images-idx3-ubyte.gz")):
        X_train = load_idx(path("train-images-idx3-ubyte.gz"))
        y_train = load_idx(path("train-labels-idx1-ubyte.gz"))
        X_test, y_test = X_t10k, y_t10k
    else:
        test_rows = min(test_rows, len(X_t10k) // 5)  # the 1,797-image digits fallback
        X_train, y_train = X_t10k[:-test_rows], y_t10k[:-test_rows]
        X_test, y_test = X_t10k[-test_rows:], y_t10k[-test_rows:]

    def flat(X):
        return X.reshape(len(X), -1).astype(np.float32) / 255.0

    return flat(X_train), flat(X_test), y_train.astype(np.int64), y_test.astype(np.int64)


# --- the notebook's data: the tutorial's four files, from wherever they can be had ------------------

MIRRORS = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"]
CANONICAL_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
TUTORIAL_NAMES = {
    "train-images-idx3-ubyte.gz": "train-images.gz",
    "train-labels-idx1-ubyte.gz": "train-labels.gz",
    "t10k-images-idx3-ubyte.gz": "test-images.gz",
    "t10k-labels-idx1-ubyte.gz": "test-labels.gz",
}


def _shared():
    """../shared/data/mnist next to the repository (this file may sit anywhere, e.g. in a pod)."""
    parents = Path(__file__).resolve().parents
    return parents[3] / "shared" / "data" / "mnist" if len(parents) > 3 else Path("/nonexistent")


def _write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def _from_mirrors(dest):
    for name, md5 in CANONICAL_MD5.items():
        for mirror in MIRRORS:
            try:
                with urllib.request.urlopen(mirror + name, timeout=10) as resp, open(dest / name, "wb") as out:
                    shutil.copyfileobj(resp, out)
            except OSError:
                continue
            if hashlib.md5(open(dest / name, "rb").read()).hexdigest() == md5:
                break
        else:
            return False
    return True


def download_mnist(folder="./data", test_rows=2000):
    """Write train-images.gz, train-labels.gz, test-images.gz, test-labels.gz into `folder`, from
    (1) a public mirror of MNIST, each file checked against its MD5 (skipped when
    TRAINYARD_MNIST_OFFLINE=1); else (2) the offline copy of the 10k test set
    ($TRAINYARD_MNIST_DIR or ../shared/data/mnist next to the repository), split into 8,000 training
    and 2,000 test images; else (3) scikit-learn's 1,797 digits scaled to 28x28, with a warning.
    Returns what it used."""
    dest = Path(folder)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if os.environ.get("TRAINYARD_MNIST_OFFLINE") != "1" and _from_mirrors(tmp):
            for canonical, short in TUTORIAL_NAMES.items():
                shutil.copy(tmp / canonical, dest / short)
            return "full MNIST (70,000 images) from a public mirror"
    shared = Path(os.environ.get("TRAINYARD_MNIST_DIR") or _shared())
    if (shared / "t10k-images-idx3-ubyte.gz").is_file():
        X, y = load_idx(str(shared / "t10k-images-idx3-ubyte.gz")), load_idx(str(shared / "t10k-labels-idx1-ubyte.gz"))
        what = f"the offline MNIST test set from {shared}: {len(X) - test_rows} training and {test_rows} test images"
    else:
        from sklearn.datasets import load_digits

        digits = load_digits()
        # 8x8 at 0-16 -> 24x24 at 0-255, padded to MNIST's 28x28 so the tutorial's cells run unchanged
        X = np.pad(np.kron(digits.images * 15.9, np.ones((3, 3))), ((0, 0), (2, 2), (2, 2))).astype(np.uint8)
        y = digits.target.astype(np.uint8)
        test_rows = min(test_rows, len(X) // 5)
        what = "scikit-learn's digits (1,797 8x8 images scaled to 28x28): MNIST is not available here"
        print(f"WARNING: {what}", file=sys.stderr)
    _write_idx(dest / "train-images.gz", X[:-test_rows])
    _write_idx(dest / "train-labels.gz", y[:-test_rows])
    _write_idx(dest / "test-images.gz", X[-test_rows:])
    _write_idx(dest / "test-labels.gz", y[-test_rows:])
    return what
