"""Every CLI verb with every kind of broken input a user can produce: exit status 2, exactly one
line on stderr starting with ``error:``, never a traceback. Plus the defects behind this walk:
a corrupt train_config.json read by commands that do not need it, a run stopped before its
first checkpoint, and ``python -m pixelar``."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import pixelar
from helpers import tiny_train_config
from pixelar.cli import main
from pixelar.training import train


def cli(*argv) -> int:
    """main() in-process; argparse's usage errors raise SystemExit, which is the same exit status."""
    try:
        return main([str(a) for a in argv])
    except SystemExit as e:
        return e.code


def assert_one_error_line(code: int, err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, (code, err)
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """One tiny trained run (binary 1×28×28 digits), a good input image, .npy and .pxz for it."""
    d = tmp_path_factory.mktemp("walk")
    run = d / "run"
    train(tiny_train_config(batch_size=4, steps=2, eval_images=0, checkpoint_every=0), run, progress=False)
    good_png = d / "good.png"
    Image.fromarray((np.random.default_rng(0).random((28, 28)) > 0.5).astype(np.uint8) * 255).save(good_png)
    good_npy = d / "good.npy"
    np.save(good_npy, np.random.default_rng(1).integers(0, 2, (2, 1, 28, 28)))
    assert main(["compress", str(run), str(good_npy), "-o", str(d / "good.pxz")]) == 0
    return {"run": run, "png": good_png, "npy": good_npy, "pxz": d / "good.pxz"}


# -- broken run directories: every command that loads a model ------------------------------


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def _model_config(run: Path) -> dict:
    return json.loads((run / "model" / "config.json").read_text())


def _set_model_config(run: Path, **changes) -> None:
    meta = _model_config(run)
    meta.update(changes)
    _write(run / "model" / "config.json", json.dumps(meta))


def _set_hyper(run: Path, **changes) -> None:
    meta = _model_config(run)
    meta["config"].update(changes)
    _write(run / "model" / "config.json", json.dumps(meta))


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _int_weights(run: Path) -> None:
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3, dtype=torch.int64)}, str(run / "model" / "model.safetensors"))


def _other_weights(run: Path) -> None:
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, str(run / "model" / "model.safetensors"))


def _mid_training(run: Path) -> None:  # killed before the first checkpoint: config (and metrics) only
    shutil.rmtree(run / "model")
    (run / "checkpoint.pt").unlink()
    (run / "loss.png").unlink()


def _no_model_dir(run: Path) -> None:  # killed between writing checkpoint.pt and model/
    shutil.rmtree(run / "model")


RUN_DAMAGE: dict[str, Callable[[Path], None] | None] = {
    "missing": None,
    "empty-dir": lambda r: (shutil.rmtree(r), r.mkdir()),
    "a-file": lambda r: (shutil.rmtree(r), r.write_text("x")),
    "mid-training": _mid_training,
    "checkpoint-without-model": _no_model_dir,
    "config-empty": lambda r: _write(r / "model" / "config.json", b""),
    "config-garbage": lambda r: _write(r / "model" / "config.json", b"\xff\xfe\x00garbage"),
    "config-truncated": lambda r: _truncate(r / "model" / "config.json"),
    "config-a-list": lambda r: _write(r / "model" / "config.json", "[]"),
    "config-a-directory": lambda r: ((r / "model" / "config.json").unlink(), (r / "model" / "config.json").mkdir()),
    "config-other-format": lambda r: _set_model_config(r, format="something-else"),
    "config-unknown-model": lambda r: _set_model_config(r, model="pixelgan"),
    "config-not-a-dict": lambda r: _set_model_config(r, config=5),
    "config-version-string": lambda r: _set_model_config(r, version="x"),
    "config-newer-version": lambda r: _set_model_config(r, version=99),
    "config-bad-shape": lambda r: _set_hyper(r, image_shape=[1, -1, 28]),
    "config-shape-not-a-list": lambda r: _set_hyper(r, image_shape=7),
    "config-levels-a-string": lambda r: _set_hyper(r, num_levels="two"),
    "config-unknown-hyperparameter": lambda r: _set_hyper(r, depth=3),
    "config-wider-than-weights": lambda r: _set_hyper(r, hidden_channels=8),
    "weights-missing": lambda r: (r / "model" / "model.safetensors").unlink(),
    "weights-empty": lambda r: _write(r / "model" / "model.safetensors", b""),
    "weights-truncated": lambda r: _truncate(r / "model" / "model.safetensors"),
    "weights-header-only": lambda r: _truncate(r / "model" / "model.safetensors", 0.02),
    "weights-garbage": lambda r: _write(r / "model" / "model.safetensors", b"\x00" * 10 + b"garbage" * 10),
    "weights-integers": _int_weights,
    "weights-other-keys": _other_weights,
}


