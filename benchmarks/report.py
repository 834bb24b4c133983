"""Write the README's results — every table and every claim made from them — from
benchmarks/results/*.json, so no number in the README is typed by hand.

    python benchmarks/report.py                 # print the generated blocks
    python benchmarks/report.py --write         # put them into README.md, between their markers
    python benchmarks/report.py --check         # exit 1 if README.md differs from what --write writes
    options: --allow-mixed  --results DIR  --readme PATH

README.md's "## Results" section holds one marker pair per block (BLOCKS):

    <!-- results:NAME:begin -->
    ...written by this script...
    <!-- results:NAME:end -->

Everything between a pair is replaced; everything outside is left alone (hand-written prose
there says nothing numeric). Each table says which commit, machine and command measured it.
Rows measured at different commits (or with a model trained at another commit, or in files
that predate recorded provenance) are refused — one line, exit status 2 — unless
--allow-mixed is given; then they are marked in the table and named under it.

This script needs only the standard library (the README check runs in the tests without torch).
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import statistics
import sys
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


def provenance(table: str, items: list[tuple[Doc, dict]], allow_mixed: bool) -> Provenance:
    """Check that the rows of one table come from one commit; describe it (or mark the others)."""
    keys = [origin(d, r) for d, r in items]
    distinct = list(dict.fromkeys(keys))
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

    def prov(self, table: str, items: list[tuple[Doc, dict]]) -> Provenance:
        return provenance(table, items, self.allow_mixed)


def block_demo(res: Results) -> list[str]:
    d = res.docs["demo"]
    if not d:
        return missing("demo")
    rows = sorted(d.rows, key=lambda r: r["repeat"])
    prov = res.prov("demo", [(d, r) for r in rows])
    preset = d.config.get("preset", {})
    args = preset.get("model_args", {})
    nlls = {f"{r['nats_per_image']:.2f}" for r in rows}
    cells = [
        [
            marked(str(r["repeat"]), prov, r),
            str(r["steps"]),
            f"{r['nats_per_image']:.2f}",
            str(r["test_images"]),
            sig(r["minutes"], 2),
        ]
        for r in rows
    ]
    if len(rows) == 1:
        runs = "trained from scratch once (a fixed number of steps, not a time budget: the machine's load changes its time, not its steps):"
    elif len(nlls) == 1:
        runs = (
            f"trained from scratch {len(rows)} times: the test NLL it prints is the same in all {len(rows)} runs (a "
            "fixed number of steps, seed and thread count); the time is what drifts with the machine's load:"
        )
    else:
        runs = f"trained from scratch {len(rows)} times: the test NLL differs between runs ({', '.join(sorted(nlls))}):"
    caption = (
        f"The demo (`make demo`: preset `demo`, {preset.get('model', '?')} with num_layers={args.get('num_layers', '?')}, "
        f"hidden_channels={args.get('hidden_channels', '?')}, {preset.get('steps', '?')} steps at batch "
        f"{preset.get('batch_size', '?')}, Adam {preset.get('lr', '?')}) {runs}"
    )
    header = ["run", "steps", "test NLL (nats/image)", "test images", "minutes"]
    return [caption, "", *table(header, cells), "", *prov.lines]


def block_models(res: Results) -> list[str]:
    d = res.docs["models"]
    if not d:
        return missing("models")
    rows = sorted(d.rows, key=lambda r: r["model"])
    prov = res.prov("models", [(d, r) for r in rows])
    cells = []
    for r in rows:
        sample = [sig(r[f"sample16_s_{s}"]) + (" est." if r.get(f"sample16_s_{s}_estimated") else "") for s in SIZES]
        cells.append(
            [
                marked(r["model"], prov, r),
                sig(r["train_img_s_28x28x1"]),
                sig(r["train_img_s_32x32x3"]),
                *sample,
                str(r.get("steps", "")),
                sig(r["test_nll_nats"], 4) if r.get("test_nll_nats") is not None else "",
            ]
        )
    caption = (
        f"Every model at the same depth and width (num_layers={setting(d, 'num_layers')}, hidden_channels="
        f"{setting(d, 'hidden_channels')}): training speed on random images at batch "
        f"{setting(d, 'train_batch', '16')}; seconds to sample 16 images with the model's fast sampler"
        + (
            " (est.: naive, timed on the first rows and scaled)"
            if any(r.get(k) for r in rows for k in r if k.endswith("_estimated"))
            else ""
        )
        + "; test NLL "
        f"on the bundled binarized test digits after {setting(d, 'minutes')} min of training at batch 32 (Adam 1e-3):"
    )
    header = ["model", "train images/s 28×28×1", "train images/s 32×32×3", "sample 16 (s) 28×28×1"]
    header = [*header, "sample 16 (s) 32×32×3", "steps in budget", "test NLL (nats)"]
    return [caption, "", *table(header, cells), "", *prov.lines]


def block_drift(res: Results) -> list[str]:
    d1, d2 = res.docs["models"], res.docs["models_run2"]
    if not d1 or not d2:
        return [
            "Every number in these tables comes from a single run. How far the timings drift between "
            f"runs is measured by a second run of the first table's timing columns (`{COMMANDS['models_run2']}`), "
            "not made for these results yet: compare ratios measured in one run, not absolute times across runs."
        ]
    for key in TIMING_CONFIG:
        if d1.config.get(key) != d2.config.get(key):
            raise ReportError(
                f"models_run2.json was measured with {key}={d2.config.get(key)}, models.json with {d1.config.get(key)}"
            )
    first = {r["model"]: r for r in d1.rows}
    pairs = [(first[r["model"]], r) for r in sorted(d2.rows, key=lambda r: r["model"]) if r["model"] in first]
    prov = res.prov("timing drift", [(d1, a) for a, _ in pairs] + [(d2, b) for _, b in pairs])
    ratios: list[float] = []
    cells = []
    for a, b in pairs:
        row = [marked(a["model"], prov, a) + prov.marks.get(id(b), "")]
        for col in TIMING_COLUMNS:
            x, y = a[col], b[col]
            q = max(x, y) / min(x, y)
            ratios.append(q)
            row.append(f"{sig(x)} / {sig(y)} ({times(q)})")
        cells.append(row)
    header = ["model", "train images/s 28×28×1", "train images/s 32×32×3", "sample 16 (s) 28×28×1"]
    header += ["sample 16 (s) 32×32×3"]
    return [
        f"How far timings drift between runs: the first table's timing columns measured twice (run 1 / run 2, and "
        f"the larger over the smaller). They differ by up to {times(max(ratios))} (median "
        f"{times(statistics.median(ratios))}); every other number in these tables comes from a single run, so "
        "compare ratios measured in one run, not absolute times across runs.",
        "",
        *table(header, cells),
        "",
        *prov.lines,
    ]


def sampling_table(res: Results, name: str) -> tuple[list[str], Provenance | None]:
    d = res.docs[name]
    rows = sorted((r for r in d.rows if r["kind"] == "timing"), key=lambda r: (r["model"], r["size"], r["batch"]))
    prov = res.prov(name.replace("_", " "), [(d, r) for r in d.rows])
    cells = [
        [
            marked(r["model"], prov, r),
            r["size"],
            str(r["batch"]),
            r.get("naive_pass_per", "not recorded"),
            sig(r["naive_s"]),
            sig(r["fast_s"]),
            times(r["speedup"]),
            sig(r["fast_over_forward"], 2),
        ]
        for r in rows
    ]
    header = ["model", "size", "batch", "naive: one pass per", "naive (s)", "fast (s)", "fast speed-up"]
    return table([*header, "fast ÷ one forward pass"], cells), prov


def block_sampling(res: Results) -> list[str]:
    d = res.docs["sampling"]
    if not d:
        return missing("sampling")
    lines, prov = sampling_table(res, "sampling")
    caption = (
        f"Fast vs naive sampling, same random weights (num_layers={setting(d, 'num_layers')}, hidden_channels="
        f"{setting(d, 'hidden_channels')}) and seed. Naive runs the whole network once per sub-pixel, or once per "
        "pixel where a pixel's parameters do not depend on its own channels (PixelCNN++: its mixture carries "
        f"them); it is timed on the first {setting(d, 'naive_rows')} rows and scaled. Fast samples the whole image:"
    )
    out = [caption, "", *lines, "", "![fast vs naive sampling](benchmarks/results/sampling.png)", ""]
    same = sorted((r for r in d.rows if r["kind"] == "identity"), key=lambda r: r["model"])
    if same:
        text = ", ".join(f"{marked(r['model'], prov, r)} {r['float32_identical']:.1%}" for r in same)
        out += [
            f"Sub-pixels identical between fast and naive samples in float32 (28×28, same seed, images per model: "
            f"{same[0]['batch']}): {text}.",
            "",
        ]
    return out + prov.lines


def block_sampling_paper(res: Results) -> list[str]:
    d = res.docs["sampling_pixelcnn_paper"]
    if not d:
        return missing("sampling_pixelcnn_paper")
    lines, prov = sampling_table(res, "sampling_pixelcnn_paper")
    caption = (
        f"The same for a PixelCNN of the paper's size (num_layers={setting(d, 'num_layers')}, hidden_channels="
        f"{setting(d, 'hidden_channels')}; naive timed on the first {setting(d, 'naive_rows')} rows):"
    )
    return [caption, "", *lines, "", *prov.lines]


def block_quality(res: Results) -> list[str]:
    d = res.docs["quality"]
    if not d:
        return missing("quality")
    prov = res.prov("quality", [(d, r) for r in d.rows])
    cells = [
        [
            marked(r["model"], prov, r),
            ", ".join(f"{k}={v}" for k, v in r["args"].items()),
            f"{r['parameters']:,}",
            str(r["steps"]),
            sig(r["test_nll_nats"], 4),
        ]
        for r in d.rows
    ]
    caption = (
        f"The same wall-clock budget per model ({setting(d, 'minutes')} min, batch 32, Adam 1e-3), test NLL on the "
        "bundled binarized test digits:"
    )
    header = ["model", "config", "parameters", "steps", "test NLL (nats/image)"]
    return [caption, "", *table(header, cells), "", *prov.lines]


def block_conditional(res: Results) -> list[str]:
    d = res.docs["conditional"]
    if not d:
        return missing("conditional")
    prov = res.prov("conditional", [(d, r) for r in d.rows])
    cells = [
        [
            marked(r["model"], prov, r),
            str(r["steps"]),
            sig(r["test_nll_nats"], 4),
            f"{r['label_agreement']:.0%}",
        ]
        for r in d.rows
    ]
    per_class = setting(d, "per_class", "10")
    arch = ""
    if "num_layers" in d.config:
        arch = f" (num_layers={setting(d, 'num_layers')}, hidden_channels={setting(d, 'hidden_channels')})"
    caption = (
        f"Class-conditional models{arch} trained for {setting(d, 'minutes')} min at batch 32; samples per class: "
        f"{per_class}, classified by a logistic regression fitted on the training digits (chance 10%):"
    )
    header = ["model", "steps", "test NLL (nats)", "samples classified as the requested digit"]
    out = [caption, "", *table(header, cells), ""]
    if d.rows:
        acc = d.rows[0]["classifier_accuracy_on_real_test"]
        out += [f"(The classifier scores {acc:.0%} on the real test digits.)", ""]
    return out + prov.lines


def model_label(r: dict) -> str:
    if "model" not in r:
        return "not recorded"
    args = r.get("args", {})
    text = f"{r['model']}, {args.get('num_layers', '?')}×{args.get('hidden_channels', '?')}"
    return text + (f", {args['num_components']} components" if "num_components" in args else "")


def codec_rows(d: Doc) -> list[dict]:
    """The codec rows in the benchmark's order of datasets."""
    order = ["digits-binary", "digits-8bit", "photos32"]
    return sorted(d.rows, key=lambda r: (order.index(r["data"]) if r["data"] in order else len(order), r["data"]))


