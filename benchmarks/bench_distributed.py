"""Training throughput of ``pixelar train`` on one process against two (torchrun + DDP, gloo),
on the CPU, and of bfloat16 autocast against float32.

    python benchmarks/bench_distributed.py [--models gated-pixelcnn,pixelcnn,pixelcnn++,row-lstm]
        [--settings 1x2,2x1,1x2-bf16] [--steps 40] [--warmup 10]

Each (model, setting) is one real ``pixelar train`` run in fresh processes, on the bundled
digits with a global batch of 32 (``--batch-size``): ``1x2`` is one process with 2 threads,
``2x1`` two processes of 1 thread each (``python -m torch.distributed.run --standalone
--nproc-per-node 2 -m pixelar train ...``; each takes 16 images of every step), ``-bf16`` adds
``--precision bf16``. images/s is read from the run's own metrics.jsonl: the images of the steps
after ``--warmup`` over the training time they took (the run's ``elapsed`` at log steps), so
start-up, data loading and the final evaluation are not counted. ``loss_5`` is the logged train
loss of the first 5 steps: one process and two train the same model, so they agree (to float
rounding) in float32. ``speedup`` = images/s ÷ that of the model's first setting. The
configurations (about 0.2 M parameters each) are those of benchmarks/bench_training.py.
Writes benchmarks/results/distributed.json (runs/bench-quick/ with --quick) and prints the table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import harness

MODELS: dict[str, tuple[str, dict]] = {
    "gated-pixelcnn": ("digits-binary", {"num_layers": 10, "hidden_channels": 32}),
    "pixelcnn": ("digits-binary", {"num_layers": 15, "hidden_channels": 32}),
    "pixelcnn++": ("digits", {"num_layers": 1, "hidden_channels": 20, "num_components": 10, "dropout": 0.5}),
    "row-lstm": ("digits-binary", {"num_layers": 2, "hidden_channels": 32}),
}
SETTINGS = {  # name -> (processes, threads each, precision)
    "1x2": (1, 2, "fp32"),
    "2x1": (2, 1, "fp32"),
    "1x2-bf16": (1, 2, "bf16"),
    "1x1": (1, 1, "fp32"),
}
LOG_EVERY = 5


def run(model: str, setting: str, steps: int, warmup: int, batch: int, out: Path) -> dict:
    processes, threads, precision = SETTINGS[setting]
    data, args = MODELS[model]
    train = [
        *("train", "--model", model, "--data", data, "--batch-size", str(batch), "--steps", str(steps)),
        *("--log-every", str(LOG_EVERY), "--eval-every", "0", "--checkpoint-every", "0", "--num-samples", "0"),
        *("--precision", precision, "--quiet", "--out", str(out)),
        *(text for key, value in args.items() for text in ("--model-arg", f"{key}={json.dumps(value)}")),
    ]
    if processes > 1:
        launch = ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}", "-m", "pixelar"]
    else:
        launch = ["-m", "pixelar"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, *launch, *train], capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"error: {model} {setting} failed:\n{done.stderr[-2000:]}")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    logged = {r["step"]: r for r in records if "train_loss" in r}
    first, last = logged[warmup], logged[steps]
    return {
        "model": model,
        "setting": setting,
        "processes": processes,
        "threads": threads,
        "precision": precision,
        "args": args,
        "img_s": (steps - warmup) * batch / (last["elapsed"] - first["elapsed"]),
        "loss_5": logged[LOG_EVERY]["train_loss"],
    }


def table(rows: list[dict]) -> str:
    lines = ["| model | setting | images/s | speedup | loss, steps 1–5 |", "|---|---|---|---|---|"]
    base: dict[str, float] = {}
    for r in rows:
        base.setdefault(r["model"], r["img_s"])
        lines.append(
            f"| {r['model']} | {r['processes']} × {r['threads']} thread{'s' * (r['threads'] > 1)}, {r['precision']} "
            f"| {r['img_s']:.1f} | {r['img_s'] / base[r['model']]:.2f}× | {r['loss_5']:.4f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = harness.parser(__doc__, "distributed")
    p.add_argument("--models", default=",".join(MODELS), help="of: " + ", ".join(MODELS))
    p.add_argument("--settings", default="1x2,2x1,1x2-bf16", help="of: " + ", ".join(SETTINGS))
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup", type=int, default=10, help="steps not timed (a multiple of 5)")
    p.add_argument("--batch-size", type=int, default=32)
    a = harness.parse(p, "distributed", {"models": "pixelcnn", "steps": 10, "warmup": 5}, argv)
    if a.warmup % LOG_EVERY or a.steps % LOG_EVERY or a.warmup >= a.steps:
        raise SystemExit(f"error: --warmup and --steps must be multiples of {LOG_EVERY}, --warmup < --steps")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in harness.each(a.models):
            for setting in harness.each(a.settings):
                rows.append(run(model, setting, a.steps, a.warmup, a.batch_size, Path(tmp) / f"{model}-{setting}"))
                harness.emit(rows[-1])
    harness.write_results(a.out, "distributed", rows, ("model", "setting"), a)
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