def _damaged_run(world, tmp_path, damage: str) -> Path:
    run = tmp_path / "run"
    if RUN_DAMAGE[damage] is None:
        return tmp_path / "no-such-run"
    shutil.copytree(world["run"], run)
    RUN_DAMAGE[damage](run)
    return run


VERBS: dict[str, Callable[[Path, dict, Path], list]] = {
    "sample": lambda run, w, t: ["sample", run, "-n", "1", "-o", t / "s.png", "--quiet"],
    "eval": lambda run, w, t: ["eval", run, "--quiet"],
    "eval-data": lambda run, w, t: ["eval", run, "--data", "digits-binary", "--quiet"],
    "complete": lambda run, w, t: ["complete", run, "--count", "1", "-n", "1", "-o", t / "c.png", "--quiet"],
    "complete-input": lambda run, w, t: ["complete", run, "--input", w["png"], "-n", "1", "-o", t / "c.png", "--quiet"],
    "compress": lambda run, w, t: ["compress", run, w["npy"], "-o", t / "x.pxz"],
    "decompress": lambda run, w, t: ["decompress", run, w["pxz"], "-o", t / "out"],
}


@pytest.mark.parametrize("damage", list(RUN_DAMAGE))
@pytest.mark.parametrize("verb", list(VERBS))
def test_broken_run_directory(world, tmp_path, capsys, verb, damage):
    run = _damaged_run(world, tmp_path, damage)
    line = assert_one_error_line(cli(*VERBS[verb](run, world, tmp_path)), capsys.readouterr().err)
    if damage == "mid-training":
        assert "no saved model yet" in line and "--resume" in line
    if damage == "checkpoint-without-model":
        assert "--resume" in line


def test_mid_training_run_is_named_as_a_run(world, tmp_path, capsys):
    """Defect: a run interrupted before its first checkpoint was called 'not a run directory'."""
    run = _damaged_run(world, tmp_path, "mid-training")
    line = assert_one_error_line(cli("sample", run, "--quiet"), capsys.readouterr().err)
    assert "not a run directory" not in line and "training run with no saved model yet" in line
    assert f"pixelar train --resume {run}" in line


def test_resume_a_run_stopped_before_its_first_checkpoint(world, tmp_path, capsys):
    """Defect: 'train --resume' on such a run said 'checkpoint.pt is missing; start a new run
    without --resume' (and a new run refuses the directory); now it starts the run at step 0,
    and gives what an uninterrupted run gives."""
    run = _damaged_run(world, tmp_path, "mid-training")
    _write(run / "metrics.jsonl", json.dumps({"step": 1, "train_loss": 5.0}) + '\n{"step": 2, "tr')  # cut short
    assert cli("train", "--resume", run, "--quiet") == 0
    captured = capsys.readouterr()
    assert "no checkpoint yet; starting it from step 0" in captured.err and "nats/image" in captured.out
    assert (run / "checkpoint.pt").exists() and (run / "model" / "model.safetensors").exists()
    a, b = pixelar.load(world["run"]), pixelar.load(run)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    losses = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in losses if "train_loss" in r] == [1, 2]  # the stale records are gone


