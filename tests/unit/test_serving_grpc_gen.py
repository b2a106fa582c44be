"""The committed gRPC modules are exactly what grpcio-tools generates from the committed proto."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _gen_module():
    loader = importlib.machinery.SourceFileLoader("gen_grpc", str(REPO / "scripts" / "gen-grpc"))
    spec = importlib.util.spec_from_loader("gen_grpc", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def test_generated_grpc_modules_are_current():
    assert _gen_module().drift() == [], "runtime/serving/grpc_predict_v2_pb2*.py are stale: run scripts/gen-grpc"


def test_the_service_is_the_protocols_on_the_wire():
    from trainyard.runtime.serving import grpc_predict_v2_pb2 as pb

    service = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert service.full_name == "inference.GRPCInferenceService"  # the path clients call
    assert [m.name for m in service.methods] == [
        "ServerLive",
        "ServerReady",
        "ModelReady",
        "ServerMetadata",
        "ModelMetadata",
        "ModelInfer",
    ]
    fields = {f.name: f.number for f in pb.ModelInferRequest.DESCRIPTOR.fields}
    assert fields == {
        "model_name": 1,
        "model_version": 2,
        "id": 3,
        "parameters": 4,
        "inputs": 5,
        "outputs": 6,
        "raw_input_contents": 7,
    }
    assert {f.name: f.number for f in pb.ModelInferResponse.DESCRIPTOR.fields}["raw_output_contents"] == 6
