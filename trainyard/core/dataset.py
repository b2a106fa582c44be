"""Dataset.File.from_files((datastore, path)): a file dataset on the workspace's datastore, named
as a run's input with `.as_named_input(name).as_mount()` / `.as_download()`."""

from __future__ import annotations

from trainyard.core.datastore import Datastore, input_name, warn_mount_once
from trainyard.core.exceptions import UserErrorException


class DatasetConsumptionConfig:
    """A dataset as a run's input: `$(TRAINYARD_INPUT_<NAME>)` in the arguments."""

    def __init__(self, name: str, dataset: FileDataset, mode: str = "direct"):
        self.name, self.dataset, self.mode = name, dataset, mode

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(self.name, self.dataset, "mount")

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return DatasetConsumptionConfig(self.name, self.dataset, "download")

    def _input(self) -> dict:
        if self.mode == "mount":
            warn_mount_once()
        return {"name": self.name, "uri": self.dataset._uri, "mode": "download"}

    def _argument(self) -> str:
        return f"$(TRAINYARD_INPUT_{self.name.upper()})"

    def __str__(self) -> str:
        return self._argument()


class FileDataset:
    def __init__(self, datastore: Datastore, path: str):
        self.datastore, self.path = datastore, path.strip("/")
        self.name: str | None = None

    @property
    def _uri(self) -> str:
        return self.datastore._uri(self.path)

    def as_named_input(self, name: str) -> DatasetConsumptionConfig:
        safe = input_name(name)
        if safe != name:
            raise UserErrorException(
                f"as_named_input({name!r}): an input name must be lower-case letters, digits and '_', "
                f"starting with a letter, at most 32 characters (e.g. {safe!r})"
            )
        return DatasetConsumptionConfig(name, self)

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return self.as_named_input(input_name("dataset", self.path)).as_mount()

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        return self.as_named_input(input_name("dataset", self.path)).as_download()

    def register(self, workspace, name: str, description: str | None = None, create_new_version: bool = False):
        """Kept for Azure notebooks: the name is remembered on this object only (no dataset registry yet)."""
        self.name = name
        return self

    def __repr__(self) -> str:
        return f"FileDataset({self._uri!r})"


class _FileFactory:
    @staticmethod
    def from_files(path, validate: bool = True, partition_format=None, is_file: bool = False) -> FileDataset:
        paths = path if isinstance(path, list) else [path]
        if len(paths) != 1:
            raise UserErrorException(
                "Dataset.File.from_files: give one (datastore, path) pair; several are not supported yet"
            )
        item = paths[0]
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Datastore):
            return FileDataset(item[0], str(item[1]))
        if hasattr(item, "datastore") and hasattr(item, "path_on_datastore"):
            return FileDataset(item.datastore, item.path_on_datastore or "")
        raise UserErrorException(
            f"Dataset.File.from_files({item!r}): give (datastore, 'path/on/datastore'); "
            "URLs are not supported yet (upload the files with datastore.upload first)"
        )


class Dataset:
    File = _FileFactory

    @staticmethod
    def get_by_name(workspace, name: str, version="latest"):
        raise UserErrorException(
            f"Dataset.get_by_name({name!r}): trainyard has no dataset registry yet; use "
            "Dataset.File.from_files((ws.get_default_datastore(), 'path')) instead"
        )
