"""The soak tests' one result shape, shown as a small two-column table (the soak modules print
their own result with it when run alone; the driver, benchmarks/soak.py, can print each part's).

A result is a dict with at least ``name``, ``attempts``, ``failures``, ``errors`` (the first few
failures as one-line messages) and ``seconds``; a part adds its own numbers (memory, refusals)."""

from __future__ import annotations

from typing import Any

MAX_ERRORS = 5  # the failures a result quotes (it counts them all)


def one_line(text: str, limit: int = 240) -> str:
    """``text`` on one line, at most ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def table(result: dict[str, Any]) -> str:
    """``result`` as a Markdown table of its numbers, then its errors one a line."""
    rows = [(key, value) for key, value in result.items() if key != "errors"]
    width = max(len(key) for key, _ in rows)
    lines = [f"| {'':<{width}} | {result.get('name', '')} |", f"|{'-' * (width + 2)}|---|"]
    for key, value in rows:
        if key == "name":
            continue
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        lines.append(f"| {key:<{width}} | {shown} |")
    errors = result.get("errors") or []
    if errors:
        lines.append("")
        lines.append(f"first {len(errors)} error(s):")
        lines.extend(f"  - {error}" for error in errors)
    return "\n".join(lines)
