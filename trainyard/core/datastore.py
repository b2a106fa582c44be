"""Datastore and DataReference: a prefix of the workspace's bucket (Azure ML: the workspace's
blob container), uploaded to from the notebook and staged into a run's pod as an input."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from trainyard.core.exceptions import UserErrorException

DEFAULT_DATASTORE = "workspaceblobstore"  # Azure ML's name for the default datastore
_UNSAFE = re.compile(r"[^a-z0-9_]+")
_MOUNT_WARNED: list[bool] = []


def input_name(*parts: str) -> str:
    """A valid spec.inputs name (`^[a-z][a-z0-9_]*$`, at most 32) from a datastore and a path."""
    raw = "_".join(p for p in parts if p)
    name = _UNSAFE.sub("_", raw.lower()).strip("_")
    if not name or not name[0].isalpha():
        name = "data_" + name
    return name[:32].rstrip("_")


def warn_mount_once() -> None:
    """Mount mode does not exist yet on trainyard: a mount is staged as a download. Said once per
    process, on one line."""
    if not _MOUNT_WARNED:
        _MOUNT_WARNED.append(True)
        print(
            "trainyard: mount mode is not available yet; as_mount() inputs are staged as downloads "
            "(copied into the pod before the script starts)",
            file=sys.stderr,
        )


class DataReference:
    """A path in a datastore with a mode; in a run's arguments it becomes the local folder the
    pod staged it to, `$(TRAINYARD_INPUT_<NAME>)` (Azure ML: `$AZUREML_DATAREFERENCE_<name>`)."""

    def __init__(self, datastore: Datastore, path_on_datastore: str | None = None, mode: str = "mount", name=None):
        self.datastore = datastore
        self.path_on_datastore = (path_on_datastore or "").strip("/") or None
        self.mode = mode
        self.data_reference_name = name or input_name(
            datastore.name, *(self.path_on_datastore.split("/") if self.path_on_datastore else [])
        )

    def as_mount(self) -> DataReference:
        return DataReference(self.datastore, self.path_on_datastore, "mount", self.data_reference_name)

    def as_download(self, path_on_compute: str | None = None, overwrite: bool = False) -> DataReference:
        return DataReference(self.datastore, self.path_on_datastore, "download", self.data_reference_name)

    def path(self, path: str | None = None, data_reference_name: str | None = None) -> DataReference:
        joined = "/".join(p.strip("/") for p in (self.path_on_datastore, path) if p)
        return DataReference(self.datastore, joined, self.mode, data_reference_name)

    @property
    def uri(self) -> str:
        return self.datastore._uri(self.path_on_datastore)

    def _input(self) -> dict:
        if self.mode == "mount":
            warn_mount_once()
        return {"name": self.data_reference_name, "uri": self.uri, "mode": "download"}

    def _argument(self) -> str:
        return f"$(TRAINYARD_INPUT_{self.data_reference_name.upper()})"

    def __str__(self) -> str:
        return self._argument()

    def __repr__(self) -> str:
        return f"$(TRAINYARD_INPUT_{self.data_reference_name.upper()}) -> {self.uri} ({self.mode})"


class Datastore:
    """The default datastore `workspaceblobstore`: s3://<bucket>/<datastore_prefix> (by default
    s3://trainyard/datasets/). `upload` writes there; `as_mount`/`as_download`/`path` name it as
    a run's input."""

    datastore_type = "S3"  # Azure: "AzureBlob"

    def __init__(self, workspace, name: str = DEFAULT_DATASTORE):
        if name != DEFAULT_DATASTORE:
            raise UserErrorException(
                f"no datastore {name!r}: trainyard has one datastore per workspace, {DEFAULT_DATASTORE!r}"
            )
        self.workspace, self.name = workspace, name

    @classmethod
    def _default(cls, workspace) -> Datastore:
        return cls(workspace)

    @classmethod
    def get(cls, workspace, datastore_name: str) -> Datastore:
        return cls(workspace, datastore_name)

    @property
    def container_name(self) -> str:
        return self.workspace._bucket

    @property
    def account_name(self) -> str:
        from trainyard.core import _config

        endpoint = _config.store_env(self.workspace._cfg).get("TRAINYARD_S3_ENDPOINT", "")
        return endpoint.split("://", 1)[-1]

    @property
    def prefix(self) -> str:
        return self.workspace._cfg.datastore_prefix

    def _key(self, path: str | None) -> str:
        path = (path or "").strip("/")
        if any(p == ".." for p in path.split("/")):
            raise UserErrorException(f"'..' is not allowed in a datastore path: {path!r}")
        return self.prefix + (path + "/" if path else "")

    def _uri(self, path: str | None) -> str:
        return f"s3://{self.container_name}/{self._key(path)}"

    def __repr__(self) -> str:
        return f"Datastore(name={self.name!r}, uri={self._uri(None)!r})"

    # -- naming it as an input -------------------------------------------------------------------

    def as_mount(self) -> DataReference:
        return DataReference(self, None, "mount")

    def as_download(self, path_on_compute: str | None = None) -> DataReference:
        return DataReference(self, None, "download")

    def path(self, path: str | None = None, data_reference_name: str | None = None) -> DataReference:
        return DataReference(self, path, "mount", data_reference_name)

    # -- moving files ----------------------------------------------------------------------------

    def upload(self, src_dir: str, target_path: str | None = None, overwrite: bool = False, show_progress=True):
        """Upload every file under `src_dir` to `target_path` in this datastore; with
        overwrite=False a file already there (same size) is skipped. Returns the DataReference of
        `target_path`."""
        src = Path(src_dir)
        if not src.is_dir():
            raise UserErrorException(f"upload: {src} is not a directory")
        files = sorted(p for p in src.rglob("*") if p.is_file())
        self._upload(src, files, target_path, overwrite, show_progress)
        return DataReference(self, target_path, "mount")

    def upload_files(self, files, relative_root=None, target_path=None, overwrite=False, show_progress=True):
        paths = [Path(f) for f in files]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise UserErrorException(f"upload_files: not a file: {', '.join(missing)}")
        root = Path(relative_root) if relative_root else Path(os.path.commonpath([p.parent for p in paths] or ["."]))
        self._upload(root, paths, target_path, overwrite, show_progress)
        return DataReference(self, target_path, "mount")

    def _upload(self, root: Path, files: list[Path], target_path, overwrite: bool, show_progress) -> None:
        from trainyard.core._progress import ProgressBar

        cfg, client = self.workspace._store()
        prefix = self._key(target_path)
        existing = {}
        if not overwrite:
            existing = {o.object_name: o.size for o in client.list_objects(cfg.bucket, prefix=prefix, recursive=True)}
        total = sum(p.stat().st_size for p in files)
        bar = ProgressBar(total, f"Uploading {len(files)} file(s) to {self._uri(target_path)}", enabled=show_progress)
        skipped = 0
        for p in files:
            key = prefix + p.relative_to(root).as_posix()
            size = p.stat().st_size
            if existing.get(key) == size:
                skipped += 1
                bar.advance(size)
                continue
            client.fput_object(cfg.bucket, key, str(p), progress=bar.minio_progress(size))
        bar.close(f"{len(files) - skipped} uploaded, {skipped} already there" if skipped else None)

    def download(self, target_path: str, prefix: str | None = None, overwrite: bool = False, show_progress=True) -> int:
        cfg, client = self.workspace._store()
        key_prefix = self._key(None) + (prefix or "").lstrip("/")
        count = 0
        for obj in client.list_objects(cfg.bucket, prefix=key_prefix, recursive=True):
            dest = Path(target_path) / obj.object_name[len(self._key(None)) :]
            if dest.exists() and not overwrite:
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            client.fget_object(cfg.bucket, obj.object_name, str(dest))
            count += 1
        if show_progress:
            print(f"Downloaded {count} file(s) to {target_path}")
        return count
