"""A RegisteredModel's status as a table: what one reconcile observed in, the status out
(operator/registeredmodel/status.py)."""

import pytest

from trainyard.api import conditions as cond
from trainyard.api import registeredmodel as rm
from trainyard.operator.registeredmodel import status as ms

pytestmark = pytest.mark.unit

NOW, EARLIER = "2026-01-02T03:04:05Z", "2026-01-01T00:00:00Z"
ENDPOINT = "http://iris-serving.team-a.svc/score"


def entry(n: int, **extra) -> dict:
    return {
        "version": n,
        "uri": f"s3://trainyard/models/team-a/iris/{n}/model.pkl",
        "sha256": f"{n}" * 64,
        "run": "run-1",
        **extra,
    }


def model(status=None, deployment=False, generation=2) -> dict:
    spec = {"source": {"trainingRun": {"name": "run-1", "path": "outputs/model.pkl"}}}
    if deployment:
        spec["deployment"] = {"replicas": 1}
    return {
        "metadata": {"name": "iris", "namespace": "team-a", "generation": generation},
        "spec": spec,
        "status": status or {},
    }


def c(ctype, status, reason, message="", generation=2, now=NOW):
    return cond.condition(ctype, status, reason, message, generation=generation, now=now)


def registered_v1(generation=2) -> dict:
    return {
        "versions": [entry(1)],
        "version": 1,
        "uri": entry(1)["uri"],
        "conditions": [c(rm.REGISTERED, cond.TRUE, rm.REASON_REGISTERED, "v1", generation=generation, now=EARLIER)],
    }


def traffic(replicas=1) -> list[dict]:
    return [{"version": 1, "percent": 100, "replicas": replicas, "effectivePercent": 100 if replicas else 0}]


WAIT = ms.Problem(rm.REASON_RUN_NOT_COMPLETED, "TrainingRun 'run-1' is Running")
BAD = ms.Problem(rm.REASON_NOT_SCIKIT_LEARN, "not scikit-learn")
NO_IMAGE = ms.Problem(rm.REASON_NO_RUNTIME_IMAGE, "no runtime image")

CASES = [
    # id, model, observed, (phase, Registered (status, reason) or None, Ready (status, reason) or None,
    #                       version, endpoint?, message prefix)
    (
        "a-waiting-source-is-registering",
        model(),
        ms.Observed(ms.Registration(problem=WAIT)),
        ("Registering", (cond.FALSE, rm.REASON_RUN_NOT_COMPLETED), None, None, False, "SourceRunNotCompleted: "),
    ),
    (
        "a-new-version-is-registered",
        model(),
        ms.Observed(ms.Registration(entry(1), created=True)),
        ("Registered", (cond.TRUE, rm.REASON_REGISTERED), None, 1, False, "Registered: version 1 ("),
    ),
    (
        "a-known-source-is-unchanged",
        model(registered_v1(generation=1)),
        ms.Observed(ms.Registration(entry(1), created=False)),
        ("Registered", (cond.TRUE, rm.REASON_SOURCE_UNCHANGED), None, 1, False, "SourceUnchanged: "),
    ),
    (
        "a-source-only-a-spec-change-fixes-fails",
        model(),
        ms.Observed(ms.Registration(problem=BAD)),
        ("Failed", (cond.FALSE, rm.REASON_NOT_SCIKIT_LEARN), None, None, False, "NotScikitLearn: not scikit"),
    ),
    (
        "a-settled-source-keeps-its-condition",
        model(registered_v1()),
        ms.Observed(),
        ("Registered", (cond.TRUE, rm.REASON_REGISTERED), None, 1, False, "Registered: v1"),
    ),
    (
        "rolling-out-is-deploying",
        model(registered_v1(), deployment=True),
        ms.Observed(serving=ms.Serving(ENDPOINT, traffic(0), waiting=("version 1: 0/1 replicas available",))),
        ("Deploying", (cond.TRUE, rm.REASON_REGISTERED), (cond.FALSE, rm.REASON_ROLLING_OUT), 1, False, "RollingOut"),
    ),
    (
        "every-served-version-available-is-ready",
        model(registered_v1(), deployment=True),
        ms.Observed(serving=ms.Serving(ENDPOINT, traffic(1))),
        ("Ready", (cond.TRUE, rm.REASON_REGISTERED), (cond.TRUE, rm.REASON_AVAILABLE), 1, True, "Available: serving"),
    ),
    (
        "no-runtime-image-fails",
        model(registered_v1(), deployment=True),
        ms.Observed(serving=ms.Serving(ENDPOINT, [], problem=NO_IMAGE)),
        ("Failed", (cond.TRUE, rm.REASON_REGISTERED), (cond.FALSE, rm.REASON_NO_RUNTIME_IMAGE), 1, False, "NoRunt"),
    ),
    (
        "a-deployment-waiting-for-its-first-version-is-registering",
        model(deployment=True),
        ms.Observed(
            ms.Registration(problem=WAIT),
            ms.Serving(ENDPOINT, [], problem=ms.Problem(rm.REASON_NOTHING_TO_SERVE, "no version is registered yet")),
        ),
        (
            "Registering",
            (cond.FALSE, rm.REASON_RUN_NOT_COMPLETED),
            (cond.FALSE, rm.REASON_NOTHING_TO_SERVE),
            None,
            False,
            "SourceRunNotCompleted",
        ),
    ),
]


