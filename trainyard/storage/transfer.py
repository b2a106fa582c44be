"""Download an s3:// prefix into a directory and upload a directory to a prefix.

Parallel over objects (and over byte ranges of big objects), retried with backoff on transient
errors, verified against size and ETag, resumable (partial files continue, finished ones are
skipped) and cached by content on the node (`cache.ObjectCache`).
"""

from __future__ import annotations

import builtins
import concurrent.futures as cf
import dataclasses
import hashlib
import os
import threading
import time
from pathlib import Path, PurePosixPath

from trainyard.storage import etag as etags
from trainyard.storage.cache import ObjectCache, place
from trainyard.storage.retry import TransientError, with_retries
from trainyard.storage.uri import S3Uri

MiB = 1024 * 1024
CHUNK = 1 * MiB


class NotFound(Exception):
    """Nothing at the given s3:// location."""


@dataclasses.dataclass(frozen=True)
class RemoteObject:
    bucket: str
    key: str
    rel: str  # path under the destination directory, '/'-separated
    size: int
    etag: str


@dataclasses.dataclass
class TransferStats:
    objects: int = 0
    bytes: int = 0
    downloaded_bytes: int = 0
    resumed_bytes: int = 0
    cache_hits: int = 0
    cache_invalidated: int = 0
    etag_verified: int = 0
    size_only: int = 0
    verify_failures: int = 0
    retries: int = 0
    seconds: float = 0.0
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts) -> None:
        with self._lock:
            for k, v in counts.items():
                setattr(self, k, getattr(self, k) + v)

    def summary(self) -> str:
        mb = self.bytes / 1e6
        rate = mb / self.seconds if self.seconds else 0.0
        return (
            f"{self.objects} objects, {mb:.1f} MB in {self.seconds:.2f}s ({rate:.0f} MB/s); "
            f"{self.cache_hits} from cache, {self.downloaded_bytes / 1e6:.1f} MB downloaded"
        )


@dataclasses.dataclass(frozen=True)
class ManifestEntry:
    path: str
    size: int
    sha256: str


def relative_key(key: str, prefix: str) -> str:
    """The path of `key` under `prefix`, refusing anything that would leave the destination."""
    rel = key[len(prefix) :].lstrip("/")
    parts = PurePosixPath(rel).parts
    if not rel or any(p in ("..", ".") for p in rel.split("/")) or PurePosixPath(rel).is_absolute() or not parts:
        raise ValueError(f"object key {key!r} does not map to a safe path under the destination")
    return rel


