"""What a run shows of itself: sample grids over time (samples/), the TensorBoard log
(train --tensorboard) and the HTML report (pixelar report), on one tiny trained run."""

from __future__ import annotations

import dataclasses
import html
import json
import math
import re
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import pixelar
from helpers import tiny_train_config
from pixelar.cli import main
from pixelar.cli.parser import TENSORBOARD_IN_RUN, build_parser
from pixelar.data import get_dataset
from pixelar.metrics import bits_per_dim
from pixelar.run_report import write_report
from pixelar.training import TrainConfig, Trainer, read_metrics, sample_grids, train

# helpers.tiny_train_config's tiny PixelCNN on the binary digits, with a test evaluation every 2
# of its 6 steps: sample grids at steps 2, 4 and 6 (the end). (A PixelCNN samples 28×28 images in
# milliseconds; PixelCNN++, the model with dropout, takes seconds per image here.)
SETTINGS = dict(eval_every=2, steps=6)
CLI_TRAIN = [
    "train", "--model", "pixelcnn", "--num-layers", "1", "--hidden-channels", "4", "--data", "digits-binary",
    "--batch-size", "8", "--steps", "6", "--eval-every", "2", "--eval-images", "16", "--checkpoint-every", "3",
    "--log-every", "1", "--num-samples", "4", "--quiet",
]  # fmt: skip
GRID_STEPS = [2, 4, 6]


def cli(*argv) -> int:
    """main() in-process; argparse's usage errors raise SystemExit, which is the same exit status."""
    try:
        return main([str(a) for a in argv])
    except SystemExit as e:
        return e.code


