"""The registry's rules as data: source resolution and its reasons, identity, numbering, lineage,
framework checks, the runtime image choice, and the phase derived from the conditions."""

import pytest

from trainyard.api import conditions as cond
from trainyard.api import registeredmodel as rm
from trainyard.operator.core.config import OperatorConfig, parse_serving_images
from trainyard.operator.registeredmodel import registry
from trainyard.operator.registeredmodel.status import Problem

SHA = "a" * 64


def model(source=None, **spec) -> dict:
    return {
        "metadata": {"name": "mnist", "namespace": "team-a", "uid": "m-uid", "generation": 1},
        "spec": {
            "source": source or {"trainingRun": {"name": "run-1", "path": "outputs/model.pkl"}},
            "framework": "ScikitLearn",
            **spec,
        },
    }


def run(phase_condition="Succeeded", reason="Completed", outputs=None, metrics=None) -> dict:
    status = {
        "conditions": [cond.condition(phase_condition, "True", reason, "done", now="t")],
        "artifactsUri": "s3://trainyard/runs/team-a/run-1/",
        "metrics": metrics if metrics is not None else {"accuracy": 0.92, "note": "text", "curve": [1, 2]},
    }
    if outputs is not False:
        status["outputs"] = (
            outputs
            if outputs is not None
            else [
                {"path": "outputs/model.pkl", "size": 10, "sha256": SHA},
                {"path": "logs/std_log.txt", "size": 3, "sha256": "b" * 64},
            ]
        )
    return {"metadata": {"name": "run-1", "uid": "r-uid"}, "spec": {"experiment": "mnist"}, "status": status}


def test_a_completed_run_resolves_to_its_artifact_with_lineage():
    src = registry.resolve(model(), run())
    assert src == registry.Source(
        bucket="trainyard",
        key="runs/team-a/run-1/outputs/model.pkl",
        filename="model.pkl",
        source_id="run:r-uid/outputs/model.pkl",
        expected_sha256=SHA,
        lineage={
            "run": "run-1",
            "runUid": "r-uid",
            "experiment": "mnist",
            "path": "outputs/model.pkl",
            "metrics": {"accuracy": 0.92},
        },
    )


@pytest.mark.parametrize(
    "the_run, reason, words",
    [
        (None, rm.REASON_RUN_NOT_FOUND, "TrainingRun 'run-1' does not exist in namespace 'team-a'"),
        (run("Running", "ScriptRunning", outputs=False), rm.REASON_RUN_NOT_COMPLETED, "is Running"),
        (run("Failed", "ScriptFailed"), rm.REASON_RUN_FAILED, "ended Failed (ScriptFailed)"),
        (run("Canceled", "Canceled"), rm.REASON_RUN_FAILED, "ended Canceled"),
        (
            run(outputs=[{"path": "outputs/other.pkl", "size": 1, "sha256": SHA}]),
            rm.REASON_PATH_NOT_IN_OUTPUTS,
            "'outputs/model.pkl' is not among the outputs of TrainingRun 'run-1' (outputs/other.pkl)",
        ),
    ],
)
def test_bad_run_sources_have_named_reasons(the_run, reason, words):
    with pytest.raises(Problem) as info:
        registry.resolve(model(), the_run)
    assert info.value.reason == reason and words in info.value.message
    assert (reason in rm.WAITING_REASONS) == (reason in (rm.REASON_RUN_NOT_FOUND, rm.REASON_RUN_NOT_COMPLETED))


def test_a_uri_source_is_its_own_identity_and_must_name_a_file():
    src = registry.resolve(model({"uri": "s3://models/team/m.joblib"}), None)
    assert (src.bucket, src.key, src.filename, src.source_id, src.expected_sha256) == (
        "models",
        "team/m.joblib",
        "m.joblib",
        "uri:s3://models/team/m.joblib",
        None,
    )
    with pytest.raises(Problem, match="is a prefix") as info:
        registry.resolve(model({"uri": "s3://models/team/"}), None)
    assert info.value.reason == rm.REASON_ARTIFACT_NOT_FOUND


def test_identity_numbering_and_lineage():
    key = registry.source_key("run:r-uid/outputs/model.pkl", SHA)
    assert key == f"run:r-uid/outputs/model.pkl@sha256:{SHA}"
    versions = [{"version": 1, "sourceKey": "x"}, {"version": 2, "sourceKey": key}]
    assert registry.find_version(versions, key)["version"] == 2
    assert registry.find_version(versions, "y") is None
    assert registry.next_version([]) == 1 and registry.next_version(versions) == 3
    entry = registry.version_entry(
        model(),
        3,
        registry.resolve(model(), run()),
        bucket="trainyard",
        sha256=SHA,
        size=10,
        framework="ScikitLearn",
        framework_version="1.9.1",
        now="2026-01-01T00:00:00Z",
    )
    assert entry == {
        "version": 3,
        "uri": "s3://trainyard/models/team-a/mnist/3/model.pkl",
        "sourceKey": key,
        "sha256": SHA,
        "size": 10,
        "framework": "ScikitLearn",
        "frameworkVersion": "1.9.1",
        "registeredAt": "2026-01-01T00:00:00Z",
        "run": "run-1",
        "runUid": "r-uid",
        "experiment": "mnist",
        "path": "outputs/model.pkl",
        "metrics": {"accuracy": 0.92},
    }


