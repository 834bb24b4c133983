"""The decoder's work is bounded by what the payload carries (issue 28): a few bytes never buy
hours of decoding, a naive stepper the encoder never uses is refused, a corrupted stream is
noticed after about one row's work in a large image, and every file under 64 bytes is decoded or
refused with bounded work, whatever it declares, for every model family (pixelar.codec.schedule).

Work is counted, not timed: the probability rows (sub-pixels) and the steps (calls for rows)
the decoder asks for, in the units of the model's stepper (a family's step_work); a generous
wall-time bound is a second check. What a unit takes, per family, is measured by
benchmarks/soak_codec_small.py."""

from __future__ import annotations

import dataclasses
import time
from contextlib import contextmanager

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers import MODELS, tiny
from pixelar import portable as integer
from pixelar.codec import coding, decode, decode_images, encode, images_digest, read_header, schedule
from pixelar.codec.schedule import FREE, LARGE, RATE, STEP, budget, fast_work, least_work
from pixelar.errors import PixelarError
from pixelar.models.base import MAX_SIDE
from test_codec_fuzz import OPS, Case, decodes_to, head_length, mutate, split, without_fast_sampler

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (conftest)

FUZZ_MODEL = {"num_layers": 1, "hidden_channels": 4}  # the fuzz's models
SMALL = 64  # bytes: every file under this is decoded or refused with bounded work
WALL = 5.0  # seconds: a generous bound on what takes well under 1 s


@contextmanager
def counting():
    """Count the decoder's steps (calls for probability rows, on the float and the portable
    path), their rows (sub-pixels) and the rows of the last step."""
    counts = {"steps": 0, "rows": 0, "last": 0}
    floats, integers = coding._probabilities, integer.probabilities

    def count_rows(probabilities):
        def wrapped(logits):
            rows = probabilities(logits)
            counts["steps"] += 1
            counts["rows"] += len(rows)
            counts["last"] = len(rows)
            return rows

        return wrapped

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(coding, "_probabilities", count_rows(floats))
        mp.setattr(integer, "probabilities", count_rows(integers))
        yield counts


def refused_before_work(model, data: bytes, match: str) -> None:
    """Decoding ``data`` raises a one-line PixelarError matching ``match`` before any model work."""
    start = time.perf_counter()
    with counting() as counts, pytest.raises(PixelarError, match=match) as info:
        decode_images(model, data)
    assert counts["steps"] == 0 and "\n" not in str(info.value), (counts, info.value)
    assert time.perf_counter() - start < WALL


def binary_model(seed: int = 11) -> torch.nn.Module:
    return tiny("pixelcnn", (1, 4, 4), 2, seed=seed, **FUZZ_MODEL).float()


def confident_model() -> torch.nn.Module:
    """A binary model sure of every sub-pixel being 0: blank images cost no bits."""
    model = binary_model()
    with torch.no_grad():
        model.head.out.weight.zero_()
        model.head.out.bias.fill_(-40.0)
    return model


def repacked(data: bytes, model, version: int | None = None, **changes) -> bytes:
    """``data`` with header fields changed (the payload kept)."""
    header, payload = read_header(data, model.image_shape[1:])
    header = dataclasses.replace(header, **changes, **({} if version is None else {"version": version}))
    return header.pack() + payload


# -- a few bytes never buy hours --------------------------------------------------------------


@pytest.mark.parametrize("version", [5, 4])
def test_a_27_byte_file_declaring_8192_by_8192_is_refused_before_any_model_work(version):
    """The issue's file: one 8192×8192 binary image (2^26 sub-pixels, the default limit) in 27
    bytes. Its sub-pixels alone (3 units each for a binary PixelCNN) take more work than 16
    payload bytes buy, in either format."""
    model = binary_model()
    data = encode(model, [torch.randint(0, 2, (1, 3, 5), generator=torch.Generator().manual_seed(0))])
    hostile = repacked(data, model, version, sizes=[(8192, 8192)], own_size=False)
    hostile += bytes(27 - len(hostile))  # zero bytes, which the decoder reads anyway
    zeros = hostile[: head_length(hostile)] + bytes(16)
    for file in (hostile, zeros):
        assert len(file) == 27 and read_header(file)[0].sizes == [(8192, 8192)]
        refused_before_work(model, file, "takes at least 201326592 units of work, more than its payload of 16 byte")


