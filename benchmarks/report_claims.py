"""The README's claims: one sentence per benchmark, each saying no more than its table."""

from __future__ import annotations

from report_base import (
    CODECS,
    PUBLISHED_PIXELCNNPP_CIFAR10_BPD,
    RECURRENT,
    SIZES,
    TARGET_FORWARD,
    TARGET_SPEEDUP,
    WHY_SLOW,
    Doc,
    Results,
    dims,
    setting,
    sig,
    span,
    times,
)
from report_codec import codec_rows, model_label
from report_orders import claim_orders
from report_training import SAMPLED_MODELS, TRAINING_MODELS, TRAINING_TARGETS

GATED_TARGET_NATS = 70.0  # issue 17: Gated PixelCNN 10 × 32 after 5 epochs of the peers' loop


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


def claim_throughput(res: Results) -> str | None:
    d = res.docs["training"]
    if not d or not all("vs_eager_baseline" in r for r in d.rows):
        return None
    parts = []
    for model, label in TRAINING_MODELS.items():
        rows = {r["mode"]: r for r in d.rows if r["model"] == model}
        if not rows:
            continue
        best = max(rows.values(), key=lambda r: r["vs_eager_baseline"])
        target = TRAINING_TARGETS[model]
        met = "meets" if best["vs_eager_baseline"] >= target else "misses"
        parts.append(f"{label} {best['vs_eager_baseline']:.2f}× ({best['mode']}; {met} the {target:.1f}× target)")
    if not parts:
        return None
    return f"**Training throughput** against commit `{setting(d, 'baseline')[:7]}`, best mode per model: " + (
        "; ".join(parts) + "."
    )


def claim_compiled_sampling(res: Results) -> str | None:
    d = res.docs["compiled_sampling"]
    if not d or not d.rows:
        return None
    parts = []
    for model, label in SAMPLED_MODELS.items():
        rows = sorted((r for r in d.rows if r["model"] == model), key=lambda r: r["batch"])
        speeds = []
        for r in rows:
            text = f"batch {r['batch']}: {r['compiled_over_forward']:.1f}× one forward pass"
            if model == "pixelcnn" and r["batch"] == 1:
                met = "meets" if r["compiled_over_forward"] <= TARGET_FORWARD else "misses"
                text += f" ({met} the {TARGET_FORWARD}× target)"
            speeds.append(text + f", {r['compiled_speedup']:.2f}× the fast sampler's speed")
        if speeds:
            parts.append(f"{label}: {'; '.join(speeds)}")
    return f"**Compiled sampling** (32×32×3): {'. '.join(parts)}." if parts else None


def claim_learning(res: Results) -> str | None:
    d = res.docs["learning"]
    if not d or not d.rows:
        return None
    by = {r["variant"]: r for r in d.rows}
    best = min(d.rows, key=lambda r: r["test_nll"])
    text = f"**Gated PixelCNN learning speed**: after {len(best['test_nll_per_epoch'])} epochs the best variant is "
    text += f"{best['label']} ({best['test_nll']:.2f} nats, {best['parameters']:,} parameters)"
    if "paper" in by and best["variant"] != "paper":
        paper = by["paper"]
        text += (
            f", {paper['test_nll'] - best['test_nll']:.2f} nats below the paper's ({paper['test_nll']:.2f}, "
            f"{paper['parameters']:,} parameters)"
        )
    met = "meets" if best["test_nll"] <= GATED_TARGET_NATS else "misses"
    return text + f"; it {met} the target of {GATED_TARGET_NATS:.1f} nats."


def block_claims(res: Results) -> list[str]:
    claims = [
        c(res)
        for c in (
            claim_training,
            claim_quality,
            claim_sampling,
            claim_conditional,
            claim_codec,
            claim_throughput,
            claim_compiled_sampling,
            claim_learning,
            claim_orders,
        )
    ]
    out = ["What these show (computed from the results tables by `benchmarks/report.py`):", ""]
    return out + [f"* {c}" for c in claims if c]
