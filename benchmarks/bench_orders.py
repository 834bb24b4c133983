"""Orders: one locally masked PixelCNN trained over 8 orders against a raster PixelCNN.

    python benchmarks/bench_orders.py [--steps 6000] [--num-layers 4] [--hidden-channels 16] [--threads 1]

Trains, for the same number of optimisation steps (batch 32, Adam 1e-3, seed 0) on the bundled
binarized digits, a raster PixelCNN (`pixelcnn`) and the same network with locally masked
convolutions (`lmconv`) trained over the paper's 8 S-curve orders (one drawn per batch). On the
whole test split it measures:

* the NLL of the order-agnostic model in each of its 8 orders, in raster order (not one it was
  trained in) and of the 8-order ensemble (log-mean-exp over the orders: the exact likelihood of
  their mixture), with the same weights; and the raster model's NLL;
* completion: for each mask, the NLL of the hidden region of every test image (its pixels as
  they are). The order-agnostic model completes in an order with the known pixels first
  (pixelar.completion.completion_order: one of its training orders where one visits them first,
  else its own with them moved to the front), so its number is the exact -log p(hidden | known).
  The raster model can only sample each hidden sub-pixel given the sub-pixels before it in
  raster order (known or hidden); its number is the sum of those raster conditionals over the
  hidden sub-pixels, the NLL of the distribution its completions are drawn from (normalised over
  the hidden region, so comparable). With the top rows known it is exact too; with the bottom
  half known it is -log p(top): the known bottom never enters. The same lmconv weights are
  measured beside them in their own order (known pixels not moved first) and in their own order
  with the known pixels moved to the front.

Draws completions of a few test digits by both models (bottom half and left half known) into
benchmarks/results/orders_completions.png. Trained models are cached in runs/ by configuration
(see benchmarks/harness.py). --quick: a smoke test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import harness
from pixelar.completion import complete, completion_order, hidden_log_prob, known_after_unknown
from pixelar.evaluation import S_CURVES, evaluate_orders
from pixelar.figures import figure_image, new_figure
from pixelar.orders import known_first
from pixelar.plotting import save_image, tile, to_uint8

PICTURED = ("bottom-half-known", "left-half-known")


def masks(height: int, width: int) -> dict[str, torch.Tensor]:
    """The known pixels [H, W] of each completion task (True: known)."""
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    hole = (rows >= height // 4) & (rows < height - height // 4) & (cols >= width // 4) & (cols < width - width // 4)
    scattered = torch.rand(height, width, generator=torch.Generator().manual_seed(0)) < 0.5
    return {
        "top-half-known": rows < height // 2,
        "bottom-half-known": rows >= height // 2,
        "left-half-known": cols < width // 2,
        "centre-hole": ~hole,
        "random-half-known": scattered,
    }


def nll_rows(raster, agnostic, test) -> list[dict]:
    """The whole-image NLLs: the raster model in raster order; the agnostic one in each of its
    orders, their ensemble, and raster order."""
    rows = []
    for model, trained in ((raster.model, raster), (agnostic.model, agnostic)):
        own = list(getattr(model.config, "orders", ["raster"]))
        result = evaluate_orders(model, test, own, batch_size=100)
        extra = [] if own == ["raster"] else [("raster", evaluate_orders(model, test, ["raster"], 100).per_order[0])]
        kinds = [("order", name, nll) for name, nll in zip(own, result.per_order)]
        kinds += [("order", name, nll) for name, nll in extra]
        kinds += [("ensemble", f"ensemble of {len(own)}", result.ensemble)] if len(own) > 1 else []
        for kind, order, nll in kinds:
            rows.append(
                {
                    "kind": kind,
                    "model": model.model_name,
                    "training_orders": own,
                    "order": order,
                    "trained_in_order": kind == "order" and order in own,
                    "nats": nll.nats_per_image,
                    "bits_per_dim": nll.bits_per_dim,
                    "images": nll.count,
                    **trained.row_fields(),
                }
            )
            harness.emit(rows[-1])
    return rows


def completion_rows(raster, agnostic, test, tasks: dict[str, torch.Tensor]) -> list[dict]:
    """The NLL of the hidden region of every test image, per mask and model (see the docstring)."""
    C = raster.model.image_shape[0]
    rows = []
    runs = [(raster, "raster only"), (agnostic, "own order"), (agnostic, "moved first"), (agnostic, "known first")]
    for mask_name, known_pixels in tasks.items():
        known = known_pixels[None].expand(C, *known_pixels.shape)
        for trained, how in runs:
            model = trained.model
            order = {"own order": model.pixel_order(), "moved first": known_first(model.pixel_order(), known_pixels)}
            order = order.get(how)
            used = model.pixel_order(completion_order(model, known, order))
            logp = hidden_log_prob(model, test.images, known, order=order)
            rows.append(
                {
                    "kind": "completion",
                    "mask": mask_name,
                    "model": model.model_name,
                    "how": how,
                    "order": used.name,
                    "exact": not known_after_unknown(known, used.generation_index(C)),
                    "hidden_subpixels": int((~known).sum()),
                    "nats": float(-logp.mean()),
                    "images": len(logp),
                    **trained.row_fields(),
                }
            )
            harness.emit(rows[-1])
    return rows


def pictured_digits(test, count: int) -> torch.Tensor:
    """Indices of the first test digits of ``count`` different classes."""
    chosen: list[int] = []
    seen: set[int] = set()
    for i, label in enumerate(test.labels.tolist()):
        if label not in seen:
            chosen.append(i)
            seen.add(label)
        if len(chosen) == count:
            break
    return torch.tensor(chosen)


def completion_picture(raster, agnostic, test, tasks, digits: int, draws: int, path: Path) -> Path:
    """For each pictured mask, a row per digit: the input (hidden part grey), the raster model's
    completions, the known-first completions, the original."""
    images = test.images[pictured_digits(test, digits)]
    figure = new_figure(2.2 + 0.75 * (2 * draws + 2), 0.8 + 0.75 * digits * len(PICTURED))
    axes = figure.subplots(len(PICTURED), 1, squeeze=False)[:, 0]
    for ax, mask_name in zip(axes, PICTURED):
        known = tasks[mask_name][None].expand(images.shape[1:])
        panels = [to_uint8(images, 2).copy()]
        panels[0][~known[None].expand(images.shape).permute(0, 2, 3, 1).numpy()] = 128
        for trained in (raster, agnostic):
            done = complete(trained.model, images, known, n=draws, generator=0)
            panels += [to_uint8(done[:, k], 2) for k in range(draws)]
        panels.append(to_uint8(images, 2))
        grid = np.stack(panels, 1).reshape(-1, *panels[0].shape[1:])
        picture = np.asarray(tile(grid, nrow=len(panels), scale=1, pad=2))
        ax.imshow(picture, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        step = picture.shape[1] / len(panels)
        labels = ["input", *[f"raster {k + 1}" for k in range(draws)], *[f"known-first {k + 1}" for k in range(draws)]]
        ax.set_xticks([step * (k + 0.5) for k in range(len(panels))], [*labels, "original"], fontsize=7, rotation=30)
        ax.set_yticks([])
        ax.set_title(f"{mask_name.replace('-', ' ')}: raster pixelcnn | lmconv, known pixels first", fontsize=9)
    return save_image(figure_image(figure), path)


def main(argv: list[str] | None = None) -> None:
    p = harness.parser(__doc__, "orders")
    p.add_argument("--steps", type=int, default=6000, help="optimisation steps, the same for both models")
    p.add_argument("--num-layers", type=int, default=4)
    p.add_argument("--hidden-channels", type=int, default=16)
    p.add_argument("--test-images", type=int, default=0, help="test images measured (0: the whole split)")
    p.add_argument("--digits", type=int, default=4, help="test digits in the picture")
    p.add_argument("--draws", type=int, default=3, help="completions per digit and model in the picture")
    quick = {"steps": 20, "num_layers": 1, "hidden_channels": 8, "test_images": 40, "digits": 2, "draws": 2}
    a = harness.parse(p, "orders", quick, argv)
    test = harness.dataset("digits-binary", "test", a.test_images or None)
    args = {"num_layers": a.num_layers, "hidden_channels": a.hidden_channels}
    trained = []
    for name, extra in (("pixelcnn", {}), ("lmconv", {"orders": list(S_CURVES)})):
        cfg = harness.steps_config(name, args | extra, "digits-binary", a.steps, batch_size=32, lr=1e-3)
        trained.append(harness.train_for_budget(cfg, a, "orders"))
    raster, agnostic = trained
    tasks = masks(*test.images.shape[-2:])
    rows = nll_rows(raster, agnostic, test) + completion_rows(raster, agnostic, test, tasks)
    picture = completion_picture(
        raster, agnostic, test, tasks, a.digits, a.draws, Path(a.out).with_name("orders_completions.png")
    )
    for row in rows:
        row["picture"] = harness.relative(picture)
    out = harness.write_results(a.out, "orders", rows, ("kind", "model", "order", "mask", "how"), a)
    harness.show(out, "orders")


if __name__ == "__main__":
    main()
