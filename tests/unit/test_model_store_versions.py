"""What the registry finds in the store before it numbers a version: every manifest under the
model's root, those of a deleted and re-created model included (operator/registeredmodel/store.py)."""

import dataclasses
import json

from trainyard.operator.registeredmodel import registry
from trainyard.operator.registeredmodel import store as model_store


@dataclasses.dataclass
class _Obj:
    object_name: str


class _Resp:
    def __init__(self, data: bytes):
        self.data = data

    def read(self) -> bytes:
        return self.data

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


class FakeStore:
    """The three calls the version scan makes, over a dict of key -> bytes."""

    def __init__(self, objects: dict[str, bytes]):
        self.objects = objects

    def _missing(self, key):
        from minio.error import S3Error

        return S3Error(None, "NoSuchKey", "no such key", key, "req", "host")

    def list_objects(self, bucket, prefix="", recursive=False):
        assert recursive
        return [_Obj(k) for k in sorted(self.objects) if k.startswith(prefix)]

    def get_object(self, bucket, key):
        if key not in self.objects:
            raise self._missing(key)
        return _Resp(self.objects[key])

    def stat_object(self, bucket, key):
        if key not in self.objects:
            raise self._missing(key)
        return object()


def manifest(version: int, source_key: str) -> bytes:
    return json.dumps({"files": [], "version": {"version": version, "sourceKey": source_key}}).encode()


def test_stored_versions_lists_every_manifest_and_nothing_else():
    store = FakeStore(
        {
            "models/default/iris/1/manifest.json": manifest(1, "run:uid-a/outputs/model.pkl@sha256:x"),
            "models/default/iris/1/model.pkl": b"one",
            "models/default/iris/2/model.pkl": b"half-written: no manifest",
            "models/default/iris/3/manifest.json": b"not json",
            "models/default/iris-2/9/manifest.json": manifest(9, "other model"),
        }
    )
    found = model_store.stored_versions(store, "trainyard", "default", "iris")
    assert found == [{"version": 1, "sourceKey": "run:uid-a/outputs/model.pkl@sha256:x"}, {"version": 3}]
    # the re-created model's next number passes the unreadable manifest, and reuses the half
    # version's number (nothing recorded it, and no manifest says it exists)
    assert registry.next_version([], found) == 4
    assert registry.find_version(found, "run:uid-a/outputs/model.pkl@sha256:x")["version"] == 1


def test_a_manifest_whose_number_disagrees_with_its_key_only_holds_the_number():
    store = FakeStore({"models/ns/m/2/manifest.json": manifest(5, "k")})
    assert model_store.stored_versions(store, "b", "ns", "m") == [{"version": 2}]


def test_manifest_exists():
    store = FakeStore({"models/ns/m/1/manifest.json": manifest(1, "k"), "models/ns/m/2/model.pkl": b""})
    assert model_store.manifest_exists(store, "b", "ns", "m", 1)
    assert not model_store.manifest_exists(store, "b", "ns", "m", 2)