def block_codec(res: Results) -> list[str]:
    d = res.docs["codec"]
    if not d:
        return missing("codec")
    rows = codec_rows(d)
    prov = res.prov("codec", [(d, r) for r in rows])
    framing = [r["model_codec_framing_bytes"] for r in rows if "model_codec_framing_bytes" in r]
    file_title = f"file with {framing[0]:.0f} bytes of framing" if framing and len(set(framing)) == 1 else "file"
    lines = [
        ("model NLL", "model_nll_bpd"),
        ("**model codec, whole set (real file)**", "model_codec_whole_set_bpd"),
        ("model codec, per image (payload)", "model_codec_per_image_payload_bpd"),
        (f"model codec, per image ({file_title})", "model_codec_per_image_file_bpd"),
    ]
    for name in CODECS:
        lines += [(f"{name}, per image", f"{name} per image"), (f"{name}, whole set tiled", f"{name} whole set")]
    cells = [["model trained", *(model_label(r) for r in rows)], ["test images", *(str(r["images"]) for r in rows)]]
    cells += [[title, *(f"{r[key]:.3f}" if r.get(key) is not None else "n/a" for r in rows)] for title, key in lines]
    cells.append(["encode / decode, images/s", *(f"{sig(r['encode_img_s'])} / {sig(r['decode_img_s'])}" for r in rows)])
    caption = (
        f"Bits per sub-pixel on the same test images in every row, each model trained for {setting(d, 'minutes')} "
        "min on its training split:"
    )
    out = [caption, "", *table(["", *(marked(r["data"], prov, r) for r in rows)], cells), ""]
    if any("model_nll_bpd_per_image_subset" in r for r in rows):
        out += ["In this file the per-image model rows covered only the first test images, the others all of them.", ""]
    return out + prov.lines


