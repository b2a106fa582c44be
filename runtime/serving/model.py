"""The model contract: `load()` → `ready` → `healthy()`, then `predict` / `predict_proba`.

Everything that can be worked out once is worked out in `load()` — the estimator's bound
methods, its number of features, the dtype and V2 datatype of each output — so a request does
no model work beyond the one call into scikit-learn.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trainyard.runtime.serving.artifact import detect_framework

log = logging.getLogger(__name__)

PREDICT = "predict"
PREDICT_PROBA = "predict_proba"


@dataclass(frozen=True)
class OutputSpec:
    name: str
    dtype: np.dtype
    datatype: str  # Open Inference Protocol datatype
    width: int | None  # columns per row (None: one value per row)


@dataclass
class Model:
    """What the server needs from any model. Subclasses fill in `load` and `_methods`."""

    name: str
    version: str | None = None
    ready: bool = False
    n_features: int | None = None
    outputs: dict[str, OutputSpec] = field(default_factory=dict)
    _methods: dict[str, Callable[[np.ndarray], np.ndarray]] = field(default_factory=dict, repr=False)

    def load(self) -> None:
        raise NotImplementedError

    def healthy(self) -> bool:
        """Loaded and still able to answer: readiness means loaded."""
        return self.ready

    def method(self, output: str) -> Callable[[np.ndarray], np.ndarray]:
        return self._methods[output]


class SklearnModel(Model):
    """A scikit-learn estimator saved with joblib or pickle."""

    def __init__(self, name: str, path: str | Path, version: str | None = None):
        super().__init__(name=name, version=version)
        self.path = Path(path)
        self.framework_version: str | None = None
        self.estimator = None

    def load(self) -> None:
        import joblib
        import sklearn

        started = time.monotonic()
        _framework, self.framework_version = detect_framework(self.path)
        if self.framework_version and self.framework_version != sklearn.__version__:
            log.warning(
                "model %s was saved by scikit-learn %s; this server runs %s",
                self.path,
                self.framework_version,
                sklearn.__version__,
            )
        estimator = joblib.load(self.path)
        if not callable(getattr(estimator, "predict", None)):
            raise TypeError(f"{self.path} holds a {type(estimator).__name__}, which has no predict()")
        # Finiteness is checked once per request while decoding (errors name the request), so
        # scikit-learn's own per-call check would be repeated work. The server process is ours.
        sklearn.set_config(assume_finite=True)
        self.estimator = estimator
        self.n_features = getattr(estimator, "n_features_in_", None)
        methods = {PREDICT: estimator.predict}
        # getattr with a default: `predict_proba` is a property that raises AttributeError on
        # estimators that cannot give probabilities (SVC without probability=True, ...).
        if callable(getattr(estimator, "predict_proba", None)):
            methods[PREDICT_PROBA] = estimator.predict_proba
        self._methods = methods
        self.outputs = {name: self._probe(name) for name in methods}
        self.ready = True
        log.info(
            "loaded %s (%s, scikit-learn %s, %s features) in %.2fs",
            self.path,
            type(estimator).__name__,
            self.framework_version or "unknown",
            self.n_features,
            time.monotonic() - started,
        )

    def _probe(self, output: str) -> OutputSpec:
        """Call the method once on a row of zeros: warms any lazy state and tells the output's
        dtype and width, for V2 metadata and encoding."""
        n = self.n_features or 1
        try:
            out = np.asarray(self._methods[output](np.zeros((1, n))))
        except Exception:  # a model that rejects zeros still serves; metadata is then vaguer
            classes = getattr(self.estimator, "classes_", None)
            dtype = np.asarray(classes).dtype if classes is not None and output == PREDICT else np.dtype(np.float64)
            width = len(classes) if classes is not None and output == PREDICT_PROBA else None
            return OutputSpec(output, dtype, v2_datatype(dtype), width)
        width = int(out.shape[1]) if out.ndim == 2 else None
        return OutputSpec(output, out.dtype, v2_datatype(out.dtype), width)


_V2 = {
    "b": {1: "BOOL"},
    "u": {1: "UINT8", 2: "UINT16", 4: "UINT32", 8: "UINT64"},
    "i": {1: "INT8", 2: "INT16", 4: "INT32", 8: "INT64"},
    "f": {2: "FP16", 4: "FP32", 8: "FP64"},
}


def v2_datatype(dtype: np.dtype) -> str:
    """Open Inference Protocol datatype of a numpy dtype; strings and objects are BYTES."""
    return _V2.get(dtype.kind, {}).get(dtype.itemsize, "BYTES")