class Transfer:
    """Transfers between one object store (a minio client) and local directories.

    `range_threshold`: objects at least this big are fetched as parallel ranged GETs of
    `range_size`. Off by default because it did not win where we measured (2 cores, MinIO on
    loopback, benchmarks/bench_staging.py): one stream per object was faster for 1 GiB as 4
    files (733 vs 530 MB/s) and for a single 512 MiB object (356-419 vs 236-363 MB/s), the CPU
    being the limit, not one TCP stream. Turn it on for a distant store where it is.
    """

    def __init__(
        self,
        client,
        *,
        cache: ObjectCache,
        workers: int = 16,
        range_threshold: int | None = None,
        range_size: int = 16 * MiB,
        part_size: int = etags.UPLOAD_PART_SIZE,
        verify: bool = True,
        attempts: int = 6,
        sleep=time.sleep,
    ):
        self.client, self.cache, self.workers = client, cache, max(1, workers)
        self.range_threshold, self.range_size, self.part_size = range_threshold, range_size, part_size
        self.verify, self.attempts, self.sleep = verify, attempts, sleep
        # Bounds the ranged GETs of all big objects together to `workers` connections.
        self._range_slots = threading.BoundedSemaphore(self.workers)

    def _retry(self, fn, what: str, stats: TransferStats | None):
        on_retry = (lambda exc: stats.add(retries=1)) if stats else None
        return with_retries(fn, what=what, attempts=self.attempts, sleep=self.sleep, on_retry=on_retry)

    # -- listing ---------------------------------------------------------------------------------

    def list(self, uri: S3Uri) -> list[RemoteObject]:
        """Objects under a prefix (a key without a trailing '/' is tried as a prefix, then as one
        object). Raises NotFound when there is nothing."""
        from minio.error import S3Error

        prefix = uri.as_prefix().key

        def listing():
            return [
                o
                for o in self.client.list_objects(uri.bucket, prefix=prefix, recursive=True)
                if not o.is_dir and not o.object_name.endswith("/")
            ]

        try:
            found = self._retry(listing, f"list {uri}", None)
        except S3Error as exc:
            # A run's credentials may list a snapshot's exact key but not "<key>/": try the object.
            if uri.is_prefix or exc.code != "AccessDenied":
                raise
            found = []
        if found:
            objs = [
                RemoteObject(
                    uri.bucket, o.object_name, relative_key(o.object_name, prefix), o.size, etags.normalize(o.etag)
                )
                for o in found
            ]
            return sorted(objs, key=lambda o: o.key)
        if not uri.is_prefix:
            obj = self.stat(uri)
            if obj:
                return [obj]
        raise NotFound(f"no objects under {uri.as_prefix()}")

    def stat(self, uri: S3Uri) -> RemoteObject | None:
        """One object by its exact key, or None if it does not exist."""
        from minio.error import S3Error

        try:
            st = self._retry(lambda: self.client.stat_object(uri.bucket, uri.key), f"stat {uri}", None)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                return None
            raise
        return RemoteObject(uri.bucket, uri.key, uri.name, st.size, etags.normalize(st.etag))

    # -- download --------------------------------------------------------------------------------

    def download(self, uri: S3Uri, dest: Path, *, pool: cf.ThreadPoolExecutor | None = None) -> TransferStats:
        """Mirror `uri` into `dest`; objects come from the cache when their content is there."""
        started = time.monotonic()
        objs = self.list(uri)
        stats = TransferStats(objects=len(objs), bytes=sum(o.size for o in objs))
        dest.mkdir(parents=True, exist_ok=True)
        own = pool is None
        pool = pool or cf.ThreadPoolExecutor(self.workers, thread_name_prefix="trainyard-get")
        futures: list[cf.Future] = []
        try:
            futures += [pool.submit(self._download_one, o, dest / o.rel, stats, pool) for o in objs]
            for fut in cf.as_completed(futures):
                fut.result()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
        finally:
            if own:
                pool.shutdown(wait=True, cancel_futures=True)
        stats.seconds = time.monotonic() - started
        return stats

    def _download_one(self, obj: RemoteObject, target: Path, stats: TransferStats, pool) -> None:
        cached = self.fetch(obj, stats, pool)
        place(cached, target)

    def fetch(self, obj: RemoteObject, stats: TransferStats, pool=None) -> Path:
        """The cached, verified copy of `obj`, downloading (or resuming) it if needed."""
        hit, _ = self.cache.lookup(obj.etag, obj.size, drop=False)  # the common case needs no lock
        if hit:
            stats.add(cache_hits=1)
            return hit
        with self.cache.lock(obj.etag, obj.size):
            hit, dropped = self.cache.lookup(obj.etag, obj.size)
            if dropped:
                stats.add(cache_invalidated=1)
            if hit:
                stats.add(cache_hits=1)
                return hit
            return self._retry(lambda: self._fetch_and_verify(obj, stats, pool), f"get {obj.key}", stats)

    def _fetch_and_verify(self, obj: RemoteObject, stats: TransferStats, pool) -> Path:
        part = self.cache.part_path(obj.etag, obj.size)
        ranged = (
            self.range_threshold is not None
            and obj.size >= self.range_threshold
            and pool is not None
            and self.workers > 1
        )
        streamed_md5 = None
        if ranged or self.cache.ranges_path(obj.etag, obj.size).exists():
            self._get_ranged(obj, part, stats, pool)
        else:
            streamed_md5 = self._get_stream(obj, part, stats)
        checked = False
        if self.verify:
            try:
                if streamed_md5 is not None:  # hashed while it arrived: no second read
                    size = part.stat().st_size
                    if size != obj.size or streamed_md5 != obj.etag:
                        raise etags.VerificationError(
                            f"{obj.key}: size {size}, md5 {streamed_md5}; expected {obj.size}, ETag {obj.etag}"
                        )
                    checked = True
                else:
                    checked = etags.verify_file(part, obj.size, obj.etag)
            except etags.VerificationError as exc:
                stats.add(verify_failures=1)
                part.unlink(missing_ok=True)
                self.cache.ranges_path(obj.etag, obj.size).unlink(missing_ok=True)
                # A fresh download usually fixes a corrupt partial file; persistent mismatch fails.
                raise TransientError(f"verification failed for {obj.key}: {exc}") from exc
        elif part.stat().st_size != obj.size:
            raise TransientError(f"{obj.key}: got {part.stat().st_size} bytes, expected {obj.size}")
        stats.add(etag_verified=int(checked), size_only=int(not checked))
        return self.cache.commit(obj.etag, obj.size, part, etag_checked=checked)

    def _get(self, obj: RemoteObject, offset: int, length: int):
        headers = {"If-Match": f'"{obj.etag}"'} if obj.etag else None
        return self.client.get_object(obj.bucket, obj.key, offset=offset, length=length, request_headers=headers)

    def _get_stream(self, obj: RemoteObject, part: Path, stats: TransferStats) -> str | None:
        """Fetch (the rest of) an object into `part`; returns its MD5 when its ETag is one and
        verification is on, hashed on the way in."""
        offset = part.stat().st_size if part.exists() else 0
        if offset > obj.size:
            part.unlink()
            offset = 0
        if offset:
            stats.add(resumed_bytes=offset)
        md5 = hashlib.md5() if self.verify and etags.kind(obj.etag) == "md5" else None
        if md5 and offset:
            with open(part, "rb") as fh:
                while chunk := fh.read(CHUNK):
                    md5.update(chunk)
        if offset == obj.size:
            part.touch()
            return md5.hexdigest() if md5 else None
        resp = self._get(obj, offset, 0)
        got = 0
        try:
            with open(part, "ab") as fh:
                for chunk in resp.stream(CHUNK):
                    fh.write(chunk)
                    if md5:
                        md5.update(chunk)
                    got += len(chunk)
        finally:
            stats.add(downloaded_bytes=got)
            resp.close()
            resp.release_conn()
        if offset + got != obj.size:
            raise TransientError(f"short read of {obj.key}: {offset + got} of {obj.size} bytes")
        return md5.hexdigest() if md5 else None

    def _get_ranged(self, obj: RemoteObject, part: Path, stats: TransferStats, pool) -> None:
        """Parallel ranged GETs into a pre-sized file; finished ranges are recorded so a retry
        fetches only the rest."""
        ranges_file = self.cache.ranges_path(obj.etag, obj.size)
        done = set()
        if ranges_file.exists() and part.exists():
            done = {int(line) for line in ranges_file.read_text().split() if line.isdigit()}
        else:
            ranges_file.unlink(missing_ok=True)
        with open(part, "ab") as fh:
            fh.truncate(obj.size)
        starts = [s for s in range(0, obj.size, self.range_size) if s not in done]
        stats.add(resumed_bytes=sum(min(self.range_size, obj.size - s) for s in done))
        lock = threading.Lock()
        fd = os.open(part, os.O_WRONLY)

        def one(start: int) -> None:
            with self._range_slots:
                one_range(start)

        def one_range(start: int) -> None:
            length = min(self.range_size, obj.size - start)
            resp = self._get(obj, start, length)
            pos = start
            try:
                for chunk in resp.stream(CHUNK):
                    os.pwrite(fd, chunk, pos)
                    pos += len(chunk)
            finally:
                stats.add(downloaded_bytes=pos - start)
                resp.close()
                resp.release_conn()
            if pos - start != length:
                raise TransientError(f"short read of {obj.key} at {start}: {pos - start} of {length} bytes")
            with lock, open(ranges_file, "a") as rf:
                rf.write(f"{start}\n")

        try:
            # Ranges run on a private pool: the shared one may be busy running this very call.
            with cf.ThreadPoolExecutor(
                min(self.workers, max(1, len(starts))), thread_name_prefix="trainyard-range"
            ) as ranges:
                for fut in [ranges.submit(one, s) for s in starts]:
                    fut.result()
        finally:
            os.close(fd)

    # -- upload ----------------------------------------------------------------------------------

    def upload_file(
        self, path: Path, bucket: str, key: str, *, skip_existing: bool = True, stats: TransferStats | None = None
    ) -> ManifestEntry:
        """Upload one file (multipart above `part_size`), check the ETag the server returns, and
        return its manifest entry. With `skip_existing`, an object already holding the same
        content is left alone (a retried upload continues where it stopped)."""
        from minio.error import S3Error

        size = path.stat().st_size
        multi = size > self.part_size
        digests = etags.digest_file(path, self.part_size if multi else None, md5=not multi, sha256=True)
        expected = digests.multipart if multi else digests.md5
        assert digests.sha256 is not None  # asked for above
        entry = ManifestEntry(key, size, digests.sha256)
        if skip_existing:
            try:
                st = self._retry(lambda: self.client.stat_object(bucket, key), f"stat {key}", stats)
                if etags.normalize(st.etag) == expected and st.size == size:
                    return entry
            except S3Error as exc:
                if exc.code not in ("NoSuchKey", "NoSuchObject"):
                    raise

        def put():
            result = self.client.fput_object(
                bucket,
                key,
                str(path),
                part_size=self.part_size,
                num_parallel_uploads=4 if size > 4 * self.part_size else 1,
            )
            got = etags.normalize(result.etag)
            if self.verify and etags.kind(got) != "opaque" and got != expected:
                raise TransientError(f"upload of {key}: server ETag {got} != local {expected}")

        self._retry(put, f"put {key}", stats)
        if stats:
            stats.add(bytes=size)
        return entry

    def upload_dir(
        self, src: Path, uri: S3Uri, *, name_prefix: str = "", skip_existing: bool = True
    ) -> tuple[builtins.list[ManifestEntry], TransferStats]:  # `list` here is Transfer.list
        """Upload every regular file under `src` to `uri`; manifest paths are `name_prefix` +
        the path relative to `src`, sorted."""
        started = time.monotonic()
        files = local_files(src)
        stats = TransferStats(objects=len(files))
        prefix = uri.as_prefix().key

        def one(rel: str) -> ManifestEntry:
            entry = self.upload_file(src / rel, uri.bucket, prefix + rel, skip_existing=skip_existing, stats=stats)
            return dataclasses.replace(entry, path=name_prefix + rel)

        with cf.ThreadPoolExecutor(self.workers, thread_name_prefix="trainyard-put") as pool:
            entries = list(pool.map(one, files))
        stats.seconds = time.monotonic() - started
        return entries, stats


def local_files(root: Path) -> list[str]:
    """Regular files under `root` (symlinks to files followed, directories not), as sorted
    '/'-separated relative paths."""
    if not root.is_dir():
        return []
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            full = Path(dirpath) / name
            if full.is_file():
                out.append(full.relative_to(root).as_posix())
    return sorted(out)
