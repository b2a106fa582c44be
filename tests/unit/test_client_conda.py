"""Conda specifications as pip requirements; environments as spec.environment."""

import pytest

from trainyard.core import _conda
from trainyard.core.conda_dependencies import CondaDependencies
from trainyard.core.environment import Environment
from trainyard.core.exceptions import UserErrorException


@pytest.mark.parametrize(
    "conda, pip",
    [
        ("scikit-learn", "scikit-learn"),
        ("numpy=1.26", "numpy==1.26.*"),
        ("numpy=1.26.4=py311h64a7726_0", "numpy==1.26.4"),
        ("pandas==2.2.1", "pandas==2.2.1"),
        ("conda-forge::scipy>=1.11", "scipy>=1.11"),
        ("py-xgboost", "xgboost"),
        ("matplotlib-base", "matplotlib"),
        ("python=3.6.2", None),
        ("pip", None),
    ],
)
def test_conda_to_pip(conda, pip):
    assert _conda.conda_to_pip(conda) == pip


def test_a_conda_package_without_a_known_wheel_is_named_in_the_error():
    with pytest.raises(UserErrorException) as err:
        _conda.conda_to_pip("cudatoolkit=11.8")
    assert "'cudatoolkit'" in str(err.value) and "pip" in str(err.value)
    with pytest.raises(UserErrorException, match="'mkl'"):
        CondaDependencies.create(conda_packages=["numpy", "mkl"])


def test_the_iris_howto_conda_file(tmp_path):
    spec = tmp_path / "sklearn-env.yml"
    spec.write_text(
        "name: sklearn-training-env\ndependencies:\n  - python=3.6.2\n  - scikit-learn\n  - numpy\n"
        "  - pip:\n    - azureml-defaults\n"
    )
    env = Environment.from_conda_specification(name="myenv", file_path=str(spec))
    assert env._spec() == {"pip": ["scikit-learn", "numpy"]}  # azureml-defaults: trainyard's runtime has it
    assert env.python.conda_dependencies.get_python_version() == "3.6.2"


def test_pip_requirements_and_create(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("# comment\nscikit-learn==1.7.2\n\njoblib  # inline\n")
    assert Environment.from_pip_requirements("e", str(req))._spec() == {"pip": ["scikit-learn==1.7.2", "joblib"]}
    cd = CondaDependencies.create(
        pip_packages=["azureml-core", "inference-schema[numpy-support]", "lightgbm"],
        conda_packages=["scikit-learn", "joblib"],
    )
    assert cd.pip_requirements() == ["scikit-learn", "joblib", "lightgbm"]
    assert "scikit-learn" in cd.serialize_to_string()


def test_curated_names_mean_the_curated_image():
    env = Environment.get(workspace=None, name="AzureML-sklearn-1.0-ubuntu20.04-py38-cpu")
    assert env._spec() == {}
    assert Environment.get(None, "AzureML-Tutorial")._spec() == {}


def test_an_unknown_environment_name_says_what_exists():
    class Ws:
        namespace = "x"

    with pytest.raises(UserErrorException, match="curated names start with 'AzureML-'"):
        Environment.get(Ws(), "my-env")


def test_a_custom_image_and_user_managed_dependencies():
    env = Environment("e")
    env.docker.base_image = "registry.local/img:1"
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["x"])
    assert env._spec() == {"image": "registry.local/img:1", "pip": ["x"]}
    env.python.user_managed_dependencies = True
    assert env._spec() == {"image": "registry.local/img:1"}
