"""What framework (and which version of it) wrote a model artifact — without unpickling it.

Unpickling runs code named by the file, so the registry must not do it on an artifact it has
not vetted. scikit-learn estimators record the library version in their pickled state
(`BaseEstimator.__getstate__` adds `"_sklearn_version": sklearn.__version__`), which appears in
the pickle stream as two adjacent string opcodes. This module reads the stream's opcodes: the
first class reference tells the framework, the string after the `_sklearn_version` key tells
the version. joblib files are pickles too, possibly compressed, with raw array bytes between
opcodes — which is why the version is located by its key rather than by walking every opcode.

Only the standard library is imported here: the operator's registry uses it too.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import pickletools
import struct
import zlib
from pathlib import Path

SCIKIT_LEARN = "ScikitLearn"  # the RegisteredModel `framework` enum value
CUSTOM = "Custom"

_KEY = b"_sklearn_version"
_MAX_BYTES = 2 << 30  # a decompressed artifact larger than this is refused, not read into memory


class ArtifactError(ValueError):
    """The file is not a readable pickle or joblib artifact."""


def detect_framework(path: str | Path) -> tuple[str, str | None]:
    """("ScikitLearn", "1.5.2") for a pickled scikit-learn estimator (or Pipeline, or any object
    whose top level is a scikit-learn class), ("Custom", None) for another readable pickle.
    The version is None when a scikit-learn object carries none (e.g. a subclass defined
    outside sklearn). Raises ArtifactError when the file is not a pickle at all."""
    data = _read_decompressed(Path(path))
    top = _first_global(data)
    if top is None or not (top == "sklearn" or top.startswith("sklearn.")):
        return CUSTOM, None
    return SCIKIT_LEARN, _sklearn_version(data)


def _read_decompressed(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        # The magic numbers joblib itself recognises for its compressed formats.
        if raw[:2] == b"\x1f\x8b":
            return _bounded(gzip.decompress(raw))
        if raw[:3] == b"BZh":
            return _bounded(bz2.decompress(raw))
        if raw[:6] == b"\xfd7zXZ\x00" or raw[:3] == b"\x5d\x00\x00":
            return _bounded(lzma.decompress(raw))
        if raw[:1] == b"\x78" and len(raw) > 1 and (raw[0] * 256 + raw[1]) % 31 == 0:
            return _bounded(zlib.decompress(raw))
    except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError) as exc:
        raise ArtifactError(f"{path.name}: looks compressed but does not decompress: {exc}") from exc
    if raw[:4] == b"\x04\x22\x4d\x18":
        raise ArtifactError(
            f"{path.name}: lz4-compressed joblib files are not supported; save "
            "with compress=('gzip', 3) or without compression"
        )
    return raw


def _bounded(data: bytes) -> bytes:
    if len(data) > _MAX_BYTES:
        raise ArtifactError("artifact decompresses to more than 2 GiB")
    return data


def _first_global(data: bytes) -> str | None:
    """Module of the first class the stream references (the top-level object's class, for an
    estimator), or None for a pickle of plain data. Raises ArtifactError if `data` does not
    start as a pickle."""
    if not data or data[0] != 0x80 and data[:1] not in (b"(", b"c", b"}", b"]", b"\x8c", b"I", b"N"):
        raise ArtifactError("not a pickle or joblib file (no pickle header)")
    strings: list[str] = []
    try:
        for op, arg, _pos in pickletools.genops(data):
            if op.name == "GLOBAL":  # protocol <= 3: "module name"
                return str(arg).split(" ", 1)[0]
            if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"):
                strings.append(arg)
            elif op.name == "STACK_GLOBAL":  # protocol >= 4: module and name pushed as strings
                if len(strings) < 2:
                    raise ArtifactError("pickle references a class through memo lookups this reader does not follow")
                return strings[-2]
            elif op.name in ("STOP", "REDUCE", "BUILD", "NEWOBJ", "NEWOBJ_EX", "OBJ", "INST"):
                break
    except ArtifactError:
        raise
    except Exception as exc:  # pickletools raises ValueError and others on a corrupt stream
        raise ArtifactError(f"not a readable pickle: {exc}") from exc
    return None


def _sklearn_version(data: bytes) -> str | None:
    """The string value pickled right after the first `_sklearn_version` key."""
    start = 0
    while True:
        at = data.find(_KEY, start)
        if at < 0:
            return None
        start = at + len(_KEY)
        # The key must be a whole string opcode: SHORT_BINUNICODE (0x8c, 1-byte length) or
        # BINUNICODE (X, 4-byte length) just before it.
        if not (
            at >= 2
            and data[at - 2] == 0x8C
            and data[at - 1] == len(_KEY)
            or at >= 5
            and data[at - 5 : at - 4] == b"X"
            and data[at - 4 : at] == struct.pack("<I", len(_KEY))
        ):
            continue
        value = _string_at(data, _skip_memo(data, start))
        if value is not None:
            return value


def _skip_memo(data: bytes, pos: int) -> int:
    """Skip MEMOIZE / BINPUT / LONG_BINPUT opcodes and frame markers between key and value."""
    while pos < len(data):
        op = data[pos]
        if op == 0x94:  # MEMOIZE
            pos += 1
        elif op == 0x71:  # BINPUT n
            pos += 2
        elif op == 0x72:  # LONG_BINPUT nnnn
            pos += 5
        elif op == 0x95:  # FRAME nnnnnnnn (protocol 4+ may start a frame between the two)
            pos += 9
        else:
            return pos
    return pos


def _string_at(data: bytes, pos: int) -> str | None:
    if pos >= len(data):
        return None
    op = data[pos]
    try:
        if op == 0x8C:  # SHORT_BINUNICODE
            n = data[pos + 1]
            raw = data[pos + 2 : pos + 2 + n]
        elif op == 0x58:  # BINUNICODE
            (n,) = struct.unpack_from("<I", data, pos + 1)
            raw = data[pos + 5 : pos + 5 + n]
        elif op == 0x55:  # SHORT_BINSTRING (protocol 2 str from Python 2)
            n = data[pos + 1]
            raw = data[pos + 2 : pos + 2 + n]
        else:
            return None
        value = raw.decode("utf-8")
    except (struct.error, IndexError, UnicodeDecodeError):
        return None
    return value if 0 < len(value) <= 32 and value[0].isdigit() else None
