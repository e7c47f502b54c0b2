"""A benchmark figure and its two renderings: one JSON object per line, or a table for humans."""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "value": self.value, "unit": self.unit, "params": dict(self.params)},
                          separators=(",", ":"))


def with_baseline(params: Mapping[str, Any], *, value: float, baseline_value: float) -> dict[str, Any]:
    """`params` plus the naive loop's figure and how many times better scalerd's is (baseline / value)."""
    ratio = baseline_value / value if value else math.inf
    return {**params, "baseline_value": baseline_value, "ratio": round(ratio, 2) if math.isfinite(ratio) else None}


def table(figures: Sequence[Figure]) -> str:
    rows = [("name", "value", "unit", "baseline", "ratio", "params")]
    for figure in figures:
        others = {key: value for key, value in figure.params.items() if key not in ("baseline_value", "ratio")}
        rows.append((
            figure.name, _number(figure.value), figure.unit, _number(figure.params.get("baseline_value")),
            _number(figure.params.get("ratio")), json.dumps(others, separators=(",", ":")),
        ))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1] for row in rows
    )


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
