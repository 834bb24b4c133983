"""The picture of bench_mnist.py's results: every contender's test NLL against training time."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_curves(rows: list[dict[str, Any]], path: Path) -> None:
    """The learning curves of every measured row in a results file (lines: the curve's test images;
    dots: the whole test split at each budget), the published numbers' range shaded; rows of
    several runs are labelled with their commit. Skipped without matplotlib (``pip install -e .[plots]``)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"{path} not drawn: matplotlib is missing (pip install -e .[plots])")
        return
    fig, ax = plt.subplots(figsize=(8, 5))
    measured = [r for r in rows if r["kind"] != "published" and r.get("curve")]
    several = len({r.get("run") for r in measured}) > 1
    for r in measured:
        label = r["contender"] + (f" ({str(r.get('run', '')).split(' ')[-1][:7]})" if several else "")
        (line,) = ax.plot(*zip(*r["curve"], strict=True), label=label)
        budgets = sorted(r["nll_at_minutes"].items(), key=lambda kv: float(kv[0]))
        ax.plot([float(b) for b, _ in budgets], [v for _, v in budgets], "o", color=line.get_color())
    published = [r["nll"] for r in rows if r["kind"] == "published"]
    if published:
        low, high = min(published), max(published)
        ax.axhspan(low, high, color="grey", alpha=0.25, label=f"published, converged on GPUs ({low:.2f}–{high:.2f})")
    values = [v for r in measured for _, v in r["curve"]] + published
    if measured:  # from the best number to the worst contender's end, with a margin: early points may lie above
        low, high = min(values), max(r["curve"][-1][1] for r in measured)
        ax.set_ylim(low - 0.05 * (high - low), high + 0.6 * (high - low))
    unit = measured[0]["unit"] if measured else ""
    ax.set(xlabel="training minutes", ylabel=f"test NLL ({unit})", title="Test NLL against training time")
    ax.text(
        0.99,
        0.99,
        "lines: the curve's test images; dots: the whole test split",
        transform=ax.transAxes,
        ha="right",
        va="top",
        fontsize=7,
        color="grey",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")
