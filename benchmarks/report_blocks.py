"""The README's results tables, one function per block (a list of Markdown lines each)."""

from __future__ import annotations

import statistics

from report_base import (
    CODECS,
    COMMANDS,
    SIZES,
    TIMING_COLUMNS,
    TIMING_CONFIG,
    Doc,
    Provenance,
    ReportError,
    Results,
    dims,
    marked,
    missing,
    setting,
    short,
    sig,
    table,
    times,
)


def captioned(caption: str, header: list[str], cells: list[list[str]], prov: Provenance) -> list[str]:
    """A block: its caption, its table, and where the rows were measured."""
    return [caption, "", *table(header, cells), "", *prov.lines]


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
    lines = [
        ("model NLL", "model_nll_bpd"),
        ("**model codec, whole set (real file)**", "model_codec_whole_set_bpd"),
        ("**model codec, one file per image**", "model_codec_per_image_file_bpd"),
    ]
    for name in CODECS:
        lines += [(f"{name}, per image", f"{name} per image"), (f"{name}, whole set tiled", f"{name} whole set")]
    cells = [["model trained", *(model_label(r) for r in rows)], ["test images", *(str(r["images"]) for r in rows)]]
    cells += [[title, *(f"{r[key]:.3f}" if r.get(key) is not None else "n/a" for r in rows)] for title, key in lines]
    cells.append(["encode / decode, images/s", *(f"{sig(r['encode_img_s'])} / {sig(r['decode_img_s'])}" for r in rows)])
    per_file = [
        [
            marked(r["data"], prov, r),
            f"{r['model_nll_bytes_per_image']:.1f}",
            f"{r['model_codec_per_image_payload_bytes']:.1f}",
            f"{r['model_codec_framing_bytes']:.1f}",
            f"{r['model_codec_per_image_file_bpd']:.3f}",
            f"{r['JPEG-XL lossless per image']:.3f}" if r.get("JPEG-XL lossless per image") else "n/a",
        ]
        for r in rows
        if "model_codec_per_image_payload_bytes" in r
    ]
    extra: list[str] = []
    if per_file:
        extra += [
            "One file per image: bytes per image (the model's NLL, the payload, the header) and bits per sub-pixel:",
            "",
            *table(
                ["", "NLL, bytes", "payload, bytes", "header, bytes", "file, bits/dim", "JPEG XL, bits/dim"], per_file
            ),
            "",
        ]
    speed = [
        [
            marked(r["data"], prov, r),
            f"{sig(r['per_image_speed']['encode_img_s'])} / {sig(r['per_image_speed']['decode_img_s'])}",
            f"{sig(r['per_image_speed']['encode_mp_s'])} / {sig(r['per_image_speed']['decode_mp_s'])}",
            f"{sig(r['jxl_per_image_speed']['encode_img_s'])} / {sig(r['jxl_per_image_speed']['decode_img_s'])}",
            f"{sig(r['image_256']['model_encode_s'])} / {sig(r['image_256']['model_decode_s'])}",
            f"{r['image_256']['model_bpd']:.3f}",
            f"{sig(r['image_256']['jxl_encode_s'])} / {sig(r['image_256']['jxl_decode_s'])}",
            f"{r['image_256']['jxl_bpd']:.3f}",
        ]
        for r in rows
        if "per_image_speed" in r
    ]
    if speed:
        extra += [
            "Speed, one image per file, in one run (encode / decode): the model codec and JPEG XL (effort 10) on "
            "the same images, and one 256×256 image made of test images tiled (seconds, bits/dim):",
            "",
            *table(
                [
                    "",
                    "model, images/s",
                    "model, MP/s",
                    "JPEG XL, images/s",
                    "256×256: model, s",
                    "model, bits/dim",
                    "JPEG XL, s",
                    "JPEG XL, bits/dim",
                ],
                speed,
            ),
            "",
        ]
    port = [r for r in rows if "portable" in r]
    if port:
        cells_p = []
        for r in port:
            p, f = r["portable"]["portable"], r["portable"]["float"]
            cells_p.append(
                [
                    marked(r["data"], prov, r),
                    str(r["portable"]["images"]),
                    f"{r['portable']['model_nll_bpd']:.3f}",
                    f"{f['file_bpd']:.3f}",
                    f"{p['file_bpd']:.3f}",
                    f"{sig(f['encode_img_s'])} / {sig(f['decode_img_s'])}",
                    f"{sig(p['encode_img_s'])} / {sig(p['decode_img_s'])}",
                ]
            )
        extra += [
            "Portable mode (the integer network of `pixelar.portable`; files decode on any set-up) against the "
            "float model, one file per image:",
            "",
            *table(
                [
                    "",
                    "images",
                    "float NLL, bits/dim",
                    "float file, bits/dim",
                    "portable file, bits/dim",
                    "float, images/s (enc / dec)",
                    "portable, images/s",
                ],
                cells_p,
            ),
            "",
        ]
    caption = (
        f"Bits per sub-pixel on the same test images in every row, each model trained for {setting(d, 'minutes')} "
        "min on its training split:"
    )
    out = [caption, "", *table(["", *(marked(r["data"], prov, r) for r in rows)], cells), "", *extra]
    if any("model_nll_bpd_per_image_subset" in r for r in rows):
        out += ["In this file the per-image model rows covered only the first test images, the others all of them.", ""]
    return out + prov.lines


