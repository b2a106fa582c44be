"""trainyard.api.quantity reads every quantity the API accepts exactly as the kubernetes client's
parse_quantity does (the function it replaces in the pure modules), and refuses what the API refuses."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from kubernetes.utils.quantity import parse_quantity as client_parse_quantity

from trainyard.api.quantity import parse_quantity

NUMBERS = "0 1 2 500 1.5 0.25 .5 3. +2 -1 0012".split()
SUFFIXES = ["", *"m n u k M G T P E Ki Mi Gi Ti Pi Ei e3 E2 e-2 e+1".split()]


@pytest.mark.parametrize("text", [n + s for n, s in itertools.product(NUMBERS, SUFFIXES)])
def test_same_value_as_the_kubernetes_client(text):
    assert parse_quantity(text) == client_parse_quantity(text)


@pytest.mark.parametrize(
    "text,value",
    [("500m", Decimal("0.5")), ("1Gi", 1 << 30), ("2", 2), ("1e3", 1000), ("1E", 10**18), ("100n", Decimal("1e-7"))],
)
def test_values(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("value", [2, 0, 1.5, Decimal("0.1")])
def test_numbers_pass_through(value):
    assert parse_quantity(value) == Decimal(value)


@pytest.mark.parametrize("text", ["", "m", "Gi", "1ki", "1mi", "1Ki2", "abc", "1.2.3", "1 Gi", "1e", "1e1.5", "1GiB"])
def test_not_a_quantity(text):
    with pytest.raises(ValueError):
        parse_quantity(text)