# -- claims: every sentence with a number is computed here --------------------------------------
def claim_training(res: Results) -> str | None:
    d = res.docs["models"]
    if not d:
        return None
    by = {r["model"]: r for r in d.rows}
    rec = [m for m in RECURRENT if m in by]
    if "pixelcnn" not in by or not rec:
        return None
    parts = []
    for size in SIZES:
        ratios = [by["pixelcnn"][f"train_img_s_{size}"] / by[m][f"train_img_s_{size}"] for m in rec]
        parts.append(f"{span(ratios, times)} at {dims(size)}")
    slowest = {size: min(by, key=lambda m: by[m][f"train_img_s_{size}"]) for size in SIZES}
    slow = sorted(set(slowest.values()))
    if len(slow) == 1:
        where = f"{slow[0]} at both sizes"
    else:
        where = ", ".join(f"{slowest[s]} at {dims(s)}" for s in SIZES)
    why = "; ".join(WHY_SLOW[m] for m in slow if m in WHY_SLOW)
    return (
        f"**Training speed** (first table): PixelCNN's training images/s over each recurrent model's ({', '.join(rec)}; "
        f"same depth and width): {', '.join(parts)}. Slowest to train: {where}" + (f" ({why})." if why else ".")
    )


def claim_quality(res: Results) -> str | None:
    d = res.docs["quality"]
    if not d or not d.rows:
        return None
    ranked = sorted(d.rows, key=lambda r: r["test_nll_nats"])
    order = ", then ".join(f"{r['model']} ({sig(r['test_nll_nats'], 4)} nats, {r['steps']} steps)" for r in ranked)
    return (
        f"**Quality at a fixed CPU budget** (fixed-budget table): after {setting(d, 'minutes')} min the best test NLL "
        f"is {order}. The papers' rankings are statements about converged models; minutes on a CPU do not get there."
    )


