"""Kubernetes resource quantities ("500m", "2", "1Gi", "1e3") as exact decimals.

The grammar is the API's (apimachinery `resource.Quantity`, the same one the CRDs' `pattern`
checks), so it lives here with the other API definitions. It is not taken from the `kubernetes`
package: importing anything of it (even `kubernetes.utils.quantity`) runs `kubernetes/__init__.py`,
which loads the whole API client, and the pure modules that parse requests (the cluster's queue)
must not load it.
"""

from __future__ import annotations

import re
from decimal import Decimal

_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_QUANTITY = re.compile(rf"({_NUMBER})(?:([KMGTPE]i)|([numkMGTPE])|([eE][+-]?[0-9]+))?")

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}  # powers of 1024
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}  # powers of 10


def parse_quantity(value: str | int | float | Decimal) -> Decimal:
    """The quantity's value: "500m" -> 0.5, "1Gi" -> 1073741824. ValueError if it is not one."""
    if isinstance(value, (int, float, Decimal)):
        return Decimal(value)
    m = _QUANTITY.fullmatch(str(value))
    if m is None:
        raise ValueError(f"{value!r} is not a Kubernetes quantity (such as 500m, 2 or 1Gi)")
    number, binary, decimal, exponent = m.groups()
    if binary:
        return Decimal(number) * 1024 ** _BINARY[binary]
    if decimal:
        return Decimal(number).scaleb(_DECIMAL[decimal])
    if exponent:
        return Decimal(number).scaleb(int(exponent[1:]))
    return Decimal(number)
