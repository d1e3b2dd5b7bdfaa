"""IssueService as one gRPC handler, assembled from the per-resource servicers.

Each method of the service descriptor is served by the one servicer that has
a method of its name, through the call pipeline; a method no servicer (or
two) implements stops the server from starting, rather than answering
UNIMPLEMENTED later.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import grpc
from google.protobuf.descriptor import ServiceDescriptor

from common.descriptors import SERVICE

from ..app.runner import Runner
from ..app.tokens import Authenticator
from ..blobs import BlobStore
from ..config import BlobSettings
from .admission import Admission
from .attachments import AttachmentsServicer
from .blobs import BlobsServicer
from .comments import CommentsServicer
from .event_hub import EventHub
from .events import EventsServicer
from .issues import IssuesServicer
from .metrics import MetricsServicer
from .pipeline import InProcessEntry, Pipeline
from .rate_limit import RateLimiter
from .webhooks import WebhooksServicer
from .workflow import WorkflowServicer


def generic_handler(service: ServiceDescriptor, pipeline: Pipeline, servicers: list[object]) -> grpc.GenericRpcHandler:
    handlers = {}
    for method in service.methods:
        found = [getattr(s, method.name) for s in servicers if hasattr(s, method.name)]
        if len(found) != 1:
            raise RuntimeError(f"{method.full_name} is implemented by {len(found)} servicers, not one")
        handlers[method.name] = pipeline.method_handler(method, found[0])
    return grpc.method_handlers_generic_handler(service.full_name, handlers)


class IssueService(NamedTuple):
    handler: grpc.GenericRpcHandler  # for the gRPC server
    # The same methods, pipeline and all, for the in-process gateway (runtime/inprocess.py).
    entries: Mapping[str, InProcessEntry]


def issue_service(
    runner: Runner,
    blobs: BlobStore,
    blob_settings: BlobSettings,
    authenticator: Authenticator,
    admission: Admission,
    hub: EventHub,
    limiter: RateLimiter | None = None,
    executor: Any = None,
) -> IssueService:
    """issues.v1.IssueService, every method behind the pipeline, admitted by
    `admission`; its use cases run on `runner`."""
    servicers: list[object] = [
        IssuesServicer(runner, blobs),
        CommentsServicer(runner, blobs),
        AttachmentsServicer(runner, blobs, blob_settings),
        BlobsServicer(blobs),
        MetricsServicer(runner),
        WorkflowServicer(runner),
        EventsServicer(hub),
        WebhooksServicer(runner),
    ]
    pipeline = Pipeline(authenticator, admission, limiter, executor)
    return IssueService(generic_handler(SERVICE, pipeline, servicers), pipeline.entries)