def pixelcnn_target(d: Doc, label: str) -> str | None:
    rows = [r for r in d.rows if r["kind"] == "timing" and r["model"] == "pixelcnn" and r["size"] == "32x32x3"]
    if not rows:
        return None
    parts = []
    for r in sorted(rows, key=lambda r: -r["batch"]):
        met = r["speedup"] >= TARGET_SPEEDUP and r["fast_over_forward"] <= TARGET_FORWARD
        parts.append(
            f"{'met' if met else 'missed'} at batch {r['batch']} (speed-up {times(r['speedup'])}, "
            f"{sig(r['fast_over_forward'], 2)}× one forward pass)"
        )
    return f"{label}, " + ", ".join(parts)


def claim_sampling(res: Results) -> str | None:
    d = res.docs["sampling"]
    if not d:
        return None
    text = ["**Fast sampling**: every model's fast sampler gives the naive sampler's images (tested in float64)."]
    same = [r["float32_identical"] for r in d.rows if r["kind"] == "identity"]
    if same and min(same) < 1:
        text.append(
            f"In float32, near-ties in the probabilities make some draws differ: {span(same, lambda v: f'{v:.1%}')} "
            "of the sub-pixels are identical (sampling table)."
        )
    elif same:
        text.append("In float32 every sub-pixel sampled here is identical too (near-ties could make some differ).")
    timing = [r for r in d.rows if r["kind"] == "timing" and r["size"] == "32x32x3"]
    batches = sorted({r["batch"] for r in timing})
    if batches:
        ups = [span([r["speedup"] for r in timing if r["batch"] == b], times) + f" at batch {b}" for b in batches]
        text.append(f"Speed-up of fast over naive sampling at 32×32×3: {', '.join(ups)} (all models).")
    targets = [pixelcnn_target(d, "at the table's size")]
    paper = res.docs["sampling_pixelcnn_paper"]
    if paper:
        targets.append(pixelcnn_target(paper, "at the paper's size"))
    targets = [t for t in targets if t]
    if targets:
        text.append(
            f"The target for PixelCNN at 32×32×3 — at least {TARGET_SPEEDUP}× faster than naive and within "
            f"{TARGET_FORWARD}× of one forward pass: " + "; ".join(targets) + "."
        )
        if any("missed" in t for t in targets):
            text.append(
                "Where it is missed, sampling is a chain of sequential steps (wavefronts × channels, the critical "
                "path of the model's dependencies), each a few dozen small PyTorch operations whose per-operation "
                "overhead dominates at small batches; closing that needs fused kernels (torch.compile, CUDA graphs)."
            )
    return " ".join(text)


