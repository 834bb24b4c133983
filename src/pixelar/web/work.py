"""The work the web app's endpoints ask of the models it serves: sampling (as frame events, in
any order the model generates in), completing an uploaded image (its bottom rows, or a hole
marked anywhere: with the known pixels first for a model that generates in any order), the bits
each of its pixels costs, compressing and restoring files, and test images of a run's dataset,
each answered as JSON-ready data.

Every call blocks (the endpoints run it in a worker thread) and holds its model while it works
(:meth:`pixelar.web.catalog.Catalog.use`; sampling is handed the model already held, so a busy
model is refused before its stream starts): an order set on the model
(:meth:`~pixelar.models.base.AutoregressiveModel.in_order`, which sampling and completion use)
is the model object's, so no other request may use the model meanwhile. Input errors are
:class:`PixelarError` messages.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from pixelar.errors import PixelarError
from pixelar.models.base import AutoregressiveModel
from pixelar.orders import known_first, make_order
from pixelar.web.catalog import Catalog, Claim
from pixelar.web.limits import Limits
from pixelar.web.pictures import frame_picture, picture, png_url
from pixelar.web.uploads import display_name, hidden_mask, read_upload
from pixelar.web.watch import Frame, SamplingStoppedError, watch_sample

log = logging.getLogger("pixelar.web")

BUNDLED_DATASETS = ("digits", "digits-binary", "photos32")  # test images the app can show without writing

Event = tuple[str, str]  # a Server-Sent Event: its kind (frame, done, error) and its data (JSON)


class Work:
    """The work on ``catalog``'s models within ``limits``; uploads are decoded in ``workdir``
    (the app's temporary directory); ``frame_interval``: the seconds between two frames of a
    sampling stream (0: a frame after every step)."""

    def __init__(self, catalog: Catalog, limits: Limits, workdir: Path, frame_interval: float = 0.1) -> None:
        self.catalog = catalog
        self.limits = limits
        self.workdir = workdir
        self.frame_interval = frame_interval

    def read_for(
        self,
        model: AutoregressiveModel,
        data: bytes,
        filename: str | None,
        max_images: int,
        size: tuple[int, int] | None = None,
    ) -> list[Tensor]:
        """The images of an upload, checked against ``model``'s channels and levels (and ``size``)."""
        return read_upload(
            data,
            self.workdir,
            model.image_shape[0],
            model.num_levels,
            filename=filename,
            size=size,
            max_pixels=self.limits.max_image_pixels,
            max_images=max_images,
        )

    def sample(
        self,
        claim: Claim,
        n: int,
        temperature: float,
        seed: int | None,
        label: int | None,
        put: Callable[[Event | None], None],
        queued: Callable[[], int],
        should_stop: Callable[[], bool],
        order: str | None = None,
    ) -> None:
        """Sample ``n`` images of the model ``claim`` holds (:meth:`Catalog.claim`, given back
        here) in ``order`` (None: its own), handing ``put`` a ``frame`` event now and then (while
        fewer than 4 are ``queued``: a client that stops reading does not pile frames up), then one
        ``done`` or ``error`` event, and at last None; stops quietly once ``should_stop`` says so."""
        try:
            with claim as model:
                cond = _labels(model, label, n)
                levels = model.num_levels
                used = model.pixel_order(order).name

                def on_frame(frame: Frame) -> None:
                    image = png_url(frame_picture(frame, levels))
                    if frame.done:
                        done = {"image": image, "filled": 1.0, "images": frame.images.tolist(), "order": used}
                        put(("done", json.dumps(done)))
                    elif queued() < 4:  # a client that stops reading does not pile frames up
                        put(("frame", json.dumps({"image": image, "filled": round(frame.filled, 4)})))

                watch_sample(
                    model,
                    n,
                    on_frame,
                    cond=cond,
                    generator=seed,
                    temperature=temperature,
                    every=self.frame_interval,
                    should_stop=should_stop,
                    order=order,
                )
        except SamplingStoppedError:
            pass
        except PixelarError as e:
            put(("error", json.dumps({"error": one_line(str(e))})))
        except Exception:
            log.exception("sampling failed")
            put(("error", json.dumps({"error": "sampling failed on the server (its log says why)"})))
        finally:
            put(None)

    def complete(
        self,
        name: str | None,
        data: bytes,
        filename: str | None,
        n: int,
        temperature: float,
        seed: int | None,
        label: int | None,
        keep_rows: int | None,
        order: str | None = None,
        hidden: str | None = None,
    ) -> dict[str, Any]:
        """Completions of the uploaded image: of its bottom rows (all but ``keep_rows``, default
        half), or of the ``hidden`` pixels (a hole anywhere: :func:`~pixelar.web.uploads.hidden_mask`).
        A model that generates in any order draws them with the known pixels first — in ``order``
        with them moved to the front, or (None) in the order
        :func:`~pixelar.completion.completion_order` chooses — so each completion is an exact
        draw from p(hidden | known)."""
        from pixelar.completion import complete, completion_order, known_after_unknown, rows_mask
        from pixelar.plotting import completion_grid

        if hidden is not None and keep_rows is not None:
            raise PixelarError("give keep_rows (the top rows kept) or hidden (a hole), not both")
        with self.catalog.use(name) as model:
            C, H, W = model.image_shape
            images = self.read_for(model, data, filename, 1, size=(H, W))
            x = torch.stack(images).to(model.device)
            rows = H // 2 if keep_rows is None else keep_rows
            if rows > H:
                raise PixelarError(f"keep_rows must be at most the image height {H}, got {rows}")
            known = rows_mask(model.image_shape, rows) if hidden is None else hidden_mask(hidden, model.image_shape)
            if order is not None and model.any_order:  # the order picked, with the known pixels first
                used = known_first(model.pixel_order(order), known.all(0))
            else:  # the model's choice (completion_order); a raster-only model refuses any but raster
                used = model.pixel_order(completion_order(model, known, order))
            cond = _labels(model, label, 1)
            out = complete(model, x, known, n=n, cond=cond, generator=seed, temperature=temperature, order=used)
            grid = completion_grid(x.cpu(), known, out.cpu(), model.num_levels)
            return {
                "image": png_url(grid),
                "keep_rows": rows if hidden is None else None,
                "hidden_pixels": int((~known.all(0)).sum()),
                "order": used.name,
                "exact": not known_after_unknown(known, used.generation_index(C)),
                "completions": out[0].tolist(),
            }

    def bits(self, name: str | None, data: bytes, filename: str | None, label: int | None) -> dict[str, Any]:
        """The bits each pixel of the uploaded image (of any size) costs, and their heat map."""
        from pixelar.bits_map import bits_figure, bits_per_subpixel

        with self.catalog.use(name) as model:
            images = self.read_for(model, data, filename, 1)
            x = images[0][None]
            H, W = int(x.shape[2]), int(x.shape[3])
            with model.at_size(H, W):
                bits = bits_per_subpixel(model, x, _labels(model, label, 1))
            figure = bits_figure(x, bits, model.num_levels, names=[display_name(filename, "the image")])
            if not torch.isfinite(bits).all():
                raise PixelarError("the model gives some pixel of this image probability 0 (infinite bits)")
            per_pixel = bits[0].sum(0)
            total = float(bits.sum())
            return {
                "image": png_url(figure),
                "bits": [[round(float(v), 4) for v in row] for row in per_pixel],
                "total_bits": total,
                "bits_per_dim": total / bits.numel(),
                "max_bits": float(per_pixel.max()),
                "width": W,
                "height": H,
            }

    def compress(
        self, name: str | None, data: bytes, filename: str | None, label: int | None
    ) -> tuple[bytes, dict[str, Any]]:
        """The ``.pxz`` file of the uploaded images, and a summary of it."""
        from pixelar.codec import encode, image_nll_bits

        with self.catalog.use(name) as model:
            images = self.read_for(model, data, filename, self.limits.max_images)
            cond = _labels(model, label, len(images))
            packed = encode(model, images, cond)
            dims = sum(image.numel() for image in images)
            return packed, {
                "images": len(images),
                "bytes": len(packed),
                "upload_bytes": len(data),
                "bits_per_dim": 8 * len(packed) / dims,
                "nll_bits_per_dim": _finite(image_nll_bits(model, images, cond) / dims),
            }

    def decompress(self, name: str | None, data: bytes) -> dict[str, Any]:
        """The images of a ``.pxz`` file."""
        from pixelar.codec import decode_images, decode_labels, read_header

        with self.catalog.use(name) as model:
            C, H, W = model.image_shape
            count = read_header(data, (H, W))[0].count  # refused before any decoding work
            if count > self.limits.max_images:
                raise PixelarError(f"the file holds {count} images, more than the limit of {self.limits.max_images}")
            images = decode_images(model, data, max_subpixels=C * self.limits.max_image_pixels)
            return {
                "images": [png_url(picture(image.cpu(), model.num_levels)) for image in images],
                "levels": [image.tolist() for image in images],
                "sizes": [[int(image.shape[2]), int(image.shape[1])] for image in images],
                "labels": decode_labels(data),
            }

    def example(self, name: str | None, index: int) -> dict[str, Any]:
        """Test image ``index`` (modulo their number) of the dataset of the run or pretrained model (bundled
        datasets only)."""
        from pixelar.pretrained import card_of
        from pixelar.training_config import is_run_dir, run_data_source

        entry = self.catalog.entry(name)
        with self.catalog.use(entry.name) as model:
            if not is_run_dir(entry.path) and card_of(entry.path) is None:
                raise PixelarError("this model is not a training run, so it has no dataset: draw or upload an image")
            source = run_data_source(entry.path, model.image_shape)
            if source.data not in BUNDLED_DATASETS:
                raise PixelarError(
                    f"test images are shown for the bundled datasets only, not {source.data}; draw or upload an image"
                )
            dataset = entry.examples or source.load("test", model.image_shape[0])
            entry.examples = dataset
            i = index % len(dataset)
            image = dataset.images[i].long()
            label = None if dataset.labels is None else int(dataset.labels[i])
            return {"image": png_url(picture(image, model.num_levels)), "label": label, "index": i}


def check_order(described: dict[str, Any], order: str | None) -> None:
    """Refuse, before any work, an order the model :meth:`~pixelar.web.catalog.Catalog.describe`
    describes cannot generate in (one line)."""
    if order is None:
        return
    _, H, W = described["image_shape"]
    if not make_order(order, H, W).is_raster and not described["any_order"]:
        raise PixelarError(
            f"{described['model']} generates in raster order only; choose raster, or serve a model that "
            "generates in any order (lmconv)"
        )


def check_label(num_classes: int, label: int | None) -> None:
    """Refuse a class label that a model of ``num_classes`` classes (0: unconditional) cannot take."""
    if not num_classes:
        if label is not None:
            raise PixelarError("this model is unconditional: leave the class empty")
        return
    if label is None:
        raise PixelarError(f"this model is class-conditional: choose a class from 0 to {num_classes - 1}")
    if label >= num_classes:
        raise PixelarError(f"the class must lie between 0 and {num_classes - 1}, got {label}")


def one_line(text: str) -> str:
    return " ".join(text.split())


def _labels(model: AutoregressiveModel, label: int | None, count: int) -> Tensor | None:
    """The class labels of ``count`` images for the model (None for an unconditional one)."""
    check_label(model.num_classes, label)
    if label is None:
        return None
    return torch.full((count,), label, dtype=torch.long, device=model.device)


def _finite(value: float) -> float | None:
    """``value``, or None (JSON null) where it is infinite or not a number (JSON has neither)."""
    return value if math.isfinite(value) else None
