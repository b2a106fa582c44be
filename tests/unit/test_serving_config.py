"""Model-server settings from flags and TRAINYARD_SERVE_* variables: the gRPC port."""

from __future__ import annotations

import argparse

from trainyard.runtime.serving.config import DEFAULT_GRPC_PORT, ServeConfig, add_arguments


def parse(argv: list[str], environ: dict[str, str] | None = None) -> ServeConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser, environ={} if environ is None else environ)
    return ServeConfig.from_args(parser.parse_args(["--model", "m.pkl", "--name", "m", *argv]))


def test_grpc_is_on_by_default_on_kserves_port():
    assert parse([]).grpc_port == DEFAULT_GRPC_PORT == 8081


def test_grpc_port_from_the_flag_the_environment_or_off():
    assert parse(["--grpc-port", "9001"]).grpc_port == 9001
    assert parse([], {"TRAINYARD_SERVE_GRPC_PORT": "9002"}).grpc_port == 9002
    assert parse(["--grpc-port", "9003"], {"TRAINYARD_SERVE_GRPC_PORT": "9002"}).grpc_port == 9003
    assert parse(["--grpc-port", "0"]).grpc_port == 0


def test_the_version_served_comes_from_the_flag_or_the_environment():
    assert parse(["--model-version", "4"]).model_version == "4"
    assert parse([], {"TRAINYARD_SERVE_MODEL_VERSION": "5"}).model_version == "5"
    assert parse([]).model_version is None
