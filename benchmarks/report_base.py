"""What every README results block shares: loading results files, provenance (which commit
measured a row, refusing mixed commits), formatting numbers and tables."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
MARKS = ["†", "‡", "§", "¶", "‖", "**", "††", "‡‡"]
SIZES = ["28x28x1", "32x32x3"]
RECURRENT = ["row-lstm", "diagonal-bilstm", "multiscale-pixelrnn"]
WHY_SLOW = {  # why a model may be the slowest to train
    "diagonal-bilstm": "the Diagonal BiLSTM takes H + W − 1 sequential steps per layer and direction",
    "multiscale-pixelrnn": "the multi-scale model trains two recurrent networks",
    "row-lstm": "the Row LSTM takes H sequential steps per layer",
    "pixelcnn++": "PixelCNN++ runs two gated ResNet streams at three resolutions",
}
CODECS = ["PNG", "WebP lossless", "JPEG-XL lossless", "JPEG 2000 lossless"]
# Targets for PixelCNN's fast sampler at 32×32×3 (the project's goal, not a measurement).
TARGET_SPEEDUP, TARGET_FORWARD = 50, 10
# A published number quoted for contrast (Salimans et al. 2017, CIFAR-10 test set).
PUBLISHED_PIXELCNNPP_CIFAR10_BPD = 2.92
COMMANDS = {
    "demo": "python benchmarks/bench_demo.py",
    "models": "python benchmarks/bench_models.py",
    "models_run2": "python benchmarks/bench_models.py --minutes 0 --out benchmarks/results/models_run2.json",
    "sampling": "python benchmarks/bench_sampling.py",
    "sampling_pixelcnn_paper": "python benchmarks/bench_sampling.py --models pixelcnn --num-layers 14 "
    "--hidden-channels 128 --out benchmarks/results/sampling_pixelcnn_paper.json",
    "quality": "python benchmarks/bench_quality.py",
    "conditional": "python benchmarks/bench_conditional.py",
    "codec": "python benchmarks/bench_codec.py",
    "codec_real": "python benchmarks/bench_codec_real.py",
    "versions": "python benchmarks/bench_versions.py --baseline 0a93325 --repeat 4 --times 2",
    "training": "python benchmarks/bench_training.py --baseline d760224 --repeat 2 --baseline-modes eager --steps 25 --warmup 3 --profile 3",
    "compiled_sampling": "python benchmarks/bench_training.py --part sampling",
    "learning": "python benchmarks/bench_learning.py",
    "distributed": "python benchmarks/bench_distributed.py --settings 1x2,2x1",
    "imagenet_memory": "python benchmarks/bench_imagenet_memory.py",
    "orders": "python benchmarks/bench_orders.py --threads 1",
    "mnist": "python benchmarks/bench_mnist.py --threads 1",
    "fashion_mnist": "python benchmarks/bench_mnist.py --data fashion-mnist --threads 1",
    "ood": "python benchmarks/bench_ood.py --threads 1",
    "documents": "python benchmarks/bench_documents.py --threads 2 --runs runs",
}
TIMING_COLUMNS = [f"{kind}_{size}" for kind in ("train_img_s", "sample16_s") for size in SIZES]
TIMING_CONFIG = ["num_layers", "hidden_channels", "train_batch", "train_steps", "sample_rows", "torch_threads"]


class ReportError(Exception):
    """Results that must not go into one table, or a README without its markers (a one-line reason)."""


# -- loading ------------------------------------------------------------------------------------
@dataclass
class Doc:
    """One results file, normalised: legacy files (before provenance) get runs = {} and the
    field names of today's benchmarks."""

    name: str
    config: dict
    runs: dict
    rows: list[dict]
    legacy: dict = field(default_factory=dict)  # what a legacy file said about itself

    def run(self, row: dict) -> dict | None:
        return self.runs.get(row.get("run"))


def load(name: str, results: Path = RESULTS) -> Doc | None:
    path = results / f"{name}.json"
    if not path.exists():
        return None
    return normalise(name, json.loads(path.read_text()))