def claim_conditional(res: Results) -> str | None:
    d = res.docs["conditional"]
    if not d or not d.rows:
        return None
    acc = [r["label_agreement"] for r in d.rows]
    real = d.rows[0]["classifier_accuracy_on_real_test"]
    return (
        f"**Conditional digits**: after {setting(d, 'minutes')} min of training a classifier fitted on real digits "
        f"recognises {span(acc, lambda v: f'{v:.0%}')} of the samples as the requested digit (chance 10%; "
        f"{real:.0%} on the real test digits). The per-class grids: `benchmarks/results/conditional_*.png`."
    )


def percent(v: float) -> str:
    return f"{sig(100 * v, 2)}%"


def claim_codec(res: Results) -> str | None:
    d = res.docs["codec"]
    if not d or not d.rows:
        return None
    text = []
    rows = codec_rows(d)
    over = {r["data"]: abs(r["model_codec_whole_set_bpd"] / r["model_nll_bpd"] - 1) for r in rows}
    text.append(
        "**Codec**: the real file of the whole test set is within "
        f"{span(over.values(), percent)} of the model's NLL ("
        + ", ".join(f"{k} {percent(v)}" for k, v in over.items())
        + ")."
    )
    framing = [r["model_codec_framing_bytes"] for r in rows if "model_codec_framing_bytes" in r]
    if framing:
        text.append(f"A file per image adds {span(framing, lambda v: f'{v:.0f}')} bytes of framing to each.")
    for r in rows:
        tiled = {c: r.get(f"{c} whole set") for c in CODECS if r.get(f"{c} whole set") is not None}
        single = {c: r.get(f"{c} per image") for c in CODECS if r.get(f"{c} per image") is not None}
        if not tiled or not single:
            continue
        bt, bs = min(tiled, key=tiled.get), min(single, key=single.get)
        whole, file, payload = (
            r[k]
            for k in (
                "model_codec_whole_set_bpd",
                "model_codec_per_image_file_bpd",
                "model_codec_per_image_payload_bpd",
            )
        )
        sentence = (
            f"On {r['data']}" + (f" ({model_label(r)})" if "model" in r else "") + " the whole-set file"
            f" ({whole:.3f} bits/dim) "
            f"{'beats' if whole < tiled[bt] else 'loses to'} the best classical codec on the tiled set, {bt} "
            f"({tiled[bt]:.3f}); per image, the model's files ({file:.3f}) "
            f"{'beat' if file < single[bs] else 'lose to'} the best classical codec, {bs} ({single[bs]:.3f})"
        )
        if file >= single[bs] and payload < single[bs]:
            sentence += f", though their payloads alone ({payload:.3f}) would beat it"
        text.append(sentence + ".")
        if r.get("model") == "pixelcnn++":
            text.append(
                f"For contrast, PixelCNN++'s published {PUBLISHED_PIXELCNNPP_CIFAR10_BPD} bits/dim on CIFAR-10 "
                "(Salimans et al. 2017) took days of GPU training."
            )
    return " ".join(text)


