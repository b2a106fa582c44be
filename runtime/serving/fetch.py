"""The init step of a model-server pod: fetch the model version's file and check its SHA-256.

    python -m trainyard.runtime.serving.fetch

    TRAINYARD_MODEL_URI      s3://bucket/models/<ns>/<model>/<version>/<file>
    TRAINYARD_MODEL_SHA256   the digest recorded in the RegisteredModel's status
    TRAINYARD_MODEL_PATH     where to put it (a volume shared with the server container)
    TRAINYARD_S3_*           the store (see trainyard/storage/config.py)

The file is written next to its target and renamed into place only once its digest matches, so
the server never loads a partial or different file. Exit status 1 with the reason on stderr (and
in the termination log) otherwise; the pod then never becomes ready.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path


class FetchError(Exception):
    pass


def fetch(client, uri: str, sha256: str, dest: Path) -> int:
    from trainyard.storage.uri import parse_s3

    u = parse_s3(uri)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    digest, size = hashlib.sha256(), 0
    resp = client.get_object(u.bucket, u.key)
    try:
        with open(part, "wb") as out:
            for chunk in resp.stream(1 << 20):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    finally:
        resp.close()
        resp.release_conn()
    if digest.hexdigest() != sha256:
        part.unlink(missing_ok=True)
        raise FetchError(
            f"{uri} has SHA-256 {digest.hexdigest()}, the registry recorded {sha256}: "
            "the stored version was altered; re-register the model"
        )
    os.replace(part, dest)
    return size


def main(env=None) -> int:
    from trainyard.storage.config import StoreConfig, describe

    env = os.environ if env is None else env
    missing = [k for k in ("TRAINYARD_MODEL_URI", "TRAINYARD_MODEL_SHA256", "TRAINYARD_MODEL_PATH") if not env.get(k)]
    if missing:
        print(f"fetch: set {', '.join(missing)}", file=sys.stderr)
        return 2
    uri, dest = env["TRAINYARD_MODEL_URI"], Path(env["TRAINYARD_MODEL_PATH"])
    try:
        size = fetch(StoreConfig.from_env(env).client(), uri, env["TRAINYARD_MODEL_SHA256"], dest)
    except FetchError as exc:
        print(f"fetch: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # store unreachable, no such key, refused: one line, then the pod restarts it
        print(f"fetch: cannot fetch {uri}: {describe(exc)}", file=sys.stderr)
        return 1
    print(f"fetch: {uri} -> {dest} ({size} bytes, sha256 verified)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
