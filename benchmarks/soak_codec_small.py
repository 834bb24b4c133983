"""Every codec file under 64 bytes is decoded or refused in under a second, whatever it declares
(issue 28): the time the decoder takes on the worst such files, per model family.

    python benchmarks/soak_codec_small.py [--limit 1.0] [--families pixelcnn,pixelcnn++]

The models: every family at the registry's small defaults (those of the codec tests), random
weights, one binary grey (1×4×4, 2 levels) and one 8-bit colour (3×6×6, 256 levels) each; and
the two other steppers the codec has, on the binary PixelCNN: the naive one (the model as one
without a fast sampler) and the portable integer network.

The files: 63 bytes each, a header declaring 1, 8 or 64 images (one chunk), or 10 images of two
alternating sizes (10 chunks), of one width from 1 to 4,096 and the most rows the payload admits
before decoding (:func:`pixelar.codec.schedule.least_work`), then zero bytes. They are decoded as
the worst file of that header would be: an adversary can search payloads until every 16-bit
check passes, so here every check passes (the checks the decoder reads are taken as the ones it
computes), and decoding stops only where the work its payload buys runs out
(:mod:`pixelar.codec.schedule`) or the images are complete.

A file fails when decoding it takes ``limit`` seconds or more of CPU time, or raises anything but
a one-line :class:`~pixelar.errors.PixelarError`. The models run on one thread (restored
afterwards), so on an idle machine the CPU time is the wall time; on a shared one the CPU time
is the steadier measure, and both are shown.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

import pixelar
from pixelar import portable as integer
from pixelar.codec import MODEL_ID, Header, coding, decode_images, decompress, model_fingerprint, schedule
from pixelar.codec.schedule import budget, fast_work, least_work
from pixelar.errors import PixelarError
from pixelar.models.base import MAX_SIDE, AutoregressiveModel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soak_codec import randomized
from soak_report import MAX_ERRORS, one_line, table

SMALL = 64  # bytes: the files measured are one byte shorter
COUNTS = (1, 8, 64)  # images of one chunk
WIDTHS = (1, 2, 3, 8, 64, 4096)
MIXED = 10  # images of two alternating sizes: a chunk each
CONFIGS = (((1, 4, 4), 2), ((3, 6, 6), 256))  # (image shape, levels): binary grey, 8-bit colour


def small_model(family: str, shape: tuple[int, int, int], levels: int, seed: int = 0) -> AutoregressiveModel:
    """``family`` at the registry's small defaults, with weights drawn from N(0, 1.5²/fan_in)."""
    torch.manual_seed(seed)
    return randomized(pixelar.create_model(family, image_shape=shape, num_levels=levels), seed)


def without_fast_sampler(model: AutoregressiveModel) -> AutoregressiveModel:
    """The same model (same fingerprint) as one whose class has no fast sampler: coded naively."""
    model.__class__ = type(
        f"{type(model).__name__}Naive", (type(model),), {"fast_stepper": AutoregressiveModel.fast_stepper}
    )
    return model


def tallest(
    model: AutoregressiveModel,
    method: str,
    sizes: Callable[[int], list[tuple[int, int]]],
    header: Callable[[list[tuple[int, int]]], bytes],
) -> int:
    """The most rows H for which the images ``sizes(H)`` coded by ``method`` pass the check
    before decoding, in a file of ``SMALL - 1`` bytes with the header ``header(sizes(H))``."""
    channels = model.image_shape[0]
    low, high = 1, MAX_SIDE
    while low < high:
        mid = (low + high + 1) // 2
        payload = SMALL - 1 - len(header(sizes(mid)))
        fits = least_work(sizes(mid), channels, method, fast_work(model)) <= budget(payload)
        low, high = (mid, high) if fits else (low, mid - 1)
    return low


def method_of(model: AutoregressiveModel, portable: bool = False) -> str:
    return "portable" if portable else "fast" if model.has_fast_sampler else "naive"


def files(model: AutoregressiveModel, portable: bool = False) -> Iterator[tuple[str, bytes]]:
    """(what, file) of every file measured for ``model`` (see the module docstring)."""
    method = method_of(model, portable)
    model_id = model_fingerprint(model)[: 2 * MODEL_ID]

    def header(sizes: list[tuple[int, int]]) -> bytes:
        return Header(sizes, None, method, model.dtype, model_id, own_size=False).pack()

    shapes: list[tuple[str, Callable[[int], list[tuple[int, int]]]]] = []
    for count in COUNTS:
        for width in WIDTHS:
            shapes.append((f"{count}×(H×{width})", lambda h, c=count, w=width: [(h, w)] * c))
    shapes.append((f"{MIXED}×(H×1, H×2)", lambda h: [(h, 1 + i % 2) for i in range(MIXED)]))
    for name, sizes in shapes:
        rows = tallest(model, method, sizes, header)
        head = header(sizes(rows))
        if len(head) < SMALL - 1:
            yield name.replace("H", str(rows)), head + bytes(SMALL - 1 - len(head))


