"""Reading MNIST in its original IDX format (gzip), as the Azure ML tutorial's utils.py does."""

import gzip
import os
import struct

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


def load_data(folder, test_rows=2000):
    """(X_train, X_test, y_train, y_test), pixels scaled to [0, 1].

    With the full data set (train-images present) this is the canonical 60k/10k split; with only
    the 10k test set (the offline copy) the first rows train and the last `test_rows` test."""

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
