"""Kubernetes quantities ("500m", "1k", "2Gi", "1e3") as numbers, for the HPA's metric targets."""
from __future__ import annotations

import math
import re

_QUANTITY = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))((?:[eE][+-]?\d+)|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?")
_MULTIPLIERS = {
    None: 1.0, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}


def parse_quantity(value: object) -> float:
    """The number a quantity stands for; ValueError with the reason otherwise.

    A YAML number is taken as it is (`averageValue: 30` is the quantity "30").
    """
    if isinstance(value, bool):
        raise ValueError(f"not a quantity: {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and (match := _QUANTITY.fullmatch(value.strip())):
        suffix = match[2]
        if suffix is not None and suffix[0] in "eE":
            number = float(match[1] + suffix)
        else:
            number = float(match[1]) * _MULTIPLIERS[suffix]
    else:
        raise ValueError(f"not a quantity such as 30, 500m, 1k or 2Gi: {value!r}")
    if not math.isfinite(number):
        raise ValueError(f"not a finite quantity: {value!r}")
    return number


def plain(number: float) -> int | float:
    """A whole number as an int, so that the written file says 1000, not 1000.0; others rounded past float noise."""
    rounded = round(float(number), 9)
    return int(rounded) if rounded.is_integer() else rounded