@pytest.mark.parametrize(
    "spec, detected, expect",
    [
        ({}, ("ScikitLearn", "1.9.1"), ("ScikitLearn", "1.9.1")),
        ({"frameworkVersion": "1.9"}, ("ScikitLearn", "1.9.1"), ("ScikitLearn", "1.9.1")),
        ({"frameworkVersion": "1.8.0"}, ("ScikitLearn", None), ("ScikitLearn", "1.8.0")),
        ({"framework": "Custom"}, ("Custom", None), ("Custom", None)),
    ],
)
def test_framework_is_detected_and_declared_versions_fill_gaps(spec, detected, expect):
    assert registry.check_framework(spec, *detected) == expect


@pytest.mark.parametrize(
    "spec, detected, reason",
    [
        ({}, ("Custom", None), rm.REASON_NOT_SCIKIT_LEARN),
        ({"frameworkVersion": "1.5"}, ("ScikitLearn", "1.9.1"), rm.REASON_FRAMEWORK_VERSION_MISMATCH),
        ({"frameworkVersion": "1.9.0"}, ("ScikitLearn", "1.9.1"), rm.REASON_FRAMEWORK_VERSION_MISMATCH),
    ],
)
def test_framework_disagreements_are_refused(spec, detected, reason):
    with pytest.raises(Problem) as info:
        registry.check_framework(spec, *detected)
    assert info.value.reason == reason and reason not in rm.WAITING_REASONS


def test_the_runtime_image_matches_major_minor():
    images = {"1.5": "rt:sk1.5", "1.9": "rt:sk1.9"}
    assert registry.serving_image(images, "1.9.1") == "rt:sk1.9"
    assert registry.serving_image(images, "1.5") == "rt:sk1.5"
    assert registry.serving_image(images, "1.10.0") is None and registry.serving_image(images, None) is None


def test_serving_images_come_from_the_environment():
    cfg = OperatorConfig.from_env({"TRAINYARD_SERVING_IMAGES": '{"1.9": "a:1", "1.5": "b:2"}'})
    assert cfg.serving_images == (("1.5", "b:2"), ("1.9", "a:1"))
    assert OperatorConfig.from_env({}).serving_image_map == {"1.9": "trainyard/runtime:0.1.0-sklearn1.9"}
    for bad in ("not json", '["1.9"]', '{"1.9.1": "x"}', '{"1.9": ""}'):
        with pytest.raises(ValueError, match="TRAINYARD_SERVING_IMAGES"):
            parse_serving_images(bad)


def c(type_, status, reason):
    return cond.condition(type_, status, reason, "", now="t")


@pytest.mark.parametrize(
    "conditions, deployment, phase",
    [
        ([], False, rm.PHASE_REGISTERING),
        ([c("Registered", "False", rm.REASON_RUN_NOT_COMPLETED)], False, rm.PHASE_REGISTERING),
        ([c("Registered", "False", rm.REASON_PATH_NOT_IN_OUTPUTS)], False, rm.PHASE_FAILED),
        ([c("Registered", "True", rm.REASON_REGISTERED)], False, rm.PHASE_REGISTERED),
        ([c("Registered", "True", rm.REASON_REGISTERED)], True, rm.PHASE_DEPLOYING),
        ([c("Registered", "True", "x"), c("Ready", "False", rm.REASON_ROLLING_OUT)], True, rm.PHASE_DEPLOYING),
        ([c("Registered", "True", "x"), c("Ready", "False", rm.REASON_NO_RUNTIME_IMAGE)], True, rm.PHASE_FAILED),
        ([c("Registered", "True", "x"), c("Ready", "True", rm.REASON_AVAILABLE)], True, rm.PHASE_READY),
    ],
)
def test_phase_is_derived_from_the_conditions(conditions, deployment, phase):
    assert rm.phase_of(conditions, deployment=deployment) == phase


def test_next_version_continues_from_the_store():
    # a model deleted and re-created: its status is empty, the store still holds 1 and 2
    stored = [{"version": 1, "sourceKey": "a"}, {"version": 2, "sourceKey": "b"}]
    assert registry.next_version([], stored) == 3
    assert registry.next_version(None, stored) == 3
    # whichever is higher wins: the status (a version whose manifest was removed by hand) ...
    assert registry.next_version([{"version": 5}], stored) == 6
    # ... or the store (a version written after the status was read)
    assert registry.next_version([{"version": 1}], [{"version": 1}, {"version": 4}]) == 5
    # an unreadable manifest still holds its number
    assert registry.next_version([], [{"version": 7}]) == 8
    assert registry.next_version([], []) == 1