def test_resume_of_a_run_that_lost_its_model_directory(world, tmp_path, capsys):
    run = _damaged_run(world, tmp_path, "checkpoint-without-model")
    assert cli("train", "--resume", run, "--quiet") == 0
    assert pixelar.load(run).image_shape == (1, 28, 28)


# -- a corrupt train_config.json ------------------------------------------------------------


def _with_train_config(world, tmp_path, content: str | bytes) -> Path:
    run = tmp_path / "run"
    shutil.copytree(world["run"], run)
    _write(run / "train_config.json", content)
    return run


def test_corrupt_train_config_is_read_only_where_needed(world, tmp_path, capsys):
    """Defect: sample, eval, complete, compress and decompress all read train_config.json and
    crashed with a JSONDecodeError, even when they did not need it."""
    run = _with_train_config(world, tmp_path, '{"model": "pixelcnn", "da')
    ok = [
        ["sample", run, "-n", "1", "-o", tmp_path / "s.png", "--quiet"],
        ["eval", run, "--data", "digits-binary", "--quiet"],
        ["complete", run, "--input", world["png"], "-n", "1", "-o", tmp_path / "c.png", "--quiet"],
        ["complete", run, "--data", "digits-binary", "--count", "1", "-n", "1", "-o", tmp_path / "d.png", "--quiet"],
        ["compress", run, world["npy"], "-o", tmp_path / "x.pxz"],
        ["decompress", run, world["pxz"], "-o", tmp_path / "out"],
    ]
    for argv in ok:
        assert cli(*argv) == 0, (argv, capsys.readouterr().err)


@pytest.mark.parametrize("content", ['{"model": ', "", "[]", '{"batch_size": 0}', '{"steps": "many"}', "\udcff"])
def test_corrupt_train_config_where_needed_is_one_line(world, tmp_path, capsys, content):
    """Where the run's dataset is needed (eval and complete without --data) or the whole config
    (train --resume), a corrupt train_config.json is one line naming the file and the fix."""
    run = _with_train_config(world, tmp_path, content.encode("utf-8", "surrogateescape"))
    for argv in (["eval", run, "--quiet"], ["complete", run, "-n", "1", "-o", tmp_path / "c.png", "--quiet"]):
        line = assert_one_error_line(cli(*argv), capsys.readouterr().err)
        assert f"{run / 'train_config.json'} is corrupt" in line and "pass --data NAME" in line
    line = assert_one_error_line(cli("train", "--resume", run, "--quiet"), capsys.readouterr().err)
    assert f"{run / 'train_config.json'} is corrupt" in line and "--out" in line


# -- broken image and array files ------------------------------------------------------------


def _png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _binary(h=28, w=28) -> np.ndarray:
    return (np.random.default_rng(2).random((h, w)) > 0.5).astype(np.uint8) * 255