def block_claims(res: Results) -> list[str]:
    claims = [c(res) for c in (claim_training, claim_quality, claim_sampling, claim_conditional, claim_codec)]
    out = ["What these show (computed from the tables above by `benchmarks/report.py`):", ""]
    return out + [f"* {c}" for c in claims if c]


BLOCKS: dict[str, Callable[[Results], list[str]]] = {
    "demo": block_demo,
    "models": block_models,
    "drift": block_drift,
    "sampling": block_sampling,
    "sampling-paper": block_sampling_paper,
    "quality": block_quality,
    "conditional": block_conditional,
    "codec": block_codec,
    "claims": block_claims,
}


def render(res: Results) -> dict[str, str]:
    """Every block's Markdown (ending in one newline); raises ReportError."""
    out = {}
    for name, fn in BLOCKS.items():
        lines = fn(res)
        while lines and not lines[-1]:
            lines.pop()
        out[name] = "\n".join(lines) + "\n"
    return out


def render_one(benchmark: str, path: Path) -> str:
    """The table of one results file, wherever it lies (what a benchmark prints when it ends)."""
    docs: dict[str, Doc | None] = {n: None for n in COMMANDS}
    docs[benchmark] = normalise(benchmark, json.loads(Path(path).read_text()))
    block = {"demo": block_demo, "models": block_models, "sampling": block_sampling, "quality": block_quality}
    block |= {"conditional": block_conditional, "codec": block_codec}
    return "\n".join(block[benchmark](Results(docs, allow_mixed=True)))


# -- README -------------------------------------------------------------------------------------
MARKER = re.compile(r"<!-- results:(?P<name>[a-z0-9-]+):begin -->\n(?P<body>.*?)<!-- results:(?P=name):end -->", re.S)


def results_section(text: str) -> tuple[int, int]:
    """Start and end offsets of the "## Results" section (to the next "## " heading)."""
    start = text.find("\n## Results\n")
    if start < 0:
        raise ReportError("README.md has no '## Results' section")
    nxt = re.search(r"^## ", text[start + 12 :], re.M)
    return start, start + 12 + nxt.start() if nxt else len(text)


def splice(text: str, blocks: dict[str, str]) -> str:
    """README text with every block's body replaced by its generated text."""
    lo, hi = results_section(text)
    found = [(m.group("name"), m.start(), m.end()) for m in MARKER.finditer(text)]
    names = [n for n, _, _ in found]
    for name, s, e in found:
        if name not in blocks:
            raise ReportError(f"README.md has a marker for an unknown results block {name!r}")
        if not lo <= s < e <= hi:
            raise ReportError(f"README.md's results block {name!r} lies outside the '## Results' section")
    absent = [n for n in blocks if n not in names]
    dup = {n for n in names if names.count(n) > 1}
    if absent or dup:
        raise ReportError(f"README.md's Results section lacks (or repeats) the markers of: {', '.join(absent or dup)}")
    return MARKER.sub(
        lambda m: f"<!-- results:{m['name']}:begin -->\n{blocks[m['name']]}<!-- results:{m['name']}:end -->", text
    )


def outside_blocks(text: str) -> str:
    """The hand-written part of the Results section (everything but the generated blocks)."""
    lo, hi = results_section(text)
    return MARKER.sub("", text[lo:hi])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write the blocks into README.md")
    mode.add_argument("--check", action="store_true", help="exit 1 if README.md is not what --write would make it")
    p.add_argument("--allow-mixed", action="store_true", help="mark rows of other commits instead of refusing them")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--readme", type=Path, default=README)
    a = p.parse_args(argv)
    try:
        blocks = render(Results.read(a.results, a.allow_mixed))
        if not (a.write or a.check):
            for name, body in blocks.items():
                print(f"<!-- results:{name}:begin -->\n{body}<!-- results:{name}:end -->\n")
            return 0
        text = a.readme.read_text()
        new = splice(text, blocks)
    except ReportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.check:
        if new == text:
            return 0
        diff = difflib.unified_diff(text.splitlines(), new.splitlines(), "README.md", "generated", lineterm="", n=0)
        print("\n".join(list(diff)[:40]), file=sys.stderr)
        print(f"error: {a.readme} is out of date; run python benchmarks/report.py --write", file=sys.stderr)
        return 1
    if new != text:
        a.readme.write_text(new)
        print(f"updated {a.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