REAL_CODECS = {"pixelar": "pixelar file", "PNG": "PNG", "WebP": "WebP lossless", "JPEG XL": "JPEG XL (effort 10)"}


def block_codec_real(res: Results) -> list[str]:
    d = res.docs["codec_real"]
    if not d:
        return missing("codec_real")
    rows = d.rows
    prov = res.prov("codec_real", [(d, r) for r in rows])
    cells = []
    for r in rows:
        best = min(r[f"{key}_bytes"] for key in REAL_CODECS)
        row = [marked(f"{r['image']} ({r['kind']})", prov, r), f"{r['width']}×{r['height']}"]
        row.append(f"{r['model_nll_bytes']:,.0f} ({r['model_nll_bpp']:.4f})")
        for key in REAL_CODECS:
            text = f"{r[f'{key}_bytes']:,.0f} ({r[f'{key}_bpp']:.4f})"
            row.append(f"**{text}**" if r[f"{key}_bytes"] == best else text)
        row.append(f"{r['train_s']:.0f} / {r['compress_s']:.1f} / {r['decompress_s']:.1f}")
        cells.append(row)
    first = rows[0] if rows else {}
    caption = (
        "Whole images (bytes, and bits per pixel), each compressed by a 2-level PixelCNN "
        f"({first.get('parameters', 0):,} parameters, {first.get('steps', '?')} steps) trained through the CLI on "
        "the 32×32 tiles of the other images (leave-one-out), against the classical lossless codecs; seconds of "
        "`pixelar train` / `compress` / `decompress`, each a fresh process:"
    )
    head = ["image", "size", "model NLL", *REAL_CODECS.values(), "train / compress / decompress, s"]
    return [caption, "", *table(head, cells), "", *prov.lines]


TRAINING_MODELS = {
    "gated-pixelcnn": "Gated PixelCNN 10 × 32",
    "pixelcnn": "PixelCNN 15 × 32",
    "pixelcnn++": "PixelCNN++ 1 × 20, 8-bit",
}
TRAINING_TARGETS = {"gated-pixelcnn": 1.3, "pixelcnn": 1.6, "pixelcnn++": 1.8}  # issue 17