def normalise(name: str, d: dict) -> Doc:
    if d.get("schema", 1) >= 2:
        return Doc(name, d.get("config", {}), d.get("runs", {}), d["rows"])
    legacy = dict(d.get("meta", {}))
    legacy.update({k: v for k, v in d.items() if k not in ("rows", "meta")})
    rows = []
    for r in d["rows"]:
        r = dict(r)
        for k in list(r):
            if k.startswith("digits_binary_nats_per_image_after"):
                r["test_nll_nats"] = r.pop(k)
            elif k.startswith("digits_binary_steps_after"):
                r["steps"] = r.pop(k)
        if name.startswith("sampling") and "kind" not in r:
            r["kind"] = "timing" if "speedup" in r else "identity"
        rows.append(r)
    config = {k: legacy[k] for k in ("num_layers", "hidden_channels", "minutes", "naive_rows") if k in legacy}
    return Doc(name, config, {}, rows, legacy)


# -- provenance ---------------------------------------------------------------------------------
def short(commit: str | None) -> str:
    return commit[:7] if commit else "?"


def origin(doc: Doc, row: dict) -> tuple:
    """Where a row's numbers come from: (commit, dirty), plus the training run's where a cached
    model trained at another commit or tree produced them; ("unrecorded",) for legacy rows."""
    run = doc.run(row)
    if run is None:
        return ("unrecorded",)
    key: tuple = (run.get("commit") or "unrecorded", bool(run.get("dirty")))
    if "trained_commit" in row:
        trained = (row["trained_commit"] or "unrecorded", bool(row.get("trained_dirty")))
        if trained != key:
            key += ("trained", *trained)
    return key


def describe(key: tuple) -> str:
    if key[0] == "unrecorded":
        return "a commit that was not recorded (the file predates recorded provenance)"
    text = f"commit {short(key[0])}" + (" with uncommitted changes" if key[1] else "")
    if len(key) > 2:
        text += f", with a model trained at commit {short(key[3])}" + (" with uncommitted changes" if key[4] else "")
    return text


@dataclass
class Provenance:
    marks: dict[int, str]  # id(row) -> mark
    lines: list[str]  # what to print under the table
    mixed: bool


def provenance(table: str, items: list[tuple[Doc, dict]], allow_mixed: bool, merged: bool = False) -> Provenance:
    """Check that the rows of one table come from one commit; describe it (or mark the others).
    A ``merged`` table (its benchmark's runs are long and added one at a time with ``--merge``)
    may hold the rows of several recorded runs on clean trees: each run is marked and described."""
    keys = [origin(d, r) for d, r in items]
    distinct = list(dict.fromkeys(keys))
    if merged and all(len(k) == 2 and k[0] != "unrecorded" and not k[1] for k in distinct):
        return runs_of(items)
    clean = len(distinct) == 1 and distinct[0][0] != "unrecorded" and len(distinct[0]) == 2
    if not clean and not allow_mixed:
        docs = sorted({d.name for d, _ in items})
        what = (
            f"its rows come from {describe(distinct[0])}"
            if len(distinct) == 1
            else f"it would mix rows of {' and of '.join(describe(k) for k in distinct)}"
        )
        raise ReportError(
            f"the {table} table cannot be written: {what}; "
            f"re-run {', '.join(COMMANDS.get(n, n) for n in docs)} at one commit, or pass --allow-mixed to mark them"
        )
    # The table's commit: that of its latest run (unless a model from elsewhere measured those rows).
    recorded = [(run.get("date", ""), k) for (d, r), k in zip(items, keys) if (run := d.run(r)) and len(k) == 2]
    base = max(recorded)[1] if recorded else None
    others = [k for k in distinct if k != base]
    symbol = {k: MARKS[i % len(MARKS)] for i, k in enumerate(others)}
    marks = {id(r): symbol[k] for (_, r), k in zip(items, keys) if k in symbol}
    lines = []
    if base is not None:
        runs = {}
        for d, r in items:
            if origin(d, r) == base:
                runs.setdefault(r["run"], d.run(r))
        lines += [describe_run(run, base) for _, run in sorted(runs.items())]
    for k in others:
        legacy = next((d.legacy for d, r in items if origin(d, r) == k and d.legacy), {})
        said = [f"PyTorch {legacy['torch']}"] if "torch" in legacy else []
        said += [f"{legacy['threads']} torch threads"] if "threads" in legacy else []
        extra = f" ({', '.join(said)})" if said else ""
        lines.append(f"{symbol[k]} Rows marked {symbol[k]} come from {describe(k)}{extra}.")
    commands = ", ".join(f"`{COMMANDS.get(n, n)}`" for n in sorted({d.name for d, _ in items}))
    if others and base is None:
        lines.append(
            f"**No row of this table records the commit that measured it** (written with `--allow-mixed`): "
            f"re-run {commands}."
        )
    elif others:
        lines.append(
            f"**Marked rows come from another commit than the rest** (written with `--allow-mixed`): re-run {commands}."
        )
    return Provenance(marks, lines, bool(others))