@pytest.mark.parametrize("version", [5, 4])
def test_a_naive_stepper_the_encoder_never_uses_is_refused(version):
    """The encoder codes with the fast stepper wherever the model has one (method "naive"
    included), so a file naming the naive stepper for such a model is refused before any model
    work (the issue's 256×256 naive file ran past 120 s)."""
    model = binary_model()
    image = torch.randint(0, 2, (1, 256, 256), generator=torch.Generator().manual_seed(1))
    data = encode(model, [image], method="naive")
    assert read_header(data)[0].method == "fast"
    refused_before_work(model, repacked(data, model, version, method="naive"), "naive sampler, which the encoder never")


def test_naive_files_pay_for_their_full_passes():
    """For a model without a fast sampler the naive stepper is genuine, and each of its rows
    costs 2·H·W units: a 256×256 naive file needs a payload of megabytes."""
    model = without_fast_sampler(binary_model())
    data = encode(binary_model(), [torch.zeros(1, 256, 256, dtype=torch.long)])
    naive = repacked(data, model, method="naive")
    refused_before_work(model, naive, f"takes at least {2**16 * 2**17} units of work")


# -- a corrupted stream is noticed after about one row ------------------------------------------


@pytest.fixture(scope="module")
def tall() -> tuple[torch.nn.Module, torch.Tensor, bytes]:
    """A 1,000-row image (1000×100, random binary) from a fuzz model: one chunk of 10^5
    sub-pixels, so it carries intermediate checks."""
    model = binary_model()
    image = torch.randint(0, 2, (1, 1000, 100), generator=torch.Generator().manual_seed(2))
    return model, image, encode(model, [image])


def test_a_corrupted_first_row_is_refused_after_about_one_rows_work(tall):
    model, image, data = tall
    assert image.numel() >= LARGE and torch.equal(decode(model, data)[0], image)
    head = head_length(data)
    row, step = fast_work(model)
    one_row = 100 * (row + step)  # E: the work of one row of the image, a step per sub-pixel
    for i in (0, 2, 5):  # a bit flipped in the bytes of the first row (about 1 bit per sub-pixel)
        corrupt = data[: head + i] + bytes([data[head + i] ^ 0x10]) + data[head + i + 1 :]
        with counting() as counts, pytest.raises(PixelarError, match="did not reproduce images 0–0"):
            decode_images(model, corrupt)
        work = row * counts["rows"] + step * counts["steps"]
        assert work <= 2 * one_row and counts["rows"] < image.numel() // 50, (i, counts)


def test_format_4_files_still_decode():
    """A format-4 file (written by the previous pixelar, portable: it decodes on any set-up)
    decodes as it did, with no intermediate checks; read as format 5, the same bytes fail the
    first intermediate check, after about one row of its 256×256 image."""
    model = binary_model(seed=31)
    with torch.no_grad():
        model.head.out.bias.fill_(-5.0)
    data = bytes.fromhex(FORMAT_4)
    header = read_header(data, model.image_shape[1:])[0]
    assert header.version == 4 and header.portable and header.sizes == [(256, 256)]
    assert images_digest(decode(model, data)) == FORMAT_4_DIGEST
    as_five = data[:2] + bytes([5]) + data[3:]
    with counting() as counts, pytest.raises(PixelarError, match="did not reproduce images 0–0"):
        decode_images(model, as_five)
    assert counts["rows"] < 256 * 40, counts  # (the wavefront behind the first row included)


# -- what the payload carries ---------------------------------------------------------------------


def test_blank_images_pad_their_payload_to_carry_their_work():
    """A blank 256×256 image costs no bits under a confident model, but ~0.5 M units of work:
    the encoder appends the zero bytes that pay for it, and the file decodes; one byte less and
    decoding stops once its work passes what the payload buys. A blank 28×28 image needs none."""
    model = confident_model()
    row, step = fast_work(model)
    blank = torch.zeros(1, 1, 256, 256, dtype=torch.long)
    data = encode(model, blank)
    payload = read_header(data)[1]
    with counting() as counts:
        assert torch.equal(decode(model, data), blank)
    work = row * counts["rows"] + step * counts["steps"]
    assert budget(len(payload) - 1) < work <= budget(len(payload)) and payload.endswith(bytes(8))
    with counting() as counts, pytest.raises(PixelarError, match="took more work than its payload of"):
        decode(model, data[:-1])
    assert row * (counts["rows"] - counts["last"]) + step * (counts["steps"] - 1) <= budget(len(payload) - 1)
    small = encode(model, torch.zeros(1, 1, 28, 28, dtype=torch.long))
    assert len(read_header(small)[1]) <= 4 and budget(0) == FREE


