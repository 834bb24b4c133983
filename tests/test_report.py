"""The results pages (docs/results/*.md) and the README's headline table are what
benchmarks/report.py writes from benchmarks/results/*.json.

Everything here but the last test runs without torch: report.py needs only the standard library.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


report = _module("report")


PAGES = {page.path: page for page in report.PAGES}


@pytest.mark.parametrize("path", PAGES)
def test_results_pages_are_what_report_writes(path):
    """Each page's results blocks equal report.py's rendering of the committed JSON (rows of
    other commits, if any, are marked in the page, which --allow-mixed renders)."""
    text = (ROOT / path).read_text()
    blocks = report.render(report.Results.read(report.RESULTS, allow_mixed=True))
    assert report.splice(text, blocks, PAGES[path]) == text, (
        f"{path} is out of date: run python benchmarks/report.py --write"
    )


@pytest.mark.parametrize("path", PAGES)
def test_hand_written_results_prose_has_no_numbers(path):
    """Numbers in the results come from the JSON: outside the generated blocks (and code spans)
    there is no digit — in the README's Results section, and anywhere on a results page."""
    prose = re.sub(r"`[^`]*`", "", report.outside_blocks((ROOT / path).read_text(), PAGES[path]))
    assert not re.findall(r".{0,30}\d.{0,30}", prose)


def test_every_block_lies_in_one_page():
    names = [name for page in report.PAGES for name in page.blocks]
    assert sorted(names) == sorted(report.BLOCKS) and len(set(names)) == len(names)
    assert report.PAGES[0].path == "README.md" and report.PAGES[0].blocks == (
        "headline",
        "standard",
        "ood",
        "documents",
    )


@pytest.mark.parametrize("path", PAGES)
def test_results_pages_link_to_files_that_exist(path):
    """Pictures and files the pages link to (written relative to the page) exist."""
    text = (ROOT / path).read_text()
    links = re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if not re.match(r"[a-z][a-z0-9+.-]*:", link)]
    missing = [link for link in local if not ((ROOT / path).parent / link).exists()]
    assert not missing, f"{path} links to missing files: {missing}"
    if path == "docs/results/sampling.md":
        assert "](../../benchmarks/results/sampling.png)" in text


def test_a_block_in_the_wrong_page_is_refused():
    page = PAGES["docs/results/codec.md"]
    text = "# Codec\n\n<!-- results:codec:begin -->\n<!-- results:codec:end -->\n"
    text += "<!-- results:codec-real:begin -->\n<!-- results:codec-real:end -->\n"
    text += "<!-- results:documents-full:begin -->\n<!-- results:documents-full:end -->\n"
    blocks = {name: f"{name}\n" for name in report.BLOCKS}
    assert "codec-real\n" in report.splice(text, blocks, page)
    wrong = text + "<!-- results:demo:begin -->\n<!-- results:demo:end -->\n"
    with pytest.raises(report.ReportError, match=re.escape("'demo' (it belongs in docs/results/models.md)")):
        report.splice(wrong, blocks, page)
    with pytest.raises(report.ReportError, match=re.escape("lacks (or repeats) the markers of: codec-real")):
        report.splice(text.split("<!-- results:codec-real")[0], blocks, page)
    with pytest.raises(report.ReportError, match="outside the '## Results' section"):
        report.splice("# x\n\n<!-- results:headline:begin -->\n<!-- results:headline:end -->\n\n## Results\n", blocks)


def test_report_needs_no_torch():
    code = f"import sys; sys.path.insert(0, {str(BENCH)!r}); import report; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- synthetic results ----------------------------------------------------------------------------
def run_meta(commit: str, date: str, dirty: bool = False) -> dict:
    return {
        "commit": commit,
        "dirty": dirty,
        "python": "3.11.0",
        "torch": "2.13.0",
        "platform": "Linux",
        "cpu_count": 2,
        "torch_threads": 2,
        "date": date,
        "command": "python benchmarks/bench_models.py",
        "config": {},
    }


def models_row(model: str, run: str, rate28: float, rate32: float, nll: float = 70.0, **kw) -> dict:
    return {
        "run": run,
        "model": model,
        "train_img_s_28x28x1": rate28,
        "train_img_s_32x32x3": rate32,
        "sample16_s_28x28x1": 0.1,
        "sample16_s_32x32x3": 0.2,
        "steps": 100,
        "test_nll_nats": nll,
        **kw,
    }