def _npy_bytes(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


IMAGE_FILES: dict[str, tuple[str, bytes | None]] = {
    "missing": ("x.png", None),
    "empty": ("x.png", b""),
    "truncated": ("x.png", _png_bytes(_binary())[:60]),
    "not-an-image": ("x.png", b"hello, I am text"),
    "wrong-size": ("x.png", _png_bytes(_binary(20, 20))),
    "wrong-mode-colour": ("x.png", _png_bytes(np.random.default_rng(3).integers(0, 256, (28, 28, 3), dtype=np.uint8))),
    "wrong-levels-grey": ("x.png", _png_bytes(np.full((28, 28), 100, dtype=np.uint8))),
    "16-bit": ("x.png", _png_bytes(np.full((28, 28), 1000, dtype=np.uint16))),
    "transparent": ("x.png", _png_bytes(np.zeros((28, 28, 4), dtype=np.uint8))),
    "a-directory": ("x.png", b"<dir>"),
    "npy-empty-file": ("x.npy", b""),
    "npy-truncated": ("x.npy", _npy_bytes(np.zeros((2, 1, 28, 28), dtype=np.int64))[:200]),
    "npy-wrong-shape": ("x.npy", _npy_bytes(np.zeros((28, 28), dtype=np.int64))),
    "npy-wrong-size": ("x.npy", _npy_bytes(np.zeros((2, 1, 20, 20), dtype=np.int64))),
    "npy-no-images": ("x.npy", _npy_bytes(np.zeros((0, 1, 28, 28), dtype=np.int64))),
    "npy-out-of-range": ("x.npy", _npy_bytes(np.full((1, 1, 28, 28), 7, dtype=np.int64))),
    "npy-fractions": ("x.npy", _npy_bytes(np.full((1, 1, 28, 28), 0.5))),
    "npy-pickled-objects": ("x.npy", _npy_bytes(np.array([{}], dtype=object), allow_pickle=True)),
    "npy-strings": ("x.npy", _npy_bytes(np.array(["a", "b"]))),
}
MASK_ERRORS = {"missing", "empty", "truncated", "not-an-image", "wrong-size", "a-directory", "wrong-mode-colour"}
MASK_ERRORS |= {"wrong-levels-grey", "16-bit", "transparent"}


def _image_file(tmp_path: Path, case: str) -> Path:
    name, data = IMAGE_FILES[case]
    path = tmp_path / "inputs" / name
    path.parent.mkdir(exist_ok=True)
    if data == b"<dir>":
        path.mkdir()
    elif data is not None:
        path.write_bytes(data)
    return path


IMAGE_VERBS: dict[str, Callable[[Path, Path, Path], list]] = {
    "compress": lambda run, f, t: ["compress", run, f, "-o", t / "x.pxz"],
    "complete-input": lambda run, f, t: ["complete", run, "--input", f, "-n", "1", "-o", t / "c.png", "--quiet"],
    "complete-mask": lambda run, f, t: ["complete", run, "--count", "1", "--mask", f, "-o", t / "c.png", "--quiet"],
}


def _image_params():
    for verb in IMAGE_VERBS:
        for case in IMAGE_FILES:
            if verb == "complete-mask" and case not in MASK_ERRORS:
                continue  # .npy files are not masks
            if verb == "compress" and "wrong-size" in case:
                continue  # the codec takes images of any size (tests/test_codec.py)
            yield pytest.param(verb, case, id=f"{verb}-{case}")


@pytest.mark.parametrize("verb,case", list(_image_params()))
def test_broken_image_file(world, tmp_path, capsys, verb, case):
    path = _image_file(tmp_path, case)
    assert_one_error_line(cli(*IMAGE_VERBS[verb](world["run"], path, tmp_path)), capsys.readouterr().err)


# -- broken compressed files -------------------------------------------------------------------


@pytest.mark.parametrize("case", ["missing", "empty", "truncated", "garbage", "a-directory", "output-is-a-file"])
def test_broken_compressed_file(world, tmp_path, capsys, case):
    pxz, out = tmp_path / "x.pxz", tmp_path / "out"
    good = world["pxz"].read_bytes()
    if case == "empty":
        pxz.write_bytes(b"")
    elif case == "truncated":
        pxz.write_bytes(good[: len(good) // 2])
    elif case == "garbage":
        pxz.write_bytes(b"PXAR" + bytes(range(256)))
    elif case == "a-directory":
        pxz.mkdir()
    elif case == "output-is-a-file":
        pxz.write_bytes(good)
        out.write_text("I am a file")
    assert_one_error_line(cli("decompress", world["run"], pxz, "-o", out), capsys.readouterr().err)


# -- bad flag values ---------------------------------------------------------------------------

TRAIN = ["train", "--data", "digits-binary", "--num-layers", "1", "--hidden-channels", "4", "--steps", "1", "--quiet"]

FLAG_CASES: dict[str, Callable[[Path, Path], list]] = {
    # sample
    "sample-n-negative": lambda r, t: ["sample", r, "-n", "-1"],
    "sample-n-zero": lambda r, t: ["sample", r, "-n", "0"],
    "sample-n-negative-with-label": lambda r, t: ["sample", r, "-n", "-1", "--label", "0"],
    "sample-n-not-a-number": lambda r, t: ["sample", r, "-n", "many"],
    "sample-temperature-zero": lambda r, t: ["sample", r, "--temperature", "0"],
    "sample-temperature-negative": lambda r, t: ["sample", r, "--temperature", "-1"],
    "sample-temperature-nan": lambda r, t: ["sample", r, "--temperature", "nan"],
    "sample-temperature-inf": lambda r, t: ["sample", r, "--temperature", "inf"],
    "sample-batch-size-zero": lambda r, t: ["sample", r, "--batch-size", "0"],
    "sample-label-negative": lambda r, t: ["sample", r, "-n", "1", "--label", "-1"],
    "sample-label-unconditional": lambda r, t: ["sample", r, "-n", "1", "--label", "3"],
    "sample-seed-huge": lambda r, t: ["sample", r, "-n", "1", "--seed", str(2**70)],
    "sample-method-unknown": lambda r, t: ["sample", r, "--method", "magic"],
    "sample-device-unknown": lambda r, t: ["sample", r, "--device", "tpu"],
    "sample-output-a-directory": lambda r, t: ["sample", r, "-n", "1", "-o", t, "--quiet"],
    "sample-output-under-a-file": lambda r, t: ["sample", r, "-o", r / "train_config.json" / "s.png", "--quiet"],
    "sample-npy-a-directory": lambda r, t: ["sample", r, "-n", "1", "-o", t / "s.png", "--npy", t, "--quiet"],
    # eval
    "eval-batch-size-zero": lambda r, t: ["eval", r, "--batch-size", "0"],
    "eval-split-unknown": lambda r, t: ["eval", r, "--split", "validation"],
    "eval-data-unknown": lambda r, t: ["eval", r, "--data", "imagenet1k"],
    "eval-data-8bit-for-binary-model": lambda r, t: ["eval", r, "--data", "digits"],
    "eval-folder-missing": lambda r, t: ["eval", r, "--data", f"folder:{t / 'nothing'}"],
    "eval-folder-image-size-zero": lambda r, t: ["eval", r, "--data", f"folder:{t}", "--image-size", "0"],
    "eval-device-unknown": lambda r, t: ["eval", r, "--device", "tpu"],
    # complete
    "complete-n-zero": lambda r, t: ["complete", r, "--count", "1", "-n", "0"],
    "complete-n-negative": lambda r, t: ["complete", r, "--count", "1", "-n", "-1"],
    "complete-count-zero": lambda r, t: ["complete", r, "--count", "0"],
    "complete-count-negative": lambda r, t: ["complete", r, "--count", "-3"],
    "complete-keep-rows-negative": lambda r, t: ["complete", r, "--count", "1", "--keep-rows", "-1"],
    "complete-keep-rows-too-many": lambda r, t: ["complete", r, "--count", "1", "--keep-rows", "99"],
    "complete-temperature-zero": lambda r, t: ["complete", r, "--count", "1", "--temperature", "0"],
    "complete-batch-size-zero": lambda r, t: ["complete", r, "--count", "1", "--batch-size", "0"],
    "complete-split-unknown": lambda r, t: ["complete", r, "--split", "nope"],
    "complete-data-unknown": lambda r, t: ["complete", r, "--data", "nope"],
    "complete-label-unconditional": lambda r, t: ["complete", r, "--count", "1", "-n", "1", "--label", "2", "--quiet"],
    "complete-mask-and-keep-rows": lambda r, t: ["complete", r, "--mask", "m.png", "--keep-rows", "2"],
    "complete-output-a-directory": lambda r, t: ["complete", r, "--count", "1", "-n", "1", "-o", t, "--quiet"],
    # compress
    "compress-label-unconditional": lambda r, t: ["compress", r, "{npy}", "--label", "1", "-o", t / "x.pxz"],
    "compress-label-negative": lambda r, t: ["compress", r, "{npy}", "--label", "-1", "-o", t / "x.pxz"],
    "compress-output-a-directory": lambda r, t: ["compress", r, "{npy}", "-o", t],
    "compress-no-images": lambda r, t: ["compress", r],
    "compress-method-unknown": lambda r, t: ["compress", r, "{npy}", "--method", "zip"],
    # decompress
    "decompress-no-file": lambda r, t: ["decompress", r],
    # list and the command itself
    "list-unknown": lambda r, t: ["list", "everything"],
    "no-command": lambda r, t: [],
    "unknown-command": lambda r, t: ["fit", r],
    # train, new runs
    "train-batch-size-zero": lambda r, t: [*TRAIN, "--batch-size", "0", "--out", t / "n"],
    "train-batch-size-negative": lambda r, t: [*TRAIN, "--batch-size", "-4", "--out", t / "n"],
    "train-steps-negative": lambda r, t: [*TRAIN, "--steps", "-1", "--out", t / "n"],
    "train-steps-zero": lambda r, t: [*TRAIN, "--steps", "0", "--out", t / "n"],
    "train-lr-negative": lambda r, t: [*TRAIN, "--lr", "-1", "--out", t / "n"],
    "train-lr-zero": lambda r, t: [*TRAIN, "--lr", "0", "--out", t / "n"],
    "train-lr-nan": lambda r, t: [*TRAIN, "--lr", "nan", "--out", t / "n"],
    "train-ema-one": lambda r, t: [*TRAIN, "--ema", "1", "--out", t / "n"],
    "train-grad-clip-negative": lambda r, t: [*TRAIN, "--grad-clip", "-1", "--out", t / "n"],
    "train-eval-every-negative": lambda r, t: [*TRAIN, "--eval-every", "-1", "--out", t / "n"],
    "train-eval-images-negative": lambda r, t: [*TRAIN, "--eval-images", "-1", "--out", t / "n"],
    "train-checkpoint-every-negative": lambda r, t: [*TRAIN, "--checkpoint-every", "-1", "--out", t / "n"],
    "train-num-samples-negative": lambda r, t: [*TRAIN, "--num-samples", "-1", "--out", t / "n"],
    "train-max-minutes-zero": lambda r, t: [*TRAIN, "--max-minutes", "0", "--out", t / "n"],
    "train-seed-huge": lambda r, t: [*TRAIN, "--seed", str(2**62), "--out", t / "n"],
    "train-optimizer-unknown": lambda r, t: [*TRAIN, "--optimizer", "sgd", "--out", t / "n"],
    "train-channels-two": lambda r, t: [*TRAIN, "--channels", "2", "--out", t / "n"],
    "train-image-size-zero": lambda r, t: [*TRAIN, "--data", f"folder:{t}", "--image-size", "0", "--out", t / "n"],
    "train-folder-missing": lambda r, t: [*TRAIN, "--data", f"folder:{t / 'x'}", "--image-size", "8", "--out", t / "n"],
    "train-preset-unknown": lambda r, t: ["train", "--preset", "huge", "--out", t / "n"],
    "train-model-unknown": lambda r, t: [*TRAIN, "--model", "pixelgan", "--out", t / "n"],
    "train-data-unknown": lambda r, t: [*TRAIN, "--data", "imagenet1k", "--out", t / "n"],
    "train-device-unknown": lambda r, t: [*TRAIN, "--device", "tpu", "--out", t / "n"],
    "train-model-arg-unknown": lambda r, t: [*TRAIN, "--model-arg", "depth=3", "--out", t / "n"],
    "train-model-arg-no-equals": lambda r, t: [*TRAIN, "--model-arg", "depth", "--out", t / "n"],
    "train-model-arg-wrong-type": lambda r, t: [*TRAIN, "--model-arg", "num_layers=abc", "--out", t / "n"],
    "train-model-arg-image-shape": lambda r, t: [*TRAIN, "--model-arg", "image_shape=[1,8,8]", "--out", t / "n"],
    "train-num-layers-negative": lambda r, t: [*TRAIN, "--num-layers", "-1", "--out", t / "n"],
    "train-hidden-channels-zero": lambda r, t: [*TRAIN, "--hidden-channels", "0", "--out", t / "n"],
    "train-steps-not-a-number": lambda r, t: [*TRAIN, "--steps", "ten"],
    "train-out-is-a-file": lambda r, t: [*TRAIN, "--out", r / "train_config.json"],
    "train-out-holds-a-run": lambda r, t: [*TRAIN, "--out", r],
    # train --resume
    "resume-missing": lambda r, t: ["train", "--resume", t / "nothing", "--quiet"],
    "resume-not-a-run": lambda r, t: ["train", "--resume", t, "--quiet"],
    "resume-a-saved-model": lambda r, t: ["train", "--resume", r / "model", "--quiet"],
    "resume-steps-zero": lambda r, t: ["train", "--resume", r, "--steps", "0", "--quiet"],
    "resume-changing-a-setting": lambda r, t: ["train", "--resume", r, "--batch-size", "8", "--quiet"],
    "resume-with-a-preset": lambda r, t: ["train", "--resume", r, "--preset", "demo", "--quiet"],
}


@pytest.mark.parametrize("case", list(FLAG_CASES))
def test_bad_flag_value(world, tmp_path, capsys, monkeypatch, case):
    monkeypatch.chdir(tmp_path)  # default outputs (samples.png, completions.png, runs/) land here, if anywhere
    argv = [world["npy"] if a == "{npy}" else a for a in FLAG_CASES[case](world["run"], tmp_path)]
    assert_one_error_line(cli(*argv), capsys.readouterr().err)
    assert not (tmp_path / "n" / "checkpoint.pt").exists()


CHECKPOINT_DAMAGE: dict[str, Callable[[Path], None]] = {
    "empty": lambda r: _write(r / "checkpoint.pt", b""),
    "garbage": lambda r: _write(r / "checkpoint.pt", b"garbage" * 20),
    "truncated": lambda r: _truncate(r / "checkpoint.pt"),
    "a-list": lambda r: torch.save([1, 2, 3], r / "checkpoint.pt"),
    "keys-missing": lambda r: torch.save({"model": {}}, r / "checkpoint.pt"),
    "another-model": lambda r: torch.save(
        {**torch.load(r / "checkpoint.pt", weights_only=True), "model": {"w": torch.zeros(2)}}, r / "checkpoint.pt"
    ),
    "step-not-a-number": lambda r: torch.save(
        {**torch.load(r / "checkpoint.pt", weights_only=True), "step": "ten"}, r / "checkpoint.pt"
    ),
    "code-in-pickle": lambda r: torch.save({"model": _Evil()}, r / "checkpoint.pt"),
    "config-garbage": lambda r: _write(r / "train_config.json", b"\x89PNG garbage"),
    "config-a-list": lambda r: _write(r / "train_config.json", "[1, 2]"),
    "config-batch-size-zero": lambda r: _write(
        r / "train_config.json", json.dumps({**json.loads((r / "train_config.json").read_text()), "batch_size": 0})
    ),
    "config-model-args-a-string": lambda r: _write(
        r / "train_config.json", json.dumps({**json.loads((r / "train_config.json").read_text()), "model_args": "x"})
    ),
    "metrics-a-directory": lambda r: ((r / "metrics.jsonl").unlink(), (r / "metrics.jsonl").mkdir()),
}


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.parametrize("damage", list(CHECKPOINT_DAMAGE))
def test_resume_a_damaged_run(world, tmp_path, capsys, damage):
    run = tmp_path / "run"
    shutil.copytree(world["run"], run)
    CHECKPOINT_DAMAGE[damage](run)
    assert_one_error_line(cli("train", "--resume", run, "--steps", "3", "--quiet"), capsys.readouterr().err)
    assert "pwned" not in capsys.readouterr().out


# -- for real: a separate process -----------------------------------------------------------


def test_python_dash_m_pixelar_runs_the_cli(world, tmp_path):
    """Defect: 'python -m pixelar' (and so 'torchrun -m pixelar') said No module named pixelar.__main__."""
    ok = subprocess.run([sys.executable, "-m", "pixelar", "list", "models"], capture_output=True, text=True)
    assert ok.returncode == 0 and "pixelcnn" in ok.stdout, ok.stderr
    run = _damaged_run(world, tmp_path, "weights-truncated")
    bad = subprocess.run(
        [sys.executable, "-m", "pixelar", "sample", str(run), "-n", "1", "-o", str(tmp_path / "s.png")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    lines = [ln for ln in bad.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "corrupt or truncated" in lines[0], bad.stderr


# -- the library names parameters, the CLI names flags -----------------------------------------


@pytest.mark.parametrize(
    "text,params,expected",
    [
        (
            "x already holds a run; pass resume=True, or choose a new run_dir",
            ("resume", "run_dir"),
            "x already holds a run; pass --resume, or choose a new --out",
        ),
        (
            "/d/values/a.png: pass values='levels' if it holds levels",
            ("values",),
            "/d/values/a.png: pass --values levels if it holds levels",
        ),
        (
            "continue it with pixelar.training.resume_run('/r/run')",
            ("resume_run",),
            "continue it with pixelar train --resume /r/run",
        ),
        (
            "batch_size must be a positive integer, got 0",
            ("batch_size",),
            "--batch-size must be a positive integer, got 0",
        ),
        (  # a parameter without a flag of its own keeps its name
            "num_components must be a positive integer, got 0",
            ("num_components",),
            "num_components must be a positive integer, got 0",
        ),
        ("start a new run (resume=False)", ("resume",), "start a new run (without --resume)"),
        ("pass image_size (e.g. image_size=32).", ("image_size",), "pass --image-size (e.g. --image-size 32)."),
        ("pass values='levels'", (), "pass values='levels'"),  # only the parameters the error names
    ],
)
def test_cli_spells_the_parameters_of_an_error_as_flags(text, params, expected):
    from pixelar.cli.errors import message

    assert message(pixelar.PixelarError(text, param=params)) == expected


def test_library_error_names_the_parameter_and_the_cli_the_flag(world, capsys):
    with pytest.raises(pixelar.PixelarError) as raised:
        train(tiny_train_config(batch_size=4, steps=2), world["run"], progress=False)
    assert "pass resume=True" in str(raised.value) and "--resume" not in str(raised.value)
    line = assert_one_error_line(cli(*TRAIN, "--out", world["run"]), capsys.readouterr().err)
    assert "pass --resume" in line and "resume=True" not in line and "new --out" in line


def test_model_hyperparameter_errors_name_the_flag(world, tmp_path, capsys):
    """A model's own check names its parameter (num_layers); the CLI says the flag that set it."""
    with pytest.raises(pixelar.PixelarError, match="num_layers must be"):
        pixelar.create_model("pixelcnn", num_layers=-1)
    line = assert_one_error_line(cli(*TRAIN, "--num-layers", "-1", "--out", tmp_path / "n"), capsys.readouterr().err)
    assert "--num-layers must be" in line and "num_layers" not in line
