"""detect_framework reads the framework and scikit-learn version from the pickle stream,
without unpickling it."""

from __future__ import annotations

import pickle

import joblib
import pytest
import sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from trainyard.runtime.serving import artifact
from trainyard.runtime.serving.artifact import ArtifactError, detect_framework


@pytest.fixture(scope="module")
def iris_model():
    x, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=500).fit(x, y)


@pytest.mark.parametrize(
    "save",
    [
        pytest.param(lambda m, p: joblib.dump(m, p), id="joblib"),
        pytest.param(lambda m, p: joblib.dump(m, p, compress=("gzip", 3)), id="joblib-gzip"),
        pytest.param(lambda m, p: joblib.dump(m, p, compress=("zlib", 3)), id="joblib-zlib"),
        pytest.param(lambda m, p: joblib.dump(m, p, compress=("bz2", 3)), id="joblib-bz2"),
        pytest.param(lambda m, p: joblib.dump(m, p, compress=("xz", 3)), id="joblib-xz"),
        pytest.param(lambda m, p: p.write_bytes(pickle.dumps(m, protocol=5)), id="pickle-5"),
        pytest.param(lambda m, p: p.write_bytes(pickle.dumps(m, protocol=2)), id="pickle-2"),
    ],
)
def test_reads_the_version_scikit_learn_recorded(tmp_path, iris_model, save):
    path = tmp_path / "model.pkl"
    save(iris_model, path)
    assert detect_framework(path) == ("ScikitLearn", sklearn.__version__)


def test_pipeline_is_scikit_learn(tmp_path, iris_model):
    x, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    path = tmp_path / "pipe.joblib"
    joblib.dump(pipe, path)
    assert detect_framework(path) == ("ScikitLearn", sklearn.__version__)


def test_does_not_unpickle(tmp_path, monkeypatch, iris_model):
    path = tmp_path / "model.pkl"
    joblib.dump(iris_model, path)

    def refuse(*_a, **_k):
        raise AssertionError("detect_framework must not unpickle")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(joblib, "load", refuse)
    assert detect_framework(path)[0] == "ScikitLearn"


def test_version_is_read_from_the_stream_not_the_installed_library(tmp_path):
    # A hand-made stream claiming an older release: the answer must come from the bytes.
    data = pickle.dumps(LogisticRegression()).replace(sklearn.__version__.encode(), b"0.24.2")
    data = data.replace(bytes([len(sklearn.__version__)]) + b"0.24.2", bytes([6]) + b"0.24.2")
    path = tmp_path / "old.pkl"
    path.write_bytes(data)
    assert detect_framework(path) == ("ScikitLearn", "0.24.2")


def test_other_pickles_are_custom(tmp_path):
    path = tmp_path / "dict.pkl"
    path.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))
    assert detect_framework(path) == ("Custom", None)
    path.write_bytes(pickle.dumps(pickle.PickleError("x")))  # a class outside sklearn
    assert detect_framework(path) == ("Custom", None)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "not a pickle"),
        (b"PK\x03\x04 a zip file", "not a pickle"),
        (b"\x1f\x8bnot really gzip", "does not decompress"),
        (b"\x80\x05\x95garbage", "not a readable pickle"),
    ],
)
def test_unreadable_artifacts_raise(tmp_path, content, match):
    path = tmp_path / "bad.pkl"
    path.write_bytes(content)
    with pytest.raises(ArtifactError, match=match):
        detect_framework(path)


def test_missing_file_raises(tmp_path):
    with pytest.raises(ArtifactError, match="cannot read"):
        detect_framework(tmp_path / "absent.pkl")


def test_only_the_standard_library_is_imported():
    # The operator's registry imports this module: it must not pull numpy, sklearn or joblib.
    import ast
    import sys

    tree = ast.parse(open(artifact.__file__).read())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert names - {"__future__"} <= set(sys.stdlib_module_names)