def write(directory: Path, name: str, runs: dict, rows: list[dict], config: dict | None = None) -> None:
    doc = {"benchmark": name, "schema": 2, "config": config or {"num_layers": 4, "minutes": 2.0}}
    (directory / f"{name}.json").write_text(json.dumps(doc | {"runs": runs, "rows": rows}))


def minimal_pages(root: Path) -> None:
    """Every page of report.PAGES under root, holding only its blocks' markers."""
    for page in report.PAGES:
        blocks = "\n".join(f"<!-- results:{n}:begin -->\n<!-- results:{n}:end -->" for n in page.blocks)
        section = f"## {page.section}\n\nProse.\n\n" if page.section else ""
        (root / page.path).parent.mkdir(parents=True, exist_ok=True)
        (root / page.path).write_text(f"# x\n\n{section}{blocks}\n\n## Layout\n\nmore\n")


def test_rows_of_different_commits_are_refused_or_marked(tmp_path, capsys):
    runs = {"a": run_meta("a" * 40, "2025-01-01T00:00:00Z"), "b": run_meta("b" * 40, "2025-02-01T00:00:00Z")}
    write(tmp_path, "models", runs, [models_row("pixelcnn", "a", 100, 10), models_row("row-lstm", "b", 10, 5)])
    root = tmp_path / "repo"
    minimal_pages(root)
    assert report.main(["--results", str(tmp_path), "--root", str(root), "--write"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: the models table") and "--allow-mixed" in err[0]
    assert report.main(["--results", str(tmp_path), "--root", str(root), "--write", "--allow-mixed"]) == 0
    text = (root / "docs/results/models.md").read_text()
    assert "| pixelcnn† |" in text and "| row-lstm |" in text  # the latest run's commit is the table's
    assert "come from commit aaaaaaa" in text and "another commit than the rest" in text
    assert "No results yet" in (root / "README.md").read_text()  # no file for the headline rows
    assert report.main(["--results", str(tmp_path), "--root", str(root), "--check", "--allow-mixed"]) == 0
    assert report.main(["--results", str(tmp_path), "--root", str(root), "--check"]) == 2


def test_a_model_trained_at_another_commit_counts_as_another_commit(tmp_path):
    runs = {"a": run_meta("a" * 40, "2025-01-01T00:00:00Z")}
    rows = [
        models_row("pixelcnn", "a", 100, 10, trained_commit="a" * 40, trained_dirty=False),
        models_row("row-lstm", "a", 10, 5, trained_commit="c" * 40, trained_dirty=False),
    ]
    write(tmp_path, "models", runs, rows)
    with pytest.raises(report.ReportError, match="trained at commit ccccccc"):
        report.block_models(report.Results.read(tmp_path, allow_mixed=False))


def test_legacy_files_without_provenance_are_refused(tmp_path):
    (tmp_path / "quality.json").write_text(
        json.dumps({"rows": [{"model": "pixelcnn", "args": {}, "parameters": 1, "steps": 1, "test_nll_nats": 1.0}]})
    )
    with pytest.raises(report.ReportError, match="not recorded"):
        report.block_quality(report.Results.read(tmp_path, allow_mixed=False))
    assert "pixelcnn†" in "\n".join(report.block_quality(report.Results.read(tmp_path, allow_mixed=True)))


def test_one_commit_renders_its_provenance_and_claims(tmp_path):
    runs = {"a": run_meta("a" * 40, "2025-01-01T00:00:00Z")}
    rows = [
        models_row("pixelcnn", "a", 100, 30),
        models_row("row-lstm", "a", 50, 20),
        models_row("diagonal-bilstm", "a", 10, 3),
    ]
    write(tmp_path, "models", runs, rows)
    res = report.Results.read(tmp_path, allow_mixed=False)
    text = "\n".join(report.block_models(res))
    assert "Measured at commit `aaaaaaa` (clean tree)" in text and "†" not in text
    claim = report.claim_training(res)
    assert "2.0–10× at 28×28×1" in claim and "1.5–10× at 32×32×3" in claim
    assert "diagonal-bilstm at both sizes" in claim


def test_drift_compares_two_runs_of_one_commit(tmp_path):
    runs1 = {"a": run_meta("a" * 40, "2025-01-01T00:00:00Z")}
    runs2 = {"b": run_meta("a" * 40, "2025-01-01T01:00:00Z")}
    write(tmp_path, "models", runs1, [models_row("pixelcnn", "a", 100, 30)])
    write(tmp_path, "models_run2", runs2, [models_row("pixelcnn", "b", 80, 30)], {"num_layers": 4, "minutes": 0.0})
    text = "\n".join(report.block_drift(report.Results.read(tmp_path, allow_mixed=False)))
    assert "up to 1.2×" in text and "100 / 80.0 (1.2×)" in text


def test_codec_claims_name_the_winner_from_the_data(tmp_path):
    runs = {"a": run_meta("a" * 40, "2025-01-01T00:00:00Z")}
    row = {
        "run": "a",
        "data": "digits-binary",
        "model": "pixelcnn",
        "args": {"num_layers": 6, "hidden_channels": 32},
        "images": 10,
        "model_nll_bpd": 0.10,
        "model_codec_whole_set_bpd": 0.11,
        "model_codec_per_image_payload_bpd": 0.2,
        "model_codec_per_image_file_bpd": 0.8,
        "model_codec_framing_bytes": 61.0,
        "encode_img_s": 1.0,
        "decode_img_s": 1.0,
    }
    for i, codec in enumerate(report.CODECS):
        row[f"{codec} per image"] = 0.5 + i
        row[f"{codec} whole set"] = 0.3 - 0.05 * i
    write(tmp_path, "codec", runs, [row])
    claim = report.claim_codec(report.Results.read(tmp_path, allow_mixed=False))
    assert "within 10% of the model's NLL" in claim and "adds 61 bytes" in claim
    assert "beats the best classical codec on the tiled set, JPEG 2000 lossless (0.150)" in claim
    assert "lose to the best classical codec, PNG (0.500), though their payloads alone (0.200) would beat it" in claim


@pytest.mark.parametrize("path", ["README.md", "docs/results/codec.md"])
def test_check_fails_on_a_hand_edited_number(tmp_path, path, capsys):
    for page in report.PAGES:
        (tmp_path / page.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / page.path).write_text((ROOT / page.path).read_text())
    args = ["--results", str(report.RESULTS), "--root", str(tmp_path), "--check", "--allow-mixed"]
    assert report.main(args) == 0
    text = (ROOT / path).read_text()
    lo, hi = report.results_section(text, PAGES[path])
    inside = next(m for m in report.MARKER.finditer(text, lo, hi) if re.search(r"\d", m["body"]))
    body = inside["body"]
    edited = re.sub(r"\d", lambda m: str((int(m[0]) + 1) % 10), body, count=1)
    assert edited != body
    (tmp_path / path).write_text(text[: inside.start("body")] + edited + text[inside.end("body") :])
    assert report.main(args) == 1
    assert f"out of date: {path};" in capsys.readouterr().err


def test_harness_merge_keeps_each_rows_commit(tmp_path, monkeypatch):
    """Merging a partial run keeps the earlier rows with their own run (and so commit)."""
    sys.path.insert(0, str(BENCH))
    try:
        import harness
    finally:
        sys.path.remove(str(BENCH))
    out = tmp_path / "models.json"
    p = harness.parser("x", "models")
    p.add_argument("--models", default="")
    p.add_argument("--num-layers", type=int, default=4)
    a = harness.parse(p, "models", {}, ["--out", str(out), "--merge"])
    meta1, meta2 = run_meta("a" * 40, "2025-01-01T00:00:00Z"), run_meta("b" * 40, "2025-02-01T00:00:00Z")
    harness.write_results(out, "models", [{"model": "x", "v": 1}, {"model": "y", "v": 2}], ("model",), a, meta1)
    harness.write_results(out, "models", [{"model": "y", "v": 3}], ("model",), a, meta2)
    doc = json.loads(out.read_text())
    by = {r["model"]: r for r in doc["rows"]}
    assert by["x"]["v"] == 1 and by["y"]["v"] == 3
    assert doc["runs"][by["x"]["run"]]["commit"] == "a" * 40 and doc["runs"][by["y"]["run"]]["commit"] == "b" * 40
    b = harness.parse(p, "models", {}, ["--out", str(out), "--merge", "--num-layers", "6"])
    with pytest.raises(SystemExit, match="another benchmark or configuration"):
        harness.write_results(out, "models", [{"model": "z"}], ("model",), b, meta2)


def test_demo_says_whether_its_runs_agree(tmp_path):
    runs = {"a": run_meta("a" * 40, "2025-01-01T00:00:00Z")}
    preset = {"model": "pixelcnn", "model_args": {"num_layers": 6, "hidden_channels": 32}, "steps": 900}
    demo = [{"run": "a", "repeat": i, "steps": 900, "test_images": 500, "minutes": 3.0 + i} for i in (1, 2)]
    write(tmp_path, "demo", runs, [r | {"nats_per_image": 70.123} for r in demo], {"preset": preset})
    text = "\n".join(report.block_demo(report.Results.read(tmp_path, allow_mixed=False)))
    assert "900 steps" in text and "the same in all 2 runs" in text and "| 2 | 900 | 70.12 | 500 | 5.0 |" in text
    write(tmp_path, "demo", runs, [r | {"nats_per_image": 70 + r["repeat"]} for r in demo], {"preset": preset})
    text = "\n".join(report.block_demo(report.Results.read(tmp_path, allow_mixed=False)))
    assert "differs between runs (71.00, 72.00)" in text
    write(tmp_path, "demo", runs, [demo[0] | {"nats_per_image": 70.5}], {"preset": preset})
    text = "\n".join(report.block_demo(report.Results.read(tmp_path, allow_mixed=False)))
    assert "trained from scratch once" in text and "| 1 | 900 | 70.50 | 500 | 4.0 |" in text


def test_time_to_quality_reads_when_a_curve_reaches_the_peers_last_value(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    report_mnist = _module("report_mnist")
    base = _module("report_base")
    curve = [[2.5, 100.0], [5.0, 90.0], [7.5, 80.0]]
    assert report_mnist.reached(curve, 85.0) == (pytest.approx(6.25), False)  # halfway from 90 to 80
    assert report_mnist.reached(curve, 120.0) == (2.5, True)  # at the first point: an upper bound
    assert report_mnist.reached(curve, 70.0) is None
    budgets = {"15": 95.0, "30": 84.0, "60": 80.0}
    row = {
        "kind": "pixelar",
        "run": "r1",
        "contender": "fast",
        "unit": "nats",
        "curve": curve,
        "nll_at_minutes": budgets,
    }
    peer_curve = [[30.0, 95.0], [45.0, 85.0], [60.0, 85.0]]  # flat at the end: first reached at 45
    peer = {"kind": "pg-gated-pixelcnn", "run": "r1", "contender": "peer", "curve": peer_curve}
    peer["nll_at_minutes"] = {"30": 96.0, "60": 86.0}
    slow = {**row, "contender": "slow", "curve": [[2.5, 100.0], [5.0, 99.0]], "nll_at_minutes": {"60": 90.0}}
    other_run = {**row, "run": "r2", "contender": "elsewhere"}
    doc = base.Doc("mnist", {"curve_images": 2000, "curve_minutes": 2.5}, {}, [row, peer, slow, other_run])
    lines = report_mnist.time_to_quality(doc)
    assert lines[1] == (
        "- peer ends its curve at 85.00 nats (first reached after 45.0 min); fast reached it after about 6.2 min "
        "(7.2× sooner). On the whole test split peer has 86.00 after 60 min; fast had 84.00 after 30 min (≥ 2.0× sooner)."
    )
    assert "slow did not reach it within 5 min" in lines[2] and "slow did not get there at any budget" in lines[2]
    assert len(lines) == 3  # a contender of another run is not compared
    assert len(report_mnist.time_to_quality(doc, [row])) == 2  # only the contenders asked for


def test_a_merged_table_marks_and_describes_each_run(tmp_path):
    """The standard benchmark's rows come from runs added one at a time (--merge): on clean trees
    they need no --allow-mixed; each run is named with its command, the older ones' rows marked."""
    runs = {
        "r1": run_meta("a" * 40, "2025-01-01T00:00:00Z") | {"command": "python bench one"},
        "r2": run_meta("b" * 40, "2025-02-01T00:00:00Z") | {"command": "python bench two"},
    }
    rows = [
        {"run": r, "contender": c, "kind": "pixelar", "note": "", "parameters": 1, "unit": "nats",
         "test_images": 10, "nll_at_minutes": {"60.0": nll}, "curve": [[60.0, nll]]}
        for r, c, nll in (("r1", "one", 90.0), ("r2", "two", 85.0))
    ]  # fmt: skip
    write(tmp_path, "mnist", runs, rows)
    text = "\n".join(report.block_standard(report.Results.read(tmp_path, allow_mixed=False)))
    assert "| one† |" in text and "| two |" in text
    assert "Rows marked †: measured at commit `aaaaaaa`" in text and "`python bench one`" in text
    assert "Other rows: measured at commit `bbbbbbb`" in text and "`python bench two`" in text
    assert "another commit than the rest" not in text
    runs["r2"]["dirty"] = True  # uncommitted changes still need --allow-mixed
    write(tmp_path, "mnist", runs, rows)
    with pytest.raises(report.ReportError, match="uncommitted changes"):
        report.block_standard(report.Results.read(tmp_path, allow_mixed=False))
