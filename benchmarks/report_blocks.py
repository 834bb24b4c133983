"""The results tables of the model benchmarks (demo, models, sampling, quality, conditional,
versions), one function per block (a list of Markdown lines each)."""

from __future__ import annotations

import statistics

from report_base import (
    COMMANDS,
    SIZES,
    TIMING_COLUMNS,
    TIMING_CONFIG,
    Provenance,
    ReportError,
    Results,
    captioned,
    dims,
    marked,
    missing,
    setting,
    short,
    sig,
    table,
    times,
)


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
    return captioned(caption, header, cells, prov)


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
    return captioned(caption, header, cells, prov)


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
    return captioned(caption, header, cells, prov)


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


def block_versions(res: Results) -> list[str]:
    d = res.docs["versions"]
    if not d:
        return missing("versions")
    rows = sorted(d.rows, key=lambda r: (r["model"], r["size"], r["batch"]))
    prov = res.prov("versions", [(d, r) for r in rows])
    cells = [
        [
            marked(r["model"], prov, r),
            dims(r["size"]),
            str(r["batch"]),
            sig(r["baseline_s"]),
            sig(r["current_s"]),
            f"{r['ratio']:.2f}",
            spread(r),
            "yes" if r["identical"] else "no",
        ]
        for r in rows
    ]
    ratios = [r["ratio"] for r in rows]
    mean = statistics.geometric_mean(ratios)
    caption = (
        f"Fast sampling at this commit against commit `{short(setting(d, 'baseline'))}` (before the sampler "
        f"code moved to `pixelar.incremental`), side by side in one run: same weights and seed "
        f"(num_layers={setting(d, 'num_layers')}, hidden_channels={setting(d, 'hidden_channels')}), each "
        f"version in its own processes (order B C C B …), best of {setting(d, 'repeat')} processes × {setting(d, 'times')} "
        "samplings each:"
    )
    header = ["model", "size", "batch", "before (s)", "after (s)", "after ÷ before", "process spread"]
    summary = (
        f"Geometric mean of after ÷ before over the {len(rows)} rows: {mean:.2f} (range {min(ratios):.2f}–"
        f"{max(ratios):.2f}); process spread: the slowest process's best ÷ the fastest's, before / after — "
        "how much one process's time drifts on this machine. Same images in every row: "
        f"{'yes' if all(r['identical'] for r in rows) else 'no'}."
    )
    return [caption, "", *table([*header, "same images"], cells), "", summary, "", *prov.lines]


def spread(row: dict) -> str:
    """The version's process spreads, before / after (older files did not record them)."""
    if "baseline_spread" not in row:
        return "not recorded"
    return f"{row['baseline_spread']:.2f} / {row['current_spread']:.2f}"
