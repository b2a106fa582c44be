"""kopf settings shared by every handler module."""

from __future__ import annotations

import logging

import kopf

from trainyard.api.constants import GROUP


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_) -> None:
    # Our status schemas are structural and prune unknown fields, so kopf keeps its progress
    # and diff-base in annotations rather than in status.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.error_backoffs = [1, 2, 5, 10]
    settings.execution.max_workers = 20
    # Events of one object arriving within this window are handled once; kopf's 0.1 s default
    # adds that much to every reaction.
    settings.batching.batch_window = 0.02
