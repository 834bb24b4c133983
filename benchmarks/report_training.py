"""The training benchmarks' results tables (bench_training: throughput and compiled sampling;
bench_learning, bench_distributed, bench_imagenet_memory), one function per block."""

from __future__ import annotations

from report_base import (
    Results,
    captioned,
    marked,
    missing,
    setting,
    short,
    sig,
    table,
)

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
