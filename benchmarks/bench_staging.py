"""Staging throughput: 1 GiB from MinIO into a local directory, as 1,000 files and as 4 files,
with trainyard's transfer (verified, cached) against boto3's transfer manager (s3transfer, the
engine of `aws s3 cp --recursive`) at the same concurrency; then a warm cache against a cold one.

    python benchmarks/bench_staging.py [--mib 1024] [--workers 16] [--rounds 2]

Goals (issue 3): >= 1.0x boto3's throughput; warm cache >= 20x cold. Figures and ratios are
printed; baselines are measured in the same run, on the same server and data.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

MiB = 1024 * 1024


def populate(client, prefix: str, total: int, count: int) -> None:
    size = total // count
    block = os.urandom(MiB)

    def put(i: int) -> None:
        # Distinct content per file (a counter in the first bytes) without generating 1 GiB of randomness.
        unit = i.to_bytes(8, "little") + block[8:]
        data = unit * (size // MiB) + unit[: size % MiB]
        client.put_object("trainyard", f"{prefix}f{i:04d}.bin", io.BytesIO(data), len(data), part_size=16 * MiB)

    with cf.ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(count)))


def boto3_download(store, prefix: str, dest: Path, workers: int) -> float:
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config
    from s3transfer.manager import TransferManager

    s3 = boto3.client(
        "s3",
        endpoint_url=store.endpoint,
        aws_access_key_id=store.access_key,
        aws_secret_access_key=store.secret_key,
        region_name="us-east-1",
        config=Config(max_pool_connections=workers + 4, signature_version="s3v4"),
    )
    started = time.perf_counter()
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="trainyard", Prefix=prefix)
        for o in page.get("Contents", [])
    ]
    with TransferManager(s3, TransferConfig(max_concurrency=workers)) as tm:
        futures = []
        for key in keys:
            target = dest / key[len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            futures.append(tm.download("trainyard", key, str(target)))
        for f in futures:
            f.result()
    return time.perf_counter() - started


def ours_download(store, prefix: str, dest: Path, cache: Path, workers: int):
    from trainyard.storage.cache import ObjectCache
    from trainyard.storage.config import StoreConfig
    from trainyard.storage.transfer import Transfer
    from trainyard.storage.uri import S3Uri

    client = StoreConfig.from_env(store.env()).client(max_connections=workers + 4)
    t = Transfer(client, cache=ObjectCache(cache), workers=workers)
    started = time.perf_counter()
    stats = t.download(S3Uri("trainyard", prefix), dest)
    return time.perf_counter() - started, stats


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def bench_shape(store, root: Path, total: int, count: int, workers: int, rounds: int) -> dict:
    prefix = f"bench/{count}/"
    populate(store.client(), prefix, total, count)
    total = total // count * count
    mb = total / 1e6
    boto, ours, warm = [], [], []
    for r in range(rounds):
        # Alternate the order so neither side always meets a warmer server.
        order = ("boto3", "ours") if r % 2 == 0 else ("ours", "boto3")
        for who in order:
            dest = fresh(root / "dest")
            if who == "boto3":
                boto.append(boto3_download(store, prefix, dest, workers))
            else:
                cache = fresh(root / "cache")
                seconds, stats = ours_download(store, prefix, dest, cache, workers)
                assert stats.downloaded_bytes == total and stats.cache_hits == 0, stats
                ours.append(seconds)
                seconds, stats = ours_download(store, prefix, fresh(root / "dest2"), cache, workers)
                assert stats.downloaded_bytes == 0 and stats.cache_hits == count, stats
                warm.append(seconds)
            shutil.rmtree(dest, ignore_errors=True)
        shutil.rmtree(root / "dest2", ignore_errors=True)
    shutil.rmtree(root / "cache", ignore_errors=True)
    for o in store.client().list_objects("trainyard", prefix, recursive=True):
        store.client().remove_object("trainyard", o.object_name)
    b, o, w = statistics.median(boto), statistics.median(ours), statistics.median(warm)
    each = total // count
    return {
        "shape": f"{count} x {each / MiB:.0f} MiB" if each >= 10 * MiB else f"{count} x {each // 1024} KiB",
        "boto3 MB/s": mb / b,
        "ours MB/s": mb / o,
        "ours/boto3": b / o,
        "warm s": w,
        "warm/cold": o / w,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args(argv)
    from trainyard.local import objectstore

    root = Path(tempfile.mkdtemp(prefix="bench-staging-"))
    store = objectstore.start(root / "minio")
    try:
        rows = [bench_shape(store, root, args.mib * MiB, count, args.workers, args.rounds) for count in (1000, 4)]
    finally:
        store.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"\nstaging {args.mib} MiB, MinIO -> local dir, {args.workers} workers, median of {args.rounds} rounds")
    print(f"{'shape':<16}{'boto3 MB/s':>12}{'ours MB/s':>12}{'ours/boto3':>12}{'warm s':>10}{'warm/cold':>11}")
    for r in rows:
        print(
            f"{r['shape']:<16}{r['boto3 MB/s']:>12.0f}{r['ours MB/s']:>12.0f}{r['ours/boto3']:>11.2f}x"
            f"{r['warm s']:>10.3f}{r['warm/cold']:>10.1f}x"
        )
    ok = all(r["ours/boto3"] >= 1.0 and r["warm/cold"] >= 20 for r in rows)
    print("goals (>= 1.0x boto3, warm >= 20x cold):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
