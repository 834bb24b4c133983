"""The number `make demo` prints: the demo preset trained from scratch, twice.

    python benchmarks/bench_demo.py [--repeat 2] [--out benchmarks/results/demo.json]

Trains the `demo` preset (a fixed number of steps, not a time budget) as `make demo` does and
records the final test NLL over the whole test split, the steps and the wall-clock minutes of
each run. Training is deterministic for a fixed step count, seed and thread count, so every run
should print the same NLL while its time drifts with the machine's load. --quick: a smoke test.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import harness
from pixelar.presets import get_preset
from pixelar.training import TrainConfig, train


def main(argv: list[str] | None = None) -> None:
    p = harness.parser(__doc__, "demo")
    p.add_argument("--repeat", type=int, default=2, help="times the demo is trained from scratch")
    p.add_argument("--steps", type=int, default=None, help="override the preset's steps (--quick: 5)")
    a = harness.parse(p, "demo", {"repeat": 2, "steps": 5}, argv)
    settings = get_preset("demo") | ({"steps": a.steps} if a.steps else {})
    a.preset = settings  # recorded in the configuration
    rows = []
    for index in range(1, a.repeat + 1):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            result = train(TrainConfig(**settings), Path(tmp) / "demo", progress=False)
            minutes = (time.perf_counter() - start) / 60
        rows.append(
            {
                "repeat": index,
                "steps": settings["steps"],
                "nats_per_image": result["nats_per_image"],
                "test_images": result["images"],
                "minutes": minutes,
            }
        )
        harness.emit(rows[-1])
    out = harness.write_results(a.out, "demo", rows, ("repeat",), a)
    harness.show(out, "demo")


if __name__ == "__main__":
    main()