def one_error_line(code: int, err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    return lines[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """The run trained with sample grids and --tensorboard (no value: RUN_DIR/tensorboard), and
    the same run trained as a library call without either."""
    d = tmp_path_factory.mktemp("runs")
    assert main([*CLI_TRAIN, "--tensorboard", "--out", str(d / "shown")]) == 0
    train(tiny_train_config(**SETTINGS), d / "plain", progress=False)
    return {"shown": d / "shown", "plain": d / "plain"}


def _config(run: Path) -> TrainConfig:
    return TrainConfig.from_json((run / "train_config.json").read_text())


# -- sample grids during training ------------------------------------------------------------


def test_sample_grids_are_written_at_every_evaluation_and_at_the_end(runs):
    run = runs["shown"]
    grids = sample_grids(run)
    assert [step for step, _ in grids] == GRID_STEPS
    assert [path.name for _, path in grids] == ["step_0000002.png", "step_0000004.png", "step_0000006.png"]
    assert not list((run / "samples").glob(".*"))  # atomic writes leave no temporary files
    # the last grid is the final model's: the same images as samples.png (4 samples, the run's seed)
    assert np.array_equal(np.asarray(Image.open(grids[-1][1])), np.asarray(Image.open(run / "samples.png")))
    assert not (runs["plain"] / "samples").exists()  # num_samples=0: no grids


def test_grids_and_tensorboard_do_not_change_the_training_numbers(runs):
    """The same settings but for num_samples and tensorboard: the same losses and weights."""
    shown, plain = _config(runs["shown"]), _config(runs["plain"])
    assert dataclasses.replace(shown, num_samples=0, tensorboard=None) == plain
    losses = [
        [
            (rec["step"], rec.get("train_loss"), rec.get("test_loss"))
            for rec in read_metrics(runs[name] / "metrics.jsonl")
        ]
        for name in ("shown", "plain")
    ]
    assert losses[0] == losses[1] and len(losses[0]) == 6 + 2 + 1  # 6 training losses, 2 evaluations, the final one
    a, b = pixelar.load(runs["shown"]), pixelar.load(runs["plain"])
    for (key, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(v, w), key


def test_a_resumed_run_drops_the_grids_after_its_checkpoint(runs, tmp_path):
    """Grids of steps after the checkpoint (drawn by a run that then crashed) are dropped, the
    others kept, and the end of the run draws its grid again."""
    run = tmp_path / "run"
    shutil.copytree(runs["shown"], run, ignore=shutil.ignore_patterns("tensorboard"))
    config = _config(run)
    config.tensorboard = None
    stale = run / "samples" / "step_0000009.png"
    shutil.copyfile(run / "samples" / "step_0000002.png", stale)
    (run / "samples" / "step_0000006.png").unlink()
    train(config, run, resume=True, progress=False)  # checkpoint at step 6: nothing left to train
    assert [step for step, _ in sample_grids(run)] == GRID_STEPS


# -- TensorBoard -------------------------------------------------------------------------------


def test_tensorboard_logs_losses_lr_throughput_and_sample_grids(runs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = runs["shown"]
    assert _config(run).tensorboard == str(run / "tensorboard")  # the flag without a value
    log = EventAccumulator(str(run / "tensorboard"))
    log.Reload()
    tags = log.Tags()
    losses = [
        f"{split}/{name}" for split in ("train", "test", "final") for name in ("loss", "nats_per_image", "bits_per_dim")
    ]
    assert {*losses, "train/lr", "train/images_per_second"} <= set(tags["scalars"]), tags["scalars"]
    assert [e.step for e in log.Scalars("train/loss")] == [1, 2, 3, 4, 5, 6]
    assert [e.step for e in log.Scalars("test/loss")] == [2, 4]
    assert [e.step for e in log.Scalars("final/loss")] == [6]
    records = read_metrics(run / "metrics.jsonl")
    train_losses = [rec["train_loss"] for rec in records if "train_loss" in rec]
    assert [e.value for e in log.Scalars("train/loss")] == pytest.approx(train_losses, rel=1e-6)  # float32 in the log
    final = next(rec for rec in records if rec.get("final"))
    assert log.Scalars("final/nats_per_image")[0].value == pytest.approx(final["test_loss"], rel=1e-6)  # binary: nats
    assert log.Scalars("final/bits_per_dim")[0].value == pytest.approx(bits_per_dim(final["test_loss"], (1, 28, 28)))
    assert [e.value for e in log.Scalars("train/lr")] == pytest.approx([1e-3] * 6)
    assert all(e.value > 0 for e in log.Scalars("train/images_per_second"))
    images = log.Images("samples")
    assert [e.step for e in images] == GRID_STEPS
    with Image.open(run / "samples" / "step_0000006.png") as grid:
        assert (images[-1].width, images[-1].height) == grid.size


def test_tensorboard_flag_value_and_validation():
    parser = build_parser()
    assert parser.parse_args(["train"]).tensorboard is None
    assert parser.parse_args(["train", "--tensorboard"]).tensorboard == TENSORBOARD_IN_RUN
    assert parser.parse_args(["train", "--tensorboard", "logs/tb", "--steps", "2"]).tensorboard == "logs/tb"
    with pytest.raises(pixelar.PixelarError, match="tensorboard must be a log directory") as info:
        tiny_train_config(tensorboard="").validate()
    assert info.value.params == ("tensorboard",)


def test_missing_tensorboard_package_is_one_line_when_the_trainer_starts(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # what import finds when it is not installed
    with pytest.raises(pixelar.PixelarError, match=r"pip install 'pixelar\[tensorboard\]'") as info:
        Trainer(tiny_train_config(tensorboard=str(tmp_path / "tb")), tmp_path / "run", progress=False)
    assert "\n" not in str(info.value)
    code = cli(*CLI_TRAIN, "--steps", "1", "--tensorboard", "--out", tmp_path / "run")
    line = one_error_line(code, capsys.readouterr().err)
    assert "pixelar[tensorboard]" in line
    assert not (tmp_path / "tb").exists() and not (tmp_path / "run").exists()  # before any work


# -- the HTML report ---------------------------------------------------------------------------


class _Images(HTMLParser):
    """The src of every <img> and every tag name of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "img":
            self.sources.append(dict(attrs)["src"] or "")


def _parse(page: str) -> _Images:
    parser = _Images()
    parser.feed(page)
    return parser


def test_report_shows_curves_grids_completions_bits_config_and_final_nll(runs, capsys):
    run = runs["shown"]
    assert cli("report", run, "--images", "2", "--device", "cpu", "--quiet") == 0
    index = Path(capsys.readouterr().out.strip())
    assert index == run / "report" / "index.html"
    page = index.read_text()
    sources = _parse(page).sources
    for src in sources:  # every picture lies in the report folder, referenced relatively
        assert not Path(src).is_absolute() and ".." not in src, src
        with Image.open(index.parent / src) as picture:
            picture.verify()
    assert {"loss.png", "completions.png"} <= set(sources)
    assert [src for src in sources if src.startswith("samples/")] == [f"samples/step_{s:07d}.png" for s in GRID_STEPS]
    with Image.open(index.parent / "completions.png") as picture:  # 2 rows: input, 4 completions, original
        assert picture.size == ((6 * 29 + 1) * 3, (2 * 29 + 1) * 3)  # 28×28 panels, 1-pixel gaps, 3× upscaled
    assert {"bits_0.png", "bits_1.png"} <= set(sources)  # each test image's bits heat map ...
    test = get_dataset("digits-binary", "test").images[:2]
    bits = -pixelar.load(run).double().log_prob(test) / math.log(2)  # ... of the first test images
    for index, total in enumerate(bits.tolist()):
        shown = re.search(rf"test image {index}: ([0-9.]+) bits", page)
        assert shown and float(shown.group(1)) == pytest.approx(total, abs=0.06), (index, total)
    # the final NLL of metrics.jsonl (binary data: nats per image), in nats and bits/dim
    final = next(rec for rec in read_metrics(run / "metrics.jsonl") if rec.get("final"))
    assert f"{final['test_loss']:.3f} nats/image" in page
    assert f"{bits_per_dim(final['test_loss'], (1, 28, 28)):.4f} bits/dim" in page
    assert f"{final['test_images']:,} images" in page
    # every setting of train_config.json, as text or JSON
    for name, value in dataclasses.asdict(_config(run)).items():
        text = value if isinstance(value, str) else json.dumps(value)
        assert f'<th>{name}</th><td class="value">{html.escape(text)}</td>' in page, name
    assert f'<td class="value">{torch.__version__}</td>' in page and pixelar.__version__ in page


def test_report_escapes_what_the_run_says(runs, tmp_path):
    """A run name and a setting holding HTML cannot inject markup into the page."""
    run = tmp_path / "<script>alert(1)<"
    shutil.copytree(runs["shown"], run, ignore=shutil.ignore_patterns("tensorboard", "report"))
    hostile = "</td></table><script>alert(2)</script><img src=x onerror=alert(3)>"
    config = json.loads((run / "train_config.json").read_text())
    config["data_dir"] = hostile  # the bundled digits do not read it
    (run / "train_config.json").write_text(json.dumps(config))
    out = tmp_path / "out"
    page = write_report(run, out, images=1, progress=False).read_text()
    parsed = _parse(page)
    assert "script" not in parsed.tags and "x" not in parsed.sources
    assert "<script" not in page and "<img src=x" not in page
    assert html.escape(hostile) in page and html.escape(run.name) in page
    assert (out / "index.html").exists() and not (run / "report").exists()  # -o: only there


def test_report_errors_are_one_line(runs, tmp_path, capsys):
    model_only = runs["shown"] / "model"
    unstarted = tmp_path / "unstarted"
    shutil.copytree(runs["shown"], unstarted, ignore=shutil.ignore_patterns("model", "checkpoint.pt", "tensorboard"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x")
    cases = [
        ([tmp_path / "missing"], "does not exist"),
        ([tmp_path / "empty"], "not a training run (it holds no train_config.json)"),
        ([tmp_path / "file"], "is a file"),
        ([model_only], "is a saved model, not a training run"),
        ([unstarted], "no saved model yet"),
        ([runs["shown"], "--images", "-1"], "--images must be at least 0"),
        ([runs["shown"], "-o", tmp_path / "file"], "is a file; pass a directory for the report"),
        ([runs["shown"], "--device", "tpu"], "unknown device"),
    ]
    for args, message in cases:
        line = one_error_line(cli("report", *args, "--quiet"), capsys.readouterr().err)
        assert message in line, (args, line)
    with pytest.raises(pixelar.PixelarError, match="images must be an integer >= 0"):
        write_report(runs["shown"], tmp_path / "r", images=-2)