def block_training(res: Results) -> list[str]:
    d = res.docs["training"]
    if not d:
        return missing("training")
    rows = sorted(d.rows, key=lambda r: (list(TRAINING_MODELS).index(r["model"]), r["mode"] != "eager"))
    prov = res.prov("training", [(d, r) for r in rows])
    cells = []
    for r in rows:
        compile_s = ""
        if r["mode"] != "eager":
            cached = r.get("current_compile_cached_s")
            compile_s = f"{r['current_compile_s']:.0f}" + ("" if cached is None else f" / {cached:.0f}")
        cells.append(
            [
                marked(TRAINING_MODELS.get(r["model"], r["model"]), prov, r),
                r["mode"],
                f"{r['parameters']:,}",
                sig(r.get("baseline_img_s")),
                f"{r['current_img_s']:.1f}",
                f"**{r['vs_eager_baseline']:.2f}×**" if "vs_eager_baseline" in r else "n/a",
                f"{TRAINING_TARGETS.get(r['model'], float('nan')):.1f}×",
                compile_s,
                f"{r['loss_diff']:.1e}",
            ]
        )
    caption = (
        f"Training throughput in the peers' loop (bundled digits, batch 32, Adam 1e-3, "
        f"{setting(d, 'torch_threads')} threads), this commit against commit `{short(setting(d, 'baseline'))}` "
        f"(before issue 17) side by side, each version and mode in its own processes (best of "
        f'{setting(d, "repeat")}, {setting(d, "steps")} timed steps each). "before" is the earlier commit in the '
        "same mode; the ratio is this row's images/s over the earlier commit's *eager* ones. Loss diff: the largest "
        "relative difference of the first steps' losses from the earlier commit's eager ones (PixelCNN++'s dropout "
        "draws its masks differently now, so its losses match only as closely as other masks allow):"
    )
    head = [
        "model",
        "mode",
        "params",
        "before img/s",
        "now img/s",
        "now ÷ before eager",
        "target",
        "compile s (cold / cached)",
    ]
    out = [caption, "", *table([*head, "loss diff"], cells), ""]
    shares = []
    for r in rows:
        if r.get("baseline_time_shares"):
            shares.append((r, f"{r['mode']}, before", r["baseline_time_shares"]))
        if r.get("current_time_shares"):
            shares.append((r, f"{r['mode']}, now", r["current_time_shares"]))
    if shares:
        kinds = [k for k in shares[0][2] if any(s.get(k, 0) > 0.005 for _, _, s in shares)]
        share_cells = [
            [TRAINING_MODELS.get(r["model"], r["model"]), mode, *(f"{s.get(k, 0):.0%}" for k in kinds)]
            for r, mode, s in shares
        ]
        out += [
            f"Where a step's time goes, before and now (`torch.profiler`, self time of the ops, {setting(d, 'profile')} steps after the timed ones):",
            "",
            *table(["model", "mode", *kinds], share_cells),
            "",
        ]
    return out + prov.lines


SAMPLED_MODELS = {"pixelcnn": "PixelCNN", "gated-pixelcnn": "Gated PixelCNN"}


def block_compiled_sampling(res: Results) -> list[str]:
    d = res.docs["compiled_sampling"]
    if not d:
        return missing("compiled_sampling")
    order = list(SAMPLED_MODELS)
    rows = sorted(d.rows, key=lambda r: (order.index(r["model"]) if r["model"] in order else len(order), r["batch"]))
    prov = res.prov("compiled_sampling", [(d, r) for r in rows])
    cells = [
        [
            marked(SAMPLED_MODELS.get(r["model"], r["model"]), prov, r),
            str(r["batch"]),
            f"{r['forward_s'] * 1e3:.1f}",
            sig(r["fast_s"]),
            sig(r["compiled_s"]),
            f"{r['fast_over_forward']:.1f}×",
            f"**{r['compiled_over_forward']:.1f}×**",
            f"{r['compiled_speedup']:.2f}×",
            "" if r["build_s"] is None else f"{r['build_s']:.1f}",
            f"{r['identical']:.1%}",
        ]
        for r in rows
    ]
    caption = (
        f"Sampling 32×32×3 images (K = 256) from random-weight models (num_layers={setting(d, 'sample_layers')}, "
        f"hidden_channels={setting(d, 'sample_channels')}), {setting(d, 'torch_threads')} threads: one teacher-forced "
        'forward pass over the batch, the fast sampler, and the compiled one (`method="compiled"`: each step\'s network '
        f"one call of a C kernel), in {setting(d, 'times')} interleaved rounds: medians of the times and of each "
        "round's ratios (the three timings of a round side by side). Build: the first compiled "
        "sampling's extra time, with an empty kernel cache. Same images: the sub-pixels both samplers drew alike "
        "from the same uniforms (float32). Issue 17's target: PixelCNN compiled ≤ 10× one forward pass at batch 1:"
    )
    head = ["model", "batch", "forward (ms)", "fast (s)", "compiled (s)", "fast ÷ forward", "compiled ÷ forward"]
    head += ["fast ÷ compiled", "build (s)", "same images"]
    return captioned(caption, head, cells, prov)