def _status_reason(status: dict, ctype: str) -> tuple[str, str] | None:
    found = cond.find(status["conditions"], ctype)
    return (found["status"], found["reason"]) if found else None


@pytest.mark.parametrize("m, observed, want", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_status_table(m, observed, want):
    phase, registered, ready, version, endpoint, message = want
    st = ms.derive(m, observed, now=NOW)
    assert st["phase"] == phase
    assert _status_reason(st, rm.REGISTERED) == registered
    assert _status_reason(st, rm.READY) == ready
    assert st.get("version") == version
    assert ("endpoint" in st) == endpoint
    assert st["message"].startswith(message), st["message"]
    assert st["observedGeneration"] == 2


def test_a_new_version_is_appended_and_becomes_current_with_its_uri():
    st = ms.derive(model(registered_v1()), ms.Observed(ms.Registration(entry(2), created=True)), now=NOW)
    assert [v["version"] for v in st["versions"]] == [1, 2]
    assert (st["version"], st["uri"]) == (2, entry(2)["uri"])
    reg = cond.find(st["conditions"], rm.REGISTERED)
    assert reg["message"] == f"version 2 ({entry(2)['uri']}, sha256 {'2' * 12})"
    assert reg["lastTransitionTime"] == EARLIER, "True stays True: the transition time does not move"
    assert reg["observedGeneration"] == 2


def test_a_revert_to_a_recorded_source_points_back_without_a_new_version():
    old = registered_v1()
    old["versions"].append(entry(2))
    old.update(version=2, uri=entry(2)["uri"])
    st = ms.derive(model(old), ms.Observed(ms.Registration(entry(1))), now=NOW)
    assert [v["version"] for v in st["versions"]] == [1, 2]
    assert (st["version"], st["uri"]) == (1, entry(1)["uri"])


def test_removing_the_deployment_drops_ready_traffic_and_endpoint():
    old = registered_v1()
    old["conditions"].append(c(rm.READY, cond.TRUE, rm.REASON_AVAILABLE, "serving"))
    old.update(endpoint=ENDPOINT, traffic=traffic(1), phase="Ready")
    st = ms.derive(model(old), ms.Observed(), now=NOW)
    assert cond.find(st["conditions"], rm.READY) is None
    assert "endpoint" not in st and "traffic" not in st
    assert st["phase"] == "Registered"


def test_the_ready_message_names_the_replicas_of_each_version():
    two = [
        {"version": 1, "percent": 80, "replicas": 4, "effectivePercent": 80},
        {"version": 2, "percent": 20, "replicas": 1, "effectivePercent": 20},
    ]
    st = ms.derive(model(registered_v1(), deployment=True), ms.Observed(serving=ms.Serving(ENDPOINT, two)), now=NOW)
    ready = cond.find(st["conditions"], rm.READY)
    assert ready["message"] == f"serving at {ENDPOINT} (version 1: 4 replica(s), version 2: 1 replica(s))"
    assert st["traffic"] == two and st["endpoint"] == ENDPOINT


def test_other_status_fields_are_kept():
    old = {**registered_v1(), "somethingElse": 1}
    assert ms.derive(model(old), ms.Observed(), now=NOW)["somethingElse"] == 1


@pytest.mark.parametrize(
    "conditions, settled",
    [
        ([], False),
        ([c(rm.REGISTERED, cond.TRUE, rm.REASON_REGISTERED)], True),
        ([c(rm.REGISTERED, cond.TRUE, rm.REASON_REGISTERED, generation=1)], False),  # spec changed since
        ([c(rm.REGISTERED, cond.FALSE, rm.REASON_NOT_SCIKIT_LEARN)], True),  # only a spec change fixes it
        ([c(rm.REGISTERED, cond.FALSE, rm.REASON_RUN_NOT_FOUND)], False),  # waiting: read it again
    ],
)
def test_settled(conditions, settled):
    assert ms.settled(model({"conditions": conditions})) is settled


def test_a_registration_is_an_entry_or_a_problem():
    with pytest.raises(ValueError):
        ms.Registration()
    with pytest.raises(ValueError):
        ms.Registration(entry(1), problem=BAD)


def test_events_announce_a_new_version_and_each_changed_reason():
    old = model({"conditions": [c(rm.REGISTERED, cond.FALSE, rm.REASON_RUN_NOT_COMPLETED, "running")]}, True)
    new = ms.derive(
        old,
        ms.Observed(
            ms.Registration(entry(1), created=True),
            ms.Serving(ENDPOINT, traffic(0), waiting=("version 1: Deployment not created yet",)),
        ),
        now=NOW,
    )
    assert ms.events(old["status"], new) == [
        ("Normal", ms.EVENT_VERSION_REGISTERED, f"version 1 from run-1: {entry(1)['uri']}"),
        ("Normal", rm.REASON_ROLLING_OUT, "version 1: Deployment not created yet"),
    ]
    failed = ms.derive(model(registered_v1(), True), ms.Observed(serving=ms.Serving(ENDPOINT, [], NO_IMAGE)), now=NOW)
    assert ms.events(registered_v1(), failed) == [("Warning", rm.REASON_NO_RUNTIME_IMAGE, "no runtime image")]
    assert ms.events(failed, failed) == [], "no change, no Event"
