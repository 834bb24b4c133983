"""Out-of-distribution scores (pixelar.ood): metrics against hand-computed cases, each score's
defining property, bad input, the experiment and its figure, and the CLI verbs end to end."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

import pixelar
import pixelar.imageio
from helpers import tiny, tiny_train_config
from pixelar.cli import main
from pixelar.codec import encode, image_nll_bits
from pixelar.data import get_dataset
from pixelar.errors import PixelarError
from pixelar.ood import (
    auprc,
    auroc,
    complexity_bits,
    estimate_entropy,
    fpr_at_tpr,
    ood_experiment,
    save_ood_result,
    score,
    typicality,
    typicality_threshold,
)
from pixelar.run_report import write_report
from pixelar.training import train


@pytest.fixture(scope="module")
def digits():
    return get_dataset("digits-binary", "test").subset(60)


@pytest.fixture(scope="module")
def model():
    return pixelar.load("digits-binary")


def test_metrics_of_a_hand_computed_case():
    inside, outside = [1.0, 2.0, 3.0], [2.0, 4.0]
    # pairs (out > in): 2>1, 4>1, 2=2 (half), 4>2, 2<3, 4>3 -> 4.5 of 6
    assert auroc(inside, outside) == pytest.approx(0.75)
    # thresholds from the top: 4 (1 out: precision 1, recall 1/2), 3, 2 (2 out, 2 in: precision 1/2, recall 1)
    assert auprc(inside, outside) == pytest.approx(0.5 * 1 + 0.5 * 0.5)
    # 80% of the OOD images are flagged first at threshold 2, which flags 2 of the 3 in-distribution ones
    assert fpr_at_tpr(inside, outside) == pytest.approx(2 / 3)
    assert auroc([0, 1], [2, 3]) == 1.0 and auroc([2, 3], [0, 1]) == 0.0 and fpr_at_tpr([0, 1], [2, 3]) == 0.0


def test_metrics_agree_with_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.integers(0, 30, rng.integers(1, 60)), rng.integers(5, 35, rng.integers(1, 60))
        y, s = np.r_[np.zeros(len(a)), np.ones(len(b))], np.r_[a, b].astype(float)
        assert auroc(a, b) == pytest.approx(metrics.roc_auc_score(y, s))
        assert auprc(a, b) == pytest.approx(metrics.average_precision_score(y, s))
        fpr, tpr, _ = metrics.roc_curve(y, s, drop_intermediate=False)
        assert fpr_at_tpr(a, b) == pytest.approx(fpr[np.argmax(tpr >= 0.8)])


def test_metrics_refuse_empty_sets_and_nan():
    with pytest.raises(PixelarError, match="needs in- and out-of-distribution scores, got 0 and 2"):
        auroc([], [1.0, 2.0])
    with pytest.raises(PixelarError, match="NaN"):
        auprc([float("nan")], [1.0])


def test_the_likelihood_ratio_of_a_model_against_itself_is_zero(model, digits):
    scores = score(model, digits, background=model)
    assert torch.equal(scores.likelihood_ratio, torch.zeros(len(digits), dtype=torch.float64))
    assert torch.allclose(scores.nll, -model.log_prob(digits.images).double(), rtol=1e-5)


def test_the_likelihood_ratio_is_the_difference_of_the_two_log_likelihoods(model, digits):
    other = tiny("pixelcnn", image_shape=(1, 28, 28), num_levels=2)
    scores = score(model, digits.images, background=other)
    with torch.no_grad():
        expected = model.log_prob(digits.images).double() - other.log_prob(digits.images).double()
    assert torch.allclose(scores.likelihood_ratio, expected, rtol=1e-4)
    assert torch.equal(scores.ood_scores()["likelihood ratio"], -scores.likelihood_ratio)


def test_a_constant_length_compressor_ranks_like_the_nll(model, digits, monkeypatch):
    monkeypatch.setattr("pixelar.ood.complexity._png", lambda image, num_levels: 100)
    scores = score(model, digits, complexity="png")
    assert torch.equal(scores.complexity["png"], torch.full((len(digits),), 800.0, dtype=torch.float64))
    corrected = scores.corrected["png"]
    assert torch.equal(corrected.argsort(), scores.nll.argsort())
    noise = torch.randint(0, 2, (20, 1, 28, 28), dtype=torch.uint8)
    out = score(model, noise, complexity="png")
    assert auroc(corrected, out.corrected["png"]) == auroc(scores.nll, out.nll)


def test_png_and_jxl_complexities_are_the_files_lengths(digits):
    pixels = digits.images[:3]
    bits = complexity_bits(pixels, 2, "png")
    assert (bits > 0).all() and (bits % 8 == 0).all()
    import io

    buffer = io.BytesIO()
    Image.fromarray(pixels[0, 0].numpy() * 255).convert("1").save(buffer, format="PNG", compress_level=9)
    assert bits[0] == 8 * buffer.tell()
    pytest.importorskip("imagecodecs")
    assert (complexity_bits(pixels, 2, "jxl") > 0).all()


def test_the_codec_complexity_is_the_payload_of_pixelar_encode_at_any_size(model, digits):
    images = digits.images[:2]
    bits = complexity_bits(images, 2, "model", model)
    for i in range(2):
        assert float(bits[i]) == pytest.approx(image_nll_bits(model, images[i : i + 1]), rel=1e-6)
        size = len(encode(model, images[i : i + 1].long())) * 8
        assert float(bits[i]) < size < float(bits[i]) + 8 * 200  # the file: its header, checks and padding
    small = digits.images[:3, :, :16, :20]  # the codec codes any size with the weights unchanged
    assert complexity_bits(small, 2, "model", model).shape == (3,)
    assert model.image_shape == (1, 28, 28)


def test_typicality_statistic_and_its_bootstrap_threshold():
    nll = torch.tensor([1.0, 3.0, 5.0, 7.0, 9.0], dtype=torch.float64)
    assert torch.equal(typicality(nll, 4.0), torch.tensor([3.0, 1.0, 1.0, 3.0, 5.0], dtype=torch.float64))
    assert torch.equal(typicality(nll, 4.0, batch=2), torch.tensor([2.0, 2.0, 5.0], dtype=torch.float64))
    reference = torch.randn(1000, generator=torch.Generator().manual_seed(0)).double() + 50
    one, ten = typicality_threshold(reference, 50.0, 1), typicality_threshold(reference, 50.0, 10)
    assert 2.0 < one < 3.2 and ten < one  # |N(0, 1)|'s 99% quantile 2.58; a mean of 10 is tighter
    with pytest.raises(PixelarError, match="batch must be >= 1"):
        typicality(nll, 4.0, batch=0)


def test_scores_of_a_dataset_and_of_its_tensor_agree(model, digits):
    entropy = estimate_entropy(model, get_dataset("digits-binary", "train").subset(50))
    a = score(model, digits, complexity=["png"], entropy=entropy)
    b = score(model, digits.images, complexity=["png"], entropy=entropy)
    for key, column in a.columns().items():
        assert torch.equal(column, b.columns()[key]), key
    assert torch.equal(a.typicality, (a.nll - entropy).abs())


@pytest.mark.parametrize(
    "images,options,message",
    [
        (torch.zeros(2, 1, 16, 16, dtype=torch.uint8), {}, r"expects \[batch, 1, 28, 28\]"),
        (torch.full((2, 1, 28, 28), 7, dtype=torch.uint8), {}, r"the model has 2 levels \[0, 2\); quantise"),
        (torch.zeros(0, 1, 28, 28, dtype=torch.uint8), {}, "no images to score"),
        (None, {"complexity": "gzip"}, "unknown complexity 'gzip'"),
        (None, {"complexity": "model"}, "pass complexity_model"),
        (None, {"complexity": "png", "complexity_model": "self"}, "complexity 'model' only"),
        (None, {"background": "8bit"}, "train the background on the model's data"),
    ],
)
def test_bad_input_gets_one_line_errors(model, digits, images, options, message):
    images = digits.images[:2] if images is None else images
    if options.get("complexity_model") == "self":
        options = {**options, "complexity_model": model}
    if options.get("background") == "8bit":
        options = {"background": tiny("pixelcnn", image_shape=(1, 28, 28), num_levels=256)}
    with pytest.raises(PixelarError, match=message) as error:
        score(model, images, **options)
    assert "\n" not in str(error.value)


def test_the_experiment_separates_noise_from_digits_and_draws_its_figure(model, digits, tmp_path):
    noise = torch.randint(0, 2, (30, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    reference = get_dataset("digits-binary", "train").subset(100)
    result = ood_experiment(model, digits, noise, complexity=["png"], reference=reference, names=("digits", "noise"))
    assert set(result.metrics) == {"likelihood", "complexity (png)", "typicality"}
    assert all(m["auroc"] > 0.99 for m in result.metrics.values())
    data, figure = save_ood_result(result, tmp_path)
    saved = json.loads(data.read_text())
    assert saved["images"] == {"in": 60, "out": 30} and saved["metrics"] == result.metrics
    with Image.open(figure) as picture:
        assert picture.width > 500 and picture.height > 200


def _noise_folder(tmp_path, count=12):
    folder = tmp_path / "noise"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray((rng.integers(0, 2, (28, 28)) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    return folder


def test_cli_score_and_ood_end_to_end_and_the_report_shows_the_results(tmp_path, capsys):
    run = tmp_path / "run"
    train(tiny_train_config(steps=3, model_args={"num_layers": 1, "hidden_channels": 4}), run, progress=False)
    folder = _noise_folder(tmp_path)
    files = [str(folder / "0.png"), str(folder / "1.png")]
    out_csv = tmp_path / "scores.csv"
    assert (
        main(
            ["score", str(run), *files, "--background", str(run), "--complexity", "png", "-o", str(out_csv), "--quiet"]
        )
        == 0
    )
    rows = list(csv.DictReader(out_csv.open()))
    assert [row["image"] for row in rows] == files and float(rows[0]["likelihood_ratio_nats"]) == 0.0
    assert {"nll_nats", "bits_per_dim", "complexity_png_bits", "corrected_png_bits"} <= set(rows[0])
    coded = ["--complexity", "model", "--complexity-model", "digits-binary", "-o", str(out_csv), "--quiet"]
    assert main(["score", str(run), files[0], *coded]) == 0
    (row,) = csv.DictReader(out_csv.open())
    image = pixelar.imageio.read_images(files[:1], 1, 2)
    with torch.no_grad():
        expected = -float(pixelar.load("digits-binary").log_prob(image)) / np.log(2)
    assert float(row["complexity_model_bits"]) == pytest.approx(expected, rel=1e-5)
    command = ["ood", str(run), "--out-data", f"folder:{folder}", "--count", "20", "--reference", "20", "--quiet"]
    assert main([*command, "--complexity", "png"]) == 0
    printed = capsys.readouterr().out
    assert "likelihood" in printed and "typicality" in printed and "AUROC" in printed
    assert (run / "ood" / "ood.json").is_file() and (run / "ood" / "ood.png").is_file()
    page = write_report(run, images=0, progress=False).read_text()
    assert "Out-of-distribution scores" in page and "ood.png" in page


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--complexity", "model"], "--complexity model and --complexity-model RUN go together"),
        (["--complexity", "png,bz2"], "unknown --complexity bz2"),
        (["--batch-size", "0"], "--batch-size"),
    ],
)
def test_cli_refuses_bad_flags_in_one_line(flags, message, tmp_path, capsys):
    folder = _noise_folder(tmp_path, 1)
    assert main(["score", "digits-binary", str(folder / "0.png"), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_class_conditional_model_scores_the_marginal_over_its_classes(digits):
    model = tiny("gated-pixelcnn", image_shape=(1, 28, 28), num_levels=2, num_classes=3)
    x = digits.images[:4]
    with torch.no_grad():
        each = torch.stack([model.log_prob(x, torch.full((4,), y)) for y in range(3)]).double()
    expected = -(each.logsumexp(0) - np.log(3))
    scores = score(model, digits.subset(4))  # the dataset's labels are not read
    assert torch.allclose(scores.nll, expected, rtol=1e-6)
    given = score(model, x, cond=torch.tensor([0, 1, 2, 0]))
    assert torch.allclose(given.nll, -each[[0, 1, 2, 0], range(4)], rtol=1e-6)


def test_the_complexity_model_must_have_the_images_channels_and_levels(digits):
    eight_bit = tiny("pixelcnn", image_shape=(1, 28, 28), num_levels=256)
    with pytest.raises(PixelarError, match="of 256 levels, these have 1 channel") as error:
        complexity_bits(digits.images[:2], 2, "model", eight_bit)
    assert error.value.params == ("complexity_model",)


def test_bad_sets_and_settings_of_the_experiment_get_one_line_errors(model, digits):
    with pytest.raises(PixelarError, match="the set noise holds no images"):
        ood_experiment(model, digits, torch.zeros(0, 1, 28, 28, dtype=torch.uint8), names=("digits", "noise"))
    eight_bit = get_dataset("digits", "test").subset(5)
    with pytest.raises(PixelarError, match="has 256 levels per sub-pixel but the model has 2"):
        ood_experiment(model, digits, eight_bit)
    with pytest.raises(PixelarError, match="typicality_batch must be >= 1"):
        ood_experiment(model, digits, digits, typicality_batch=0)
    for kwargs in ({"resamples": 0}, {"alpha": 2.0}, {"batch": 0}):
        with pytest.raises(PixelarError, match="the threshold needs"):
            typicality_threshold(torch.ones(10), 1.0, **{"batch": 1, **kwargs})
    with pytest.raises(PixelarError, match="batch_size must be >= 1"):
        score(model, digits, batch_size=0)


def test_the_batched_typicality_test_is_measured_beside_the_per_image_one(model, digits):
    noise = torch.randint(0, 2, (60, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    reference = get_dataset("digits-binary", "train").subset(100)
    result = ood_experiment(model, digits, noise, reference=reference, typicality_batch=5, settings={"split": "test"})
    assert "typicality (M=5)" in result.metrics and result.metrics["typicality (M=5)"]["auroc"] == 1.0
    assert result.to_json()["settings"] == {"split": "test"}


def test_cli_scores_npy_arrays_image_by_image_and_refuses_a_background_of_another_size(tmp_path, capsys):
    arrays = tmp_path / "digits.npy"
    np.save(arrays, get_dataset("digits-binary", "test").images[:3].numpy())
    out_csv = tmp_path / "scores.csv"
    assert main(["score", "digits-binary", str(arrays), "-o", str(out_csv), "--quiet"]) == 0
    assert [row["image"] for row in csv.DictReader(out_csv.open())] == [f"{arrays}[{i}]" for i in range(3)]
    small = tmp_path / "small"
    tiny("pixelcnn", image_shape=(1, 16, 16), num_levels=2).save_pretrained(small)
    capsys.readouterr()
    assert main(["score", "digits-binary", str(arrays), "--background", str(small)]) == 2
    err = capsys.readouterr().err
    assert "the background model takes 1×16×16 images" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--out-data", "mnist", "--count", "-1"], "--count"),
        (["--out-data", "mnist", "--typicality-batch", "0"], "--typicality-batch"),
        (["--out-data", "no-such-data"], "unknown dataset 'no-such-data'"),
    ],
)
def test_cli_ood_refuses_bad_flags_in_one_line(flags, message, capsys):
    assert main(["ood", "digits-binary", *flags, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_ood_with_a_saved_model_asks_for_in_data(tmp_path, capsys):
    saved = tmp_path / "saved"
    pixelar.load("digits-binary").save_pretrained(saved)
    assert main(["ood", str(saved), "--out-data", "digits-binary", "--quiet"]) == 2
    assert "pass --in-data NAME" in capsys.readouterr().err