def block_learning(res: Results) -> list[str]:
    d = res.docs["learning"]
    if not d:
        return missing("learning")
    rows = d.rows
    prov = res.prov("learning", [(d, r) for r in rows])
    epochs = max(len(r["test_nll_per_epoch"]) for r in rows)
    best = min(r["test_nll"] for r in rows)
    cells = []
    for r in rows:
        nll = [f"{v:.2f}" for v in r["test_nll_per_epoch"]]
        nll[-1] = f"**{nll[-1]}**" if r["test_nll"] == best else nll[-1]
        cells.append([marked(r["label"], prov, r), f"{r['parameters']:,}", *nll, f"{r['train_img_s']:.1f}"])
    caption = (
        "Gated PixelCNN (10 layers × 32) in the peers' loop (4,500 / 500 bundled binarized digits, batch 32, Adam "
        f"1e-3, reshuffled each epoch, {setting(d, 'torch_threads')} thread(s)): test NLL in nats per image after "
        "each epoch, one variant changed at a time (train img/s: runs shared the cores, so it says little about "
        "speed — the throughput table does). The public implementation reached 77.81 after 2 epochs and 70.83 "
        "after 5 in this loop (REFERENCE.md):"
    )
    head = ["variant", "params", *(f"epoch {e + 1}" for e in range(epochs)), "train img/s"]
    return [caption, "", *table(head, cells), "", *prov.lines]


SETTING_LABELS = {"1x2": "1 process × 2 threads", "2x1": "2 processes × 1 thread", "1x1": "1 process × 1 thread"}


def block_distributed(res: Results) -> list[str]:
    d = res.docs["distributed"]
    if not d:
        return missing("distributed")
    rows = d.rows
    prov = res.prov("distributed", [(d, r) for r in rows])
    first: dict[str, float] = {}
    cells = []
    for r in rows:
        first.setdefault(r["model"], r["img_s"])
        setting_label = SETTING_LABELS.get(r["setting"].removesuffix("-bf16"), r["setting"])
        cells.append(
            [
                marked(r["model"], prov, r),
                f"{setting_label}, {r['precision']}",
                f"{r['img_s']:.1f}",
                f"{r['img_s'] / first[r['model']]:.2f}×",
                f"{r['loss_5']:.4f}",
            ]
        )
    caption = (
        f"`pixelar train` on the CPU, one process against two (`torchrun`, DDP over gloo), global batch "
        f"{setting(d, 'batch_size')} of the bundled digits, images/s over steps {setting(d, 'warmup')}–"
        f"{setting(d, 'steps')} from the runs' own logs; ratio to each model's first row; the mean train loss of "
        "steps 1–5 shows one and two processes train the same model:"
    )
    head = ["model", "processes, precision", "images/s", "ratio", "loss, steps 1–5"]
    return captioned(caption, head, cells, prov)


def block_imagenet_memory(res: Results) -> list[str]:
    d = res.docs["imagenet_memory"]
    if not d:
        return missing("imagenet_memory")
    rows = d.rows
    prov = res.prov("imagenet_memory", [(d, r) for r in rows])
    cells = []
    for r in rows:
        per_batch = "" if r.get("index_ms") is None else f"{r['index_ms']:.2f} + {r['gather_ms']:.2f}"
        cells.append(
            [
                marked(r["phase"], prov, r),
                f"{r['load_s']:.2f}",
                per_batch,
                f"{r['vmhwm_mb']:,.0f}",
                f"{r['peak_anon_mb']:,.0f}",
                f"{r['peak_file_mb']:,.0f}",
                f"{r['anon_above_imports_mb']:,.0f}",
            ]
        )
    first, size = rows[0], setting(d, "size")
    caption = (
        f"Downsampled ImageNet loader, {first['images']:,} synthetic {size}×{size} images in the official npz format "
        f"({first['dataset_mb']:,.0f} MB in memory), each phase in a fresh process, batches of "
        f"{setting(d, 'batch_size')} read as the trainer reads them; memory in MB (RssFile: pages of the mapped "
        "cache, page cache the kernel can drop; RssAnon: memory only the process can give back):"
    )
    head = [
        "phase",
        "load s",
        "ms a batch (index + gather)",
        "VmHWM",
        "peak RssAnon",
        "peak RssFile",
        "RssAnon above imports",
    ]
    return captioned(caption, head, cells, prov)


# -- claims: every sentence with a number is computed here --------------------------------------


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
