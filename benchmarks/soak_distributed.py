"""Soak of distributed training: ``torchrun`` start + resume pairs, and a rank killed with
SIGKILL mid-run then the run resumed — each repeated, with every failure's last line kept.

A pair is the run of ``tests/test_distributed.py``: 2 processes (gloo, 1 thread each) train a
small PixelCNN to step 3 on an uneven batch, then ``--resume`` to step 6. A failure is a
non-zero exit of either torchrun (such as a rank's abort at exit) or a run that did not reach
its last step.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FLAGS = [
    "--model", "pixelcnn", "--num-layers", "2", "--hidden-channels", "8", "--data", "digits-binary",
    "--batch-size", "9", "--lr", "0.01", "--lr-decay", "0.9", "--warmup-steps", "2", "--log-every", "1",
    "--eval-every", "0", "--num-samples", "0",
]  # fmt: skip


def torchrun(args: list[str], processes: int = 2) -> subprocess.Popen[str]:
    """``torchrun --standalone -m pixelar train --quiet ARGS`` started (not waited for)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    command += ["-m", "pixelar", "train", "--quiet", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )


def finish(process: subprocess.Popen[str], timeout: float = 600) -> tuple[int, str]:
    """Wait for a torchrun (killing its whole session past ``timeout``): (exit status, stderr)."""
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, err = process.communicate()
        return -9, f"timed out after {timeout:.0f} s\n{err}"
    return process.returncode, err


def last_step(run_dir: Path) -> int:
    """The last training step metrics.jsonl records (0 when none)."""
    path = run_dir / "metrics.jsonl"
    steps = [json.loads(line).get("step", 0) for line in path.read_text().splitlines() if line.strip()]
    return max(steps, default=0)


def why(status: int, err: str) -> str:
    """One line for a failed torchrun: the abort message if there is one, else its last line."""
    lines = [line for line in err.splitlines() if line.strip()]
    for marker in ("terminate called", "Signal 6", "SIGABRT", "Traceback", "error:"):
        hit = next((line for line in lines if marker in line), None)
        if hit:
            return f"exit {status}: {hit.strip()[:160]}"
    return f"exit {status}: {lines[-1].strip()[:160] if lines else '(no output)'}"


def pair(run_dir: Path) -> str | None:
    """One start (to step 3) + resume (to step 6); None, or what went wrong."""
    for args, steps in ((["--steps", "3", "--checkpoint-every", "3", "--out", str(run_dir)], 3),
                        (["--resume", str(run_dir), "--steps", "6"], 6)):  # fmt: skip
        status, err = finish(torchrun(FLAGS + args if "--out" in args else args))
        if status != 0:
            return ("start: " if steps == 3 else "resume: ") + why(status, err)
        if last_step(run_dir) != steps:
            return f"{'start' if steps == 3 else 'resume'}: ended at step {last_step(run_dir)}, not {steps}"
    return None


def workers(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (torchrun's workers), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry.name))
    return sorted(found)


def kill_and_resume(run_dir: Path, steps: int = 30, wait: float = 120, sig: int = signal.SIGKILL) -> str | None:
    """Start a run, send ``sig`` to one of its two ranks once a checkpoint exists, then resume
    it to the end; None, or what went wrong (the stopped run must exit non-zero, not hang — after
    SIGTERM with the one line that says how to continue —; the resume must end)."""
    process = torchrun([*FLAGS, "--steps", str(steps), "--checkpoint-every", "2", "--out", str(run_dir)])
    deadline = time.monotonic() + wait
    while not (run_dir / "checkpoint.pt").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            status, err = finish(process, 1)
            return "no checkpoint before the kill: " + why(status, err)
        time.sleep(0.2)
    ranks = workers(process.pid)
    if len(ranks) < 2:
        finish(process, 1)
        return f"found {len(ranks)} worker processes, not 2"
    os.kill(ranks[-1], sig)
    killed_at = time.monotonic()
    status, err = finish(process, timeout=wait)
    if status == 0:
        return "the run with a killed rank exited 0"
    if status == -9:
        return "the run with a killed rank hung: " + why(status, err)
    stopped_after = time.monotonic() - killed_at
    if sig == signal.SIGTERM and "stopped the run at step" not in err:
        return "SIGTERM: no line saying where the run stopped: " + why(status, err)
    status, err = finish(torchrun(["--resume", str(run_dir), "--steps", str(steps)]))
    if status != 0:
        return f"resume after the kill ({stopped_after:.0f} s to stop): " + why(status, err)
    if last_step(run_dir) != steps:
        return f"resume after the kill ended at step {last_step(run_dir)}, not {steps}"
    return None


def repeat(name: str, attempts: int, attempt: Any, progress: bool = True) -> dict[str, Any]:
    """Run ``attempt(run_dir)`` ``attempts`` times in fresh directories: failures over attempts."""
    errors: list[str] = []
    start = time.monotonic()
    for i in range(attempts):
        with tempfile.TemporaryDirectory(prefix="pixelar-soak-") as tmp:
            error = attempt(Path(tmp) / "run")
        if error is not None:
            errors.append(f"#{i + 1} {error}")
        if progress:
            print(f"{name}: {i + 1}/{attempts}, {len(errors)} failed", file=sys.stderr, flush=True)
    return {
        "name": name,
        "attempts": attempts,
        "failures": len(errors),
        "errors": errors[:10],
        "seconds": round(time.monotonic() - start, 1),
    }


def run_pairs(pairs: int) -> dict[str, Any]:
    return repeat("distributed start + resume", pairs, pair)


def run_kills(attempts: int) -> dict[str, Any]:
    return repeat("rank killed (SIGKILL), then resume", attempts, kill_and_resume)


def run_terms(attempts: int) -> dict[str, Any]:
    return repeat("rank stopped (SIGTERM), then resume", attempts, lambda d: kill_and_resume(d, sig=signal.SIGTERM))