def runs_of(items: list[tuple[Doc, dict]]) -> Provenance:
    """Mark the rows of each recorded run but the latest and describe every run, oldest first."""
    runs = {r["run"]: d.run(r) or {} for d, r in items}
    order = sorted(runs, key=lambda k: runs[k].get("date", ""))
    symbol = {k: MARKS[i % len(MARKS)] for i, k in enumerate(order[:-1])}
    marks = {id(r): symbol[r["run"]] for _, r in items if r["run"] in symbol}
    lines = [
        (f"Rows marked {symbol[k]}: m" if k in symbol else "Other rows: m" if symbol else "M")
        + describe_run(runs[k], ())[1:]
        for k in order
    ]
    if len(order) > 1:
        lines.append(
            f"The rows come from {len(order)} runs (`--merge`), each training its contenders side by side: "
            "compare rows within a run; across runs the machine's speed may drift."
        )
    return Provenance(marks, lines, len(order) > 1)


def describe_run(run: dict, key: tuple) -> str:
    tree = "uncommitted changes" if run.get("dirty") else "clean tree"
    quick = " **Smoke test (--quick): the numbers mean nothing.**" if run.get("config", {}).get("quick") else ""
    return (
        f"Measured at commit `{short(run.get('commit'))}` ({tree}), {run.get('date', '?')}: Python "
        f"{run.get('python', '?')}, PyTorch {run.get('torch', '?')}, {run.get('platform', '?')}, "
        f"{run.get('cpu_count', '?')} cores, {run.get('torch_threads', '?')} torch threads; "
        f"`{run.get('command', '?')}`.{quick}"
    )


# -- formatting ---------------------------------------------------------------------------------
def dims(size: str) -> str:
    return size.replace("x", "×")


def sig(v: float | None, digits: int = 3) -> str:
    """v to about ``digits`` significant digits, without exponent."""
    if v is None:
        return "n/a"
    if v == 0:
        return "0"
    places = max(0, digits - 1 - int(f"{abs(v):e}".split("e")[1]))
    return f"{v:.{places}f}"


def times(v: float) -> str:
    return f"{sig(v, 2) if v < 10 else f'{v:.0f}'}×"


def span(values: Iterable[float], fmt: Callable[[float], str]) -> str:
    values = sorted(values)
    lo, hi = fmt(values[0]), fmt(values[-1])
    return lo if lo == hi else f"{lo.rstrip('×%')}–{hi}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(r) + " |" for r in rows]


def marked(name: str, prov: Provenance, row: dict) -> str:
    return name + prov.marks.get(id(row), "")


def setting(doc: Doc, key: str, default: str = "?") -> str:
    v = doc.config.get(key)
    if v is None:
        v = next((r.get(key) for r in doc.rows if r.get(key) is not None), None)
    return default if v is None else f"{v:g}" if isinstance(v, float) else str(v)


def missing(name: str) -> list[str]:
    return [f"*No results yet: run `{COMMANDS[name]}`.*"]


# -- the blocks ---------------------------------------------------------------------------------
@dataclass
class Results:
    docs: dict[str, Doc | None]
    allow_mixed: bool

    @classmethod
    def read(cls, results: Path, allow_mixed: bool) -> Results:
        return cls({n: load(n, results) for n in COMMANDS}, allow_mixed)

    def prov(self, table: str, items: list[tuple[Doc, dict]], merged: bool = False) -> Provenance:
        return provenance(table, items, self.allow_mixed, merged)


def captioned(caption: str, header: list[str], cells: list[list[str]], prov: Provenance) -> list[str]:
    """A block: its caption, its table, and where the rows were measured."""
    return [caption, "", *table(header, cells), "", *prov.lines]