@contextlib.contextmanager
def every_check_passing() -> Iterator[dict[str, int]]:
    """Decoding in which every check passes (the intermediate ones are not due, a chunk's is
    taken as decoded); yields the probability rows and steps counted."""
    counts = {"rows": 0, "steps": 0}
    coder, check, first = decompress._coder, decompress._chunk_check, schedule.FIRST_CHECKED
    floats, integers = coding._probabilities, integer.probabilities
    last: list[Any] = [None]

    def coder_noting_checks(call: Callable[..., Any], *args: Any) -> Any:
        out = coder(call, *args)
        if len(args) == 2 and isinstance(args[1], int):  # a check (a count of uniform symbols)
            last[0] = out
        return out

    def counted(probabilities: Callable[[torch.Tensor], np.ndarray]) -> Callable[[torch.Tensor], np.ndarray]:
        def rows_of(logits: torch.Tensor) -> np.ndarray:
            rows = probabilities(logits)
            counts["rows"] += len(rows)
            counts["steps"] += 1
            return rows

        return rows_of

    decompress._coder, decompress._chunk_check = coder_noting_checks, lambda *args: last[0]
    coding._probabilities, integer.probabilities = counted(floats), counted(integers)
    schedule.FIRST_CHECKED = 10**9
    try:
        yield counts
    finally:
        decompress._coder, decompress._chunk_check = coder, check
        coding._probabilities, integer.probabilities, schedule.FIRST_CHECKED = floats, integers, first


def measure(model: AutoregressiveModel, data: bytes) -> tuple[float, float, str | None, dict[str, int]]:
    """(CPU seconds, wall seconds, problem or None, counts) of decoding ``data`` with every check passing."""
    with every_check_passing() as counts:
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            decode_images(model, data)
            problem = None
        except PixelarError as e:
            problem = None if str(e) and "\n" not in str(e) else f"a PixelarError not of one line: {e!r}"
        except Exception as e:  # anything else is a failure
            problem = f"{type(e).__name__}: {e}"
        return time.process_time() - cpu, time.perf_counter() - wall, problem, counts


def subjects(families: list[str]) -> Iterator[tuple[str, AutoregressiveModel, bool]]:
    """(label, model, portable) of every model measured."""
    for family in families:
        for shape, levels in CONFIGS:
            yield f"{family} {'×'.join(map(str, shape))}/{levels}", small_model(family, shape, levels).float(), False
    if "pixelcnn" in families:
        binary = small_model("pixelcnn", *CONFIGS[0]).float()
        yield "pixelcnn 1×4×4/2 naive", without_fast_sampler(small_model("pixelcnn", *CONFIGS[0]).float()), False
        yield "pixelcnn 1×4×4/2 portable", binary, True


def run(limit: float = 1.0, families: list[str] | None = None, verbose: bool = False) -> dict[str, Any]:
    """Decode every file of every model (see the module docstring); the result: name, attempts,
    failures, errors (the first few), seconds, and the slowest file's seconds per family."""
    started = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    failures, errors, attempts, slowest, most = 0, [], 0, {}, 0.0
    try:
        for label, model, portable in subjects(families or pixelar.list_models()):
            worst = (0.0, 0.0, "")
            for what, data in files(model, portable):
                cpu, wall, problem, counts = measure(model, data)
                attempts += 1
                worst = max(worst, (cpu, wall, what))
                if problem is None and cpu >= limit:
                    problem = f"took {cpu:.2f} CPU seconds"
                if verbose:
                    steps, rows = counts["steps"], counts["rows"]
                    print(f"  {label} {what}: {cpu:.3f} s CPU, {wall:.3f} s, {steps} steps, {rows} rows", flush=True)
                if problem is not None:
                    failures += 1
                    if len(errors) < MAX_ERRORS:
                        errors.append(one_line(f"{label}, {what}: {problem}"))
            slowest[label] = f"{worst[0]:.2f} s CPU, {worst[1]:.2f} s wall ({worst[2]})"
            most = max(most, worst[0])
    finally:
        torch.set_num_threads(threads)
    return {
        "name": "codec files under 64 bytes",
        "attempts": attempts,
        "failures": failures,
        "errors": errors,
        "seconds": round(time.perf_counter() - started, 2),
        "limit_seconds": limit,
        "slowest_cpu_seconds": round(most, 3),
        "slowest": slowest,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=float, default=1.0, help="seconds a file may take (default 1)")
    p.add_argument("--families", help="comma-separated model families (default: all)")
    p.add_argument("--verbose", action="store_true", help="print every file's time")
    args = p.parse_args(argv)
    families = args.families.split(",") if args.families else None
    result = run(args.limit, families, args.verbose)
    print(table({key: value for key, value in result.items() if key != "slowest"}))
    print("\nslowest file per model:")
    for label, text in result["slowest"].items():
        print(f"  {label}: {text}")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