# -- every file under 64 bytes --------------------------------------------------------------------


@pytest.fixture(scope="module")
def cases() -> dict[str, Case]:
    """The fuzz's three files, at the default chunk size, and a portable one."""
    gen = torch.Generator().manual_seed(3)
    colour = tiny("pixelcnn", (3, 2, 3), 4, seed=12, num_classes=3, **FUZZ_MODEL).float()
    made = {
        "binary": (binary_model(), [torch.randint(0, 2, (1, 4, 4), generator=gen) for _ in range(5)], None, {}),
        "colour": (
            without_fast_sampler(colour),
            [torch.randint(0, 4, (3, *s), generator=gen) for s in [(2, 3), (3, 2)]],
            torch.tensor([2, 0]),
            {},
        ),
        "single": (
            tiny("pixelcnn", (1, 4, 4), 4, seed=13, **FUZZ_MODEL),
            [torch.randint(0, 4, (1, 3, 5), generator=gen)],
            None,
            {},
        ),
        "portable": (binary_model(), [torch.randint(0, 2, (1, 4, 4), generator=gen)], None, {"portable": True}),
    }
    out = {}
    for name, (model, images, cond, kw) in made.items():
        data = encode(model, images, cond, **kw)
        assert len(data) < SMALL and decodes_to(decode_images(model, data), images)
        out[name] = Case(model, images, cond, data, 1 + (name == "colour"), head_length(data))
    return out


