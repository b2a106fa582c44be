"""Put MNIST into the object store for the tutorial (Azure ML: `ds.upload(src_dir=data_folder)`).

Where the files come from, first that works:
1. the full data set (60k train + 10k test) from a public mirror, each file checked against its
   known MD5 (skipped with --offline);
2. the offline copy in ../shared/data/mnist (or $TRAINYARD_MNIST_DIR), checked against its
   SHA256SUMS: the 10k test set, which utils.load_data splits 8,000/2,000;
3. scikit-learn's bundled digits (8x8), written in the same IDX format.

    python upload_data.py [--offline] [--dest s3://trainyard/datasets/mnist/] [--local-dir ./data]
"""

import argparse
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

MIRRORS = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"]
CANONICAL_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"


def _digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_full(dest: Path) -> bool:
    for name, md5 in CANONICAL_MD5.items():
        for mirror in MIRRORS:
            try:
                with urllib.request.urlopen(mirror + name, timeout=10) as resp, open(dest / name, "wb") as out:
                    shutil.copyfileobj(resp, out)
            except OSError as exc:
                print(f"  {mirror}{name}: {exc}", file=sys.stderr)
                continue
            if _digest(dest / name, "md5") == md5:
                break
            print(f"  {mirror}{name}: checksum mismatch, trying the next mirror", file=sys.stderr)
        else:
            return False
    return True


def copy_offline(src: Path, dest: Path) -> bool:
    sums = src / "SHA256SUMS"
    if not sums.exists():
        return False
    expected = dict(reversed(line.split()) for line in sums.read_text().splitlines() if line.strip())
    for name in TEST_FILES:
        if _digest(src / name, "sha256") != expected.get(name):
            raise SystemExit(f"{src / name} does not match SHA256SUMS")
        shutil.copy(src / name, dest / name)
    return True


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_digits(dest: Path) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.clip(digits.images * 16, 0, 255).astype(np.uint8)
    write_idx(dest / TEST_FILES[0], images)
    write_idx(dest / TEST_FILES[1], digits.target.astype(np.uint8))


def gather(dest: Path, offline: bool) -> str:
    dest.mkdir(parents=True, exist_ok=True)
    if not offline and download_full(dest):
        return "full MNIST (70,000 images) from a public mirror"
    shared = Path(os.environ.get("TRAINYARD_MNIST_DIR", SHARED))
    if shared.is_dir() and copy_offline(shared, dest):
        return f"the offline MNIST test set (10,000 images) from {shared}"
    write_digits(dest)
    return "scikit-learn's digits (1,797 8x8 images) in IDX format"


def upload(folder: Path, dest: str) -> int:
    from trainyard.storage.config import StoreConfig
    from trainyard.storage.uri import parse_s3

    target = parse_s3(dest).as_prefix()
    client = StoreConfig.from_env().client()
    count = 0
    for f in sorted(folder.glob("*.gz")):
        client.fput_object(target.bucket, target.key + f.name, str(f))
        count += 1
    return count


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dest", default="s3://trainyard/datasets/mnist/")
    p.add_argument("--local-dir", type=Path, default=None, help="also keep the files here (to run train.py locally)")
    p.add_argument("--offline", action="store_true", help="do not try the public mirrors")
    p.add_argument("--no-upload", action="store_true", help="only gather the files into --local-dir")
    args = p.parse_args()
    folder = args.local_dir or Path(tempfile.mkdtemp(prefix="mnist-"))
    what = gather(folder, args.offline)
    print(f"data: {what} in {folder}")
    if not args.no_upload:
        print(f"uploaded {upload(folder, args.dest)} file(s) to {args.dest}")


if __name__ == "__main__":
    main()
