"""Runner overhead: the tutorial's MNIST LogisticRegression script through
`python -m trainyard.runtime.run` (log streaming, metrics reporter, outputs + logs + manifest
uploaded to MinIO) against plain `python train.py`, on the same data.

    python benchmarks/bench_runner.py [--rounds 3]

Data: the first 8,000 of MNIST's t10k images for training and the last 2,000 for testing, from
../shared/data/mnist beside the repository, or $TRAINYARD_MNIST_DIR (IDX gzip); without it,
scikit-learn's digits, said loudly. Goal (issue 3):
runner <= 1.05x plain + 1 s. Medians of alternating rounds are printed.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MNIST = Path(os.environ.get("TRAINYARD_MNIST_DIR") or REPO.parent / "shared" / "data" / "mnist")

TRAIN = textwrap.dedent("""
    import argparse, gzip, os, struct
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from trainyard import Run

    def load(path, images):
        with gzip.open(path) as f:
            if images:
                _, n, rows, cols = struct.unpack(">IIII", f.read(16))
                return np.frombuffer(f.read(), np.uint8).reshape(n, rows * cols) / 255.0
            _, n = struct.unpack(">II", f.read(8))
            return np.frombuffer(f.read(), np.uint8)

    parser = argparse.ArgumentParser()
    parser.add_argument("--data-folder", required=True)
    parser.add_argument("--regularization", type=float, default=0.5)
    args = parser.parse_args()
    X = load(os.path.join(args.data_folder, "t10k-images-idx3-ubyte.gz"), True)
    y = load(os.path.join(args.data_folder, "t10k-labels-idx1-ubyte.gz"), False)
    X_train, X_test, y_train, y_test = X[:8000], X[8000:], y[:8000], y[8000:]
    run = Run.get_context()
    run.log("regularization rate", args.regularization)
    clf = LogisticRegression(C=1.0 / args.regularization, max_iter=100, random_state=42).fit(X_train, y_train)
    accuracy = float(np.mean(clf.predict(X_test) == y_test))
    print("accuracy", accuracy)
    run.log("accuracy", accuracy)
    os.makedirs("outputs", exist_ok=True)
    joblib.dump(clf, "outputs/sklearn_mnist_model.pkl")
""")


def write_idx(folder: Path) -> str:
    """The data folder: real MNIST if present, else scikit-learn's digits in the same format."""
    folder.mkdir(parents=True, exist_ok=True)
    if (MNIST / "t10k-images-idx3-ubyte.gz").exists():
        for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
            shutil.copyfile(MNIST / name, folder / name)
        return "MNIST t10k (8,000 train / 2,000 test)"
    from sklearn.datasets import load_digits

    print(f"WARNING: no MNIST in {MNIST} (set TRAINYARD_MNIST_DIR): using scikit-learn's digits", file=sys.stderr)
    digits = load_digits()
    images = np.resize((digits.images * 16).clip(0, 255).astype(np.uint8), (10000, 8, 8))
    labels = np.resize(digits.target.astype(np.uint8), 10000)
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 2051, len(images), 8, 8) + images.tobytes())
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 2049, len(labels)) + labels.tobytes())
    return "scikit-learn digits in IDX format (MNIST not found)"


def timed(argv: list[str], cwd: Path, env: dict) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed:\n{proc.stdout}\n{proc.stderr}")
    return elapsed


EMPTY = "from trainyard import Run\nRun.get_context().log('accuracy', 1.0)\n"


def measure(store, root: Path, data: Path, script: str, rounds: int) -> tuple[list[float], list[float]]:
    """Alternating rounds of plain `python train.py` and the same through the runner."""
    plain_dir, run_dir = root / "plain", root / "ws"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TRAINYARD_", "KUBERNETES_"))}
    plain, runner = [], []
    for r in range(rounds):
        for who in ("plain", "runner") if r % 2 == 0 else ("runner", "plain"):
            where = plain_dir if who == "plain" else run_dir
            shutil.rmtree(where, ignore_errors=True)
            where.mkdir()
            (where / "train.py").write_text(script)
            if who == "plain":
                plain.append(
                    timed(
                        [sys.executable, "train.py", "--data-folder", str(data), "--regularization", "0.5"],
                        plain_dir,
                        base,
                    )
                )
                continue
            env = {
                **base,
                **store.env(),
                "TRAINYARD_RUN_NAME": f"bench-{r}",
                "TRAINYARD_RUN_NAMESPACE": "bench",
                "TRAINYARD_WORKDIR": str(run_dir),
                "TRAINYARD_ENTRY_SCRIPT": "train.py",
                "TRAINYARD_ARGS": '["--data-folder", "$(TRAINYARD_INPUT_MNIST)", "--regularization", "0.5"]',
                "TRAINYARD_INPUTS": '[{"name": "mnist", "uri": "s3://trainyard/datasets/mnist/"}]',
                # the input is already where staging would have put it
                "TRAINYARD_DATA_DIR": str(data.parent),
                "TRAINYARD_TERMINATION_LOG": str(root / "term"),
            }
            runner.append(timed([sys.executable, "-m", "trainyard.runtime.run"], run_dir, env))
    return plain, runner


def report(title: str, plain: list[float], runner: list[float]) -> None:
    print(f"\n{title}")
    print(f"  plain python train.py : {[f'{x:.2f}' for x in plain]}")
    print(f"  trainyard runner      : {[f'{x:.2f}' for x in runner]}")
    for label, f in (("median", statistics.median), ("best", min)):
        p, r = f(plain), f(runner)
        print(
            f"  {label:<6}: plain {p:6.2f} s, runner {r:6.2f} s, ratio {r / p:.3f}x, overhead {r - p:+.2f} s; "
            f"goal <= 1.05x + 1 s = {1.05 * p + 1:.2f} s -> {'met' if r <= 1.05 * p + 1 else 'NOT met'}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    from trainyard.local import objectstore

    root = Path(tempfile.mkdtemp(prefix="bench-runner-"))
    store = objectstore.start(root / "minio")
    try:
        data = root / "inputs" / "mnist"
        what = write_idx(data)
        fixed = measure(store, root, data, EMPTY, max(5, args.rounds))
        mnist = measure(store, root, data, TRAIN, args.rounds)
        manifest = store.client().get_object("trainyard", "runs/bench/bench-0/manifest.json").read()
        assert b"outputs/sklearn_mnist_model.pkl" in manifest
    finally:
        store.stop()
        shutil.rmtree(root, ignore_errors=True)
    report("fixed cost: a script that only logs one metric", *fixed)
    report(f"MNIST LogisticRegression on {what}", *mnist)
    return 0


if __name__ == "__main__":
    sys.exit(main())