SMALL_FILES = settings(
    max_examples=40,
    deadline=None,  # wall time is asserted (generously) inside
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.parametrize("name", ["binary", "colour", "single", "portable"])
@SMALL_FILES
@given(data=st.data())
def test_every_file_under_64_bytes_is_decoded_or_refused_with_bounded_work(cases, name, data):
    """Mutants of the fuzz's files (up to three mutations of any kind), decoded with the default
    max_subpixels: under 64 bytes, each decodes to the originals (or to no image) or is refused in
    one line, and the work before its last step stays within what its payload buys."""
    case = cases[name]
    mutant = case.data
    for op in [data.draw(st.sampled_from(OPS)), *data.draw(st.lists(st.sampled_from(OPS), max_size=2))]:
        mutant = mutate(data.draw, mutant, op, case)
    if len(mutant) >= SMALL:
        return
    start = time.perf_counter()
    with counting() as counts:
        try:
            out, message = decode_images(case.model, mutant), None
        except PixelarError as e:
            out, message = None, str(e)
    assert time.perf_counter() - start < WALL
    event("decoded" if out is not None else "refused after model work" if counts["steps"] else "refused before")
    if out is not None:
        assert decodes_to(out, case.images) or (out == [] and split(mutant).n == 0), mutant.hex()
    else:
        assert message and "\n" not in message, message
    if counts["steps"]:
        payload = len(read_header(mutant)[1])
        before_last = counts["rows"] - counts["last"] + STEP * (counts["steps"] - 1)
        assert before_last <= budget(payload) <= FREE + RATE * SMALL, (counts, mutant.hex())


# -- every family: the largest images a file under 64 bytes admits --------------------------------


def largest_file(model, data: bytes, count: int, width: int) -> bytes:
    """A 63-byte file: ``data``'s header declaring ``count`` images ``width`` columns wide, of the
    most rows its payload admits before decoding (at most MAX_SIDE), then zero bytes."""
    one_row = least_work([(1, width)] * count, model.image_shape[0], read_header(data)[0].method, fast_work(model))
    height, file = 1, b""
    for _ in range(4):  # the header's length depends on the height, and the height on it
        file = repacked(data, model, sizes=[(height, width)] * count, own_size=False)
        height = min(MAX_SIDE, budget(SMALL - 1 - head_length(file)) // one_row)
    assert read_header(file)[0].sizes[0] == (height, width)
    return file[: head_length(file)] + bytes(SMALL - 1 - head_length(file))


@pytest.mark.parametrize("family", MODELS)
def test_the_largest_images_a_63_byte_file_admits_buy_every_family_bounded_work(family, monkeypatch):
    """For every family's small model: 63-byte files declaring the largest images their payload
    admits (1 or 64 images of one column, or one 256 columns wide), decoded as if every check
    passed (an adversary may search for a payload whose checks pass; here none is due before
    the budget runs out), are refused once their work, counted in the family's units, passes what
    the payload buys: the work before the last step is within it. One row more is refused before
    any model work. (What a unit takes per family: benchmarks/soak_codec_small.py.)"""
    monkeypatch.setattr(schedule, "FIRST_CHECKED", 10**9)  # no intermediate check is due
    model = tiny(family, (1, 4, 4), 2, seed=14).float()
    row, step = fast_work(model)
    assert (row, step) == (model.step_work[0] + 1, model.step_work[1]) and step >= STEP
    data = encode(model, [torch.randint(0, 2, (1, 3, 5), generator=torch.Generator().manual_seed(4))])
    for count, width in [(1, 1), (64, 1), (1, 256)]:
        hostile = largest_file(model, data, count, width)
        (height, _), payload = read_header(hostile)[0].sizes[0], len(read_header(hostile)[1])
        assert len(hostile) == SMALL - 1 and least_work([(height, width)] * count, 1, "fast", (row, step)) <= budget(
            payload
        )
        with counting() as counts, pytest.raises(PixelarError, match="took more work than its payload") as info:
            decode_images(model, hostile)
        before_last = row * (counts["rows"] - counts["last"]) + step * (counts["steps"] - 1)
        assert before_last <= budget(payload) < before_last + row * counts["last"] + step, (count, width, counts)
        assert "\n" not in str(info.value)
        if height < MAX_SIDE:
            taller = repacked(hostile, model, sizes=[(height + 1, width)] * count)
            refused_before_work(model, taller, "takes at least")


FORMAT_4_DIGEST = "b5ec2d7ff386c6ce9682d06cd0650df48577262baef3873a12821ebba12ec951"
# one 256×256 binary image sampled from binary_model(31) with its output bias at −5, compressed
# portably by pixelar's format 4 (commit 8f72ecd)
FORMAT_4 = (
    "50580414eddba880028002b23d2fcc51fa5f1a38d1aa215b3fe811d494672893f32224f5c4c61bbd5e151a5f843b13a4"
    "c075346a242d07e4c0ea92003348d65005a4ff8fd7ad6e53e19d634a5da841c46eb4f3d22a0350c9392c6db888a00037"
    "9c4c16470b481fa40bba614f1c84fc7e8742a8ed0a15ad0723bfcfb15a4699640c329e93e2d888f89121339f827407df"
    "c5d93bd44522a79ee965348ddc652fd644ee0341d644f688a348dc12eceeaf8fef1cfed9865f0ac5ccaa46979af1bad3"
    "3dac4f2209bbfaaa37848a721382ad57927c1f0103ea291a2bb4a00004f1f750b8d6c91d9298a305ff4a29d3349cc792"
    "ba3ca388b3696f3495bdc16c2526066a07344968748985679d8fe991d823efdff2d81e78f5fadb103ec432063b975d43"
    "90717aac388d4f709c2bcf480a171c13e9667d86cc929a0c47648d604bfb9f92df0992a645d7d116bd2b2f7437673cd1"
    "ddfe3f80594d7a597d5556f1b731a8f637e537736f261d5880536ddcb5bcbec59577c0773329139786e0b607878f180e"
    "cc36d69a945628d6bdc726c353d9fc16e0ba3423afcf64573a02411161c254981156a9c215dc3ae54321e255905cf2cf"
    "dc77521c527eac8815a177282889afb583c3a083dce1d15937cfa83a213854df6b013015593589bce8e38f08848daab3"
    "c07c7f35ba1e24dc478467de697d600597c355c91e41e80a9a568af17c86c41070c8f33a70785d6ddc7b851f3fd4b373"
    "b4ea997bd49962f6398d86558ae80cf2c524b4a6d3d552777743eaa1aaa5cc4bddc4e9ae9b8de0def254bd6975ca471a"
    "e300fe9be903658c32a73bb9ea1f67"
)


def test_every_built_in_family_declares_its_step_cost():
    """A family left at the default cost lets a tiny file buy more than a second of its steps
    (lmconv did: 2 s); benchmarks/soak_codec_small.py calibrates each family's cost."""
    from pixelar.models import FAMILIES
    from pixelar.models.base import AutoregressiveModel

    defaults = [family.model_name for family in FAMILIES if family.step_work == AutoregressiveModel.step_work]
    assert not defaults, f"{defaults} declare no step_work"
