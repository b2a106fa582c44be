"""Pure parts of transfers: ETags, retry policy, key-to-path safety, the content cache."""

import hashlib
import os
import random

import pytest
import urllib3.exceptions
from minio.error import S3Error

from trainyard.storage import etag, retry
from trainyard.storage.cache import ObjectCache, entry_id, place
from trainyard.storage.transfer import relative_key

MiB = 1024 * 1024


def s3_error(code):
    return S3Error(None, code, f"{code} message", "res", "req", "host")


def test_etag_kinds_and_part_sizes():
    assert etag.kind('"0123456789abcdef0123456789abcdef"') == "md5"
    assert etag.kind("0123456789abcdef0123456789abcdef-3") == "multipart"
    assert etag.kind("opaque-kms-etag") == "opaque"
    assert etag.part_sizes("0" * 32 + "-3", 40 * MiB) == [16 * MiB, 15 * MiB]
    assert etag.part_sizes("0" * 32 + "-8", 40 * MiB) == [5 * MiB]
    assert etag.part_sizes("0" * 32 + "-999", 40 * MiB) == []
    assert not etag.verifiable("0" * 32 + "-999", 40 * MiB)


def test_digest_and_verify(tmp_path):
    data = random.Random(1).randbytes(12 * MiB + 5)
    path = tmp_path / "f"
    path.write_bytes(data)
    md5 = hashlib.md5(data).hexdigest()
    parts = [hashlib.md5(data[i : i + 5 * MiB]).digest() for i in range(0, len(data), 5 * MiB)]
    multi = hashlib.md5(b"".join(parts)).hexdigest() + "-3"
    d = etag.digest_file(path, 5 * MiB, sha256=True)
    assert (d.md5, d.multipart, d.sha256) == (md5, multi, hashlib.sha256(data).hexdigest())
    assert etag.verify_file(path, len(data), md5) is True
    assert etag.verify_file(path, len(data), multi) is True
    assert etag.verify_file(path, len(data), "opaque") is False  # size only
    with pytest.raises(etag.VerificationError, match="size"):
        etag.verify_file(path, len(data) + 1, md5)
    with pytest.raises(etag.VerificationError, match="md5"):
        etag.verify_file(path, len(data), "f" * 32)
    with pytest.raises(etag.VerificationError, match="multipart ETag"):
        etag.verify_file(path, len(data), "f" * 32 + "-3")


@pytest.mark.parametrize(
    "exc,transient",
    [
        (s3_error("SlowDown"), True),
        (s3_error("InternalError"), True),
        (s3_error("NoSuchKey"), False),
        (s3_error("AccessDenied"), False),
        (urllib3.exceptions.ProtocolError("reset"), True),
        (urllib3.exceptions.ReadTimeoutError(None, "/", "timed out"), True),
        (ConnectionResetError(), True),
        (retry.TransientError("short read"), True),
        (ValueError("bug"), False),
    ],
)
def test_transient_classification(exc, transient):
    assert retry.is_transient(exc) is transient


def test_retries_back_off_then_give_up():
    sleeps, calls = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise s3_error("SlowDown")
        return "ok"

    assert retry.with_retries(flaky, what="x", sleep=sleeps.append, base=1, cap=100) == "ok"
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 1 and 0 <= sleeps[1] <= 2

    def always():
        raise s3_error("SlowDown")

    sleeps.clear()
    with pytest.raises(S3Error):
        retry.with_retries(always, what="x", attempts=4, sleep=sleeps.append)
    assert len(sleeps) == 3

    def fatal():
        raise s3_error("AccessDenied")

    sleeps.clear()
    with pytest.raises(S3Error):
        retry.with_retries(fatal, what="x", sleep=sleeps.append)
    assert sleeps == []


def test_backoff_is_capped_exponential():
    delays = list(retry.backoff_delays(8, base=0.5, cap=3, rng=random.Random(0)))
    assert len(delays) == 7
    assert all(0 <= d <= min(3, 0.5 * 2**n) for n, d in enumerate(delays))


@pytest.mark.parametrize(
    "key,prefix,rel",
    [
        ("datasets/mnist/a.gz", "datasets/mnist/", "a.gz"),
        ("datasets/mnist/sub/b.gz", "datasets/mnist/", "sub/b.gz"),
        ("x", "", "x"),
    ],
)
def test_relative_key(key, prefix, rel):
    assert relative_key(key, prefix) == rel


@pytest.mark.parametrize("key", ["p/../../etc/passwd", "p/./x", "p/"])
def test_relative_key_refuses_escapes(key):
    with pytest.raises(ValueError, match="safe path"):
        relative_key(key, "p/")


def test_cache_entry_ids_are_filesystem_safe():
    assert entry_id('"ABCdef"', 5) == "abcdef-5"
    weird = entry_id("a/b:c", 5)
    assert "/" not in weird and weird.endswith("-5")


def test_cache_trusts_only_unchanged_entries(tmp_path):
    cache = ObjectCache(tmp_path / "cache")
    part = cache.part_path("e1", 4)
    part.write_bytes(b"data")
    path = cache.commit("e1", 4, part, etag_checked=True)
    assert cache.lookup("e1", 4) == (path, False)
    assert not os.access(path, os.W_OK) or os.geteuid() == 0  # read-only for ordinary users
    os.chmod(path, 0o644)
    path.write_bytes(b"DATA")  # same size, changed in place
    assert cache.lookup("e1", 4) == (None, True)
    assert not path.exists()
    assert cache.lookup("e1", 4) == (None, False)


def test_place_links_or_copies(tmp_path):
    src = tmp_path / "src"
    src.write_bytes(b"x")
    dst = tmp_path / "a" / "b" / "dst"
    assert place(src, dst) in ("reflink", "hardlink", "copy")
    assert dst.read_bytes() == b"x"
    assert place(src, dst) in ("present", "reflink", "copy")
