"""The operator's configuration, read once from its environment (set by the Helm chart)."""

from __future__ import annotations

import dataclasses
import json
import os

# The curated model-server images, one per scikit-learn major.minor they load. The Helm chart sets
# TRAINYARD_SERVING_IMAGES; a model saved by a release missing here cannot be deployed.
DEFAULT_SERVING_IMAGES = (("1.9", "trainyard/runtime:0.1.0-sklearn1.9"),)


@dataclasses.dataclass(frozen=True)
class OperatorConfig:
    # The image run pods use unless a run names its own (environment.image).
    runtime_image: str = "trainyard/runtime:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    # Where the object store is, as the operator reaches it and as pods reach it (these differ
    # when the operator runs outside the cluster, e.g. in tests).
    s3_endpoint: str = ""
    s3_endpoint_for_pods: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_bucket: str = "trainyard"
    # A node-local directory where staged objects are cached by content across runs.
    node_cache_path: str = "/var/cache/trainyard"
    # The API server as pods reach it, when not the in-cluster default (tests only).
    kube_api_for_pods: str = ""
    # ((scikit-learn major.minor, image), ...) from TRAINYARD_SERVING_IMAGES, a JSON object.
    serving_images: tuple[tuple[str, str], ...] = DEFAULT_SERVING_IMAGES

    @property
    def serving_image_map(self) -> dict[str, str]:
        return dict(self.serving_images)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> OperatorConfig:
        e = os.environ if env is None else env
        endpoint = e.get("TRAINYARD_S3_ENDPOINT", "")
        return cls(
            runtime_image=e.get("TRAINYARD_RUNTIME_IMAGE", cls.runtime_image),
            image_pull_policy=e.get("TRAINYARD_IMAGE_PULL_POLICY", cls.image_pull_policy),
            s3_endpoint=endpoint,
            s3_endpoint_for_pods=e.get("TRAINYARD_S3_ENDPOINT_FOR_PODS", endpoint),
            s3_access_key=e.get("TRAINYARD_S3_ACCESS_KEY", ""),
            s3_secret_key=e.get("TRAINYARD_S3_SECRET_KEY", ""),
            s3_bucket=e.get("TRAINYARD_S3_BUCKET", cls.s3_bucket),
            node_cache_path=e.get("TRAINYARD_NODE_CACHE_PATH", cls.node_cache_path),
            kube_api_for_pods=e.get("TRAINYARD_KUBE_API_FOR_PODS", ""),
            serving_images=parse_serving_images(e.get("TRAINYARD_SERVING_IMAGES")),
        )


def parse_serving_images(raw: str | None) -> tuple[tuple[str, str], ...]:
    """`{"1.9": "trainyard/runtime:0.1.0-sklearn1.9", ...}` -> sorted pairs; a malformed value
    stops the operator at start with a message naming the variable."""
    if not raw:
        return DEFAULT_SERVING_IMAGES
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"TRAINYARD_SERVING_IMAGES is not JSON: {exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str)
        and len(k.split(".")) == 2
        and all(p.isdigit() for p in k.split("."))
        and isinstance(v, str)
        and v
        for k, v in data.items()
    ):
        raise ValueError(
            'TRAINYARD_SERVING_IMAGES must map scikit-learn "major.minor" to an image, '
            f'e.g. {{"1.9": "trainyard/runtime:0.1.0-sklearn1.9"}}; got {raw!r}'
        )
    return tuple(sorted(data.items()))
