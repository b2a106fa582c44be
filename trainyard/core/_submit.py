"""What Experiment.submit turns a ScriptRunConfig or an Estimator into (pure): the checked entry
script, the arguments as strings with each data input replaced by `$(TRAINYARD_INPUT_<NAME>)`, the
spec.inputs entries, and the TrainingRun manifest (built by the CLI's own run_spec)."""

from __future__ import annotations

import dataclasses
import numbers
from pathlib import Path, PurePosixPath

from trainyard.cli import run_spec
from trainyard.core.exceptions import UserErrorException

TAGS_ANNOTATION = "trainyard.dev/tags"
PARENT_LABEL = "trainyard.dev/parent-run"


@dataclasses.dataclass
class Submission:
    source_directory: str
    script: str | None
    arguments: list
    target: object
    environment: object
    timeout: int | None = None


def check_script(source_directory: str, script: str | None) -> str:
    """The entry script as a '/' path relative to source_directory; one-line errors otherwise."""
    src = Path(source_directory)
    if not src.is_dir():
        raise UserErrorException(f"source_directory {source_directory!r} is not a directory")
    if not script:
        raise UserErrorException("no script given: ScriptRunConfig(source_directory, script='train.py')")
    p = Path(script)
    if p.is_absolute():
        try:
            p = p.resolve().relative_to(src.resolve())
        except ValueError:
            raise UserErrorException(
                f"script {script!r} is not in source_directory {source_directory!r}: move it there "
                "(only that directory is copied to the cluster)"
            ) from None
    rel = PurePosixPath(p.as_posix())
    if ".." in rel.parts or not (src / rel).resolve().is_relative_to(src.resolve()):
        raise UserErrorException(
            f"script {script!r} is not in source_directory {source_directory!r}: move it there "
            "(only that directory is copied to the cluster)"
        )
    if not (src / rel).is_file():
        raise UserErrorException(
            f"script {script!r} not found in source_directory {source_directory!r} ({src.resolve()})"
        )
    return rel.as_posix()


def _argument(value, position: str) -> tuple[str, dict | None]:
    if hasattr(value, "_input") and hasattr(value, "_argument"):
        return value._argument(), value._input()
    if isinstance(value, str):
        return value, None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return str(value), None
    raise UserErrorException(
        f"argument {position} is a {type(value).__name__} ({value!r:.60}): arguments must be strings, "
        "numbers, or data inputs (ds.as_mount(), dataset.as_named_input(...)); pass str(value) if you mean its text"
    )


def arguments(values: list) -> tuple[list[str], list[dict]]:
    """(args, inputs): data inputs become `$(TRAINYARD_INPUT_<NAME>)` and one inputs entry each."""
    args, inputs = [], []
    for i, v in enumerate(values):
        text, inp = _argument(v, f"#{i + 1}")
        args.append(text)
        if inp is not None:
            _add_input(inputs, inp)
    return args, inputs


def script_params(params: dict | None) -> list:
    """An Estimator's script_params {'--flag': value} as an argument list ('' or None: a bare flag)."""
    out: list = []
    for key, value in (params or {}).items():
        if not isinstance(key, str):
            raise UserErrorException(f"script_params key {key!r} must be a string such as '--data-folder'")
        out.append(key)
        if value is not None and value != "":
            out.append(value)
    return out


def _add_input(inputs: list[dict], inp: dict) -> None:
    for have in inputs:
        if have["name"] == inp["name"]:
            if have["uri"] != inp["uri"]:
                raise UserErrorException(
                    f"two different data inputs are named {inp['name']!r} ({have['uri']} and {inp['uri']}): "
                    "give one of them another name"
                )
            return
    inputs.append(dict(inp))


def body(
    *,
    name: str,
    namespace: str,
    experiment: str,
    compute: str,
    snapshot: str,
    script: str,
    args: list[str],
    inputs: list[dict],
    environment: dict,
    tags: dict | None,
    timeout: int | None = None,
) -> dict:
    manifest = run_spec.training_run(
        name=name,
        namespace=namespace,
        experiment=experiment,
        compute=compute,
        source={"snapshot": snapshot},
        entry_script=script,
        args=args,
        inputs=inputs,
        pip=environment.get("pip"),
        image=environment.get("image"),
        timeout=timeout,
    )
    if tags:
        manifest["metadata"]["annotations"] = {TAGS_ANNOTATION: encode_tags(tags)}
    return manifest


def encode_tags(tags: dict) -> str:
    import json

    return json.dumps({str(k): "" if v is None else str(v) for k, v in tags.items()}, sort_keys=True)


def decode_tags(obj: dict) -> dict:
    import json

    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(TAGS_ANNOTATION)
    try:
        return dict(json.loads(raw)) if raw else {}
    except ValueError:
        return {}
