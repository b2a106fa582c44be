"""The Open Inference Protocol over gRPC: `inference.GRPCInferenceService` on grpc.aio.

It runs on the event loop the HTTP server runs on, over the same loaded model, readiness, metrics
and micro-batcher: a gRPC request and an HTTP request that arrive together are one predict call.

- Input tensors arrive in `raw_input_contents` (tritonclient's way; decoded by tensors.py exactly
  as binary HTTP is) or in typed `contents`; outputs always go back in `raw_output_contents`, as
  Triton answers. Requests, outputs and versions are checked by the functions HTTP uses (oip.py).
- Errors take their code from `errors.grpc_status`: bad input is INVALID_ARGUMENT, an unknown
  model or version NOT_FOUND, a model still loading UNAVAILABLE.
- Message size: grpc core refuses a request larger than `max_message_bytes` with
  RESOURCE_EXHAUSTED before any of it reaches Python.
"""

from __future__ import annotations

import logging
import time

import grpc
import numpy as np

from trainyard.runtime.serving import errors, oip, tensors
from trainyard.runtime.serving import grpc_predict_v2_pb2 as pb
from trainyard.runtime.serving import grpc_predict_v2_pb2_grpc as pb_grpc
from trainyard.runtime.serving.errors import InvalidInput, ModelNotReady
from trainyard.runtime.serving.model import Model, v2_datatype

log = logging.getLogger(__name__)

# The typed contents field of each datatype. FP16 has none: it travels raw only.
CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
}


def decode(request: pb.ModelInferRequest, model: Model) -> oip.InferRequest:
    oip.check_target(model, request.model_name, request.model_version or None)
    oip.check_input_count(len(request.inputs), model)
    spec = request.inputs[0]
    raw = request.raw_input_contents
    if raw:
        if len(raw) != len(request.inputs):
            raise InvalidInput(
                f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} input: one per input, in order"
            )
        if spec.HasField("contents"):
            raise InvalidInput("inputs[0] has both contents and raw_input_contents; send one of them")
        x = tensors.from_bytes(raw[0], datatype=spec.datatype, shape=list(spec.shape), field="inputs[0]")
    else:
        x = _from_contents(spec)
    x = oip.check_rows(x, model)
    pairs = []
    for i, out in enumerate(request.outputs):
        oip.check_output_parameters(dict(out.parameters), field=f"outputs[{i}].parameters")
        pairs.append((out.name, True))
    return oip.InferRequest(x, oip.select_outputs(pairs, model, binary=True), request.id or None)


def _from_contents(spec) -> np.ndarray:
    tensors.dtype_of(spec.datatype, field="inputs[0]")
    wanted = CONTENTS.get(spec.datatype)
    if wanted is None:
        raise InvalidInput(f"inputs[0]: {spec.datatype} has no typed contents field; send it in raw_input_contents")
    present = [f.name for f, _ in spec.contents.ListFields()]
    stray = [name for name in present if name != wanted]
    if stray:
        raise InvalidInput(f"inputs[0] is {spec.datatype} but its contents are in {', '.join(stray)}; use {wanted}")
    values = getattr(spec.contents, wanted)
    return tensors.from_values(values, datatype=spec.datatype, shape=list(spec.shape), field="inputs[0]")


def encode(model: Model, req: oip.InferRequest, results: list) -> pb.ModelInferResponse:
    response = pb.ModelInferResponse(model_name=model.name, model_version=model.version or "", id=req.id or "")
    for out, arr in zip(req.outputs, results, strict=True):
        response.outputs.add(name=out.name, datatype=v2_datatype(arr.dtype), shape=arr.shape)
        response.raw_output_contents.append(tensors.to_bytes(arr))
    return response


def metadata(model: Model) -> pb.ModelMetadataResponse:
    doc = oip.metadata(model)
    return pb.ModelMetadataResponse(
        name=doc["name"],
        versions=doc["versions"],
        platform=doc["platform"],
        inputs=[pb.ModelMetadataResponse.TensorMetadata(**t) for t in doc["inputs"]],
        outputs=[pb.ModelMetadataResponse.TensorMetadata(**t) for t in doc["outputs"]],
    )


class InferenceService(pb_grpc.GRPCInferenceServiceServicer):
    """The RPCs, over the HTTP app's model, batcher, metrics and draining flag."""

    def __init__(self, app):
        self.app = app
        self.model: Model = app.model

    async def _answer(self, context, work):
        """Await `work`; on error, abort the call with the code errors.py gives."""
        started = time.perf_counter()
        try:
            response = await work
        except Exception as exc:
            code, message = errors.grpc_status(exc)
            if code == "INTERNAL":
                log.error("gRPC call failed", exc_info=exc)
        else:
            self.app.metrics.request("grpc", "OK", time.perf_counter() - started)
            return response
        self.app.metrics.request("grpc", code, time.perf_counter() - started)
        await context.abort(grpc.StatusCode[code], message)

    def _require_ready(self) -> None:
        if not self.model.ready:
            raise ModelNotReady(f"model {self.model.name!r} is not loaded yet")

    async def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=self.model.healthy() and not self.app.draining)

    async def ModelReady(self, request, context):
        async def work():
            oip.check_target(self.model, request.name, request.version or None)
            return pb.ModelReadyResponse(ready=self.model.healthy())

        return await self._answer(context, work())

    async def ServerMetadata(self, request, context):
        return pb.ServerMetadataResponse(name="trainyard", version=self.app.server_version, extensions=oip.EXTENSIONS)

    async def ModelMetadata(self, request, context):
        async def work():
            oip.check_target(self.model, request.name, request.version or None)
            self._require_ready()
            return metadata(self.model)

        return await self._answer(context, work())

    async def ModelInfer(self, request, context):
        return await self._answer(context, self._infer(request))

    async def _infer(self, request):
        self._require_ready()
        req = decode(request, self.model)
        results = [await self.app.batcher.submit(out.name, req.x) for out in req.outputs]
        return encode(self.model, req, results)


def build_server(app, *, host: str, port: int, max_message_bytes: int) -> grpc.aio.Server:
    """A grpc.aio server (not started) for `app`, bound to host:port. Call from the running loop."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            # grpc sets SO_REUSEPORT by default: a second server on a busy port would then share
            # it silently instead of failing to start.
            ("grpc.so_reuseport", 0),
        ]
    )
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceService(app), server)
    address = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise OSError(f"cannot listen for gRPC on {address}: {exc}") from None
    if not bound:
        raise OSError(f"cannot listen for gRPC on {address}")
    return server
