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

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install $(TORCH_SPEC)
	$(BIN)/pip install -e ".[dev]"
	touch $(STAMP)

# Train a PixelCNN on the bundled binarized digits for ~3 minutes, evaluate it, sample from it.
demo: $(STAMP)
	rm -rf runs/demo
	$(BIN)/pixelar train --preset demo --out runs/demo
	$(BIN)/pixelar eval runs/demo --split test
	$(BIN)/pixelar sample runs/demo -n 16 -o runs/demo/samples.png
	@echo "pictures: runs/demo/samples.png, runs/demo/loss.png"

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

# All benchmarks (about an hour on 2 cores); each prints a table and writes benchmarks/results/*.json.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_models.py --minutes 2
	$(BIN)/python benchmarks/bench_sampling.py --num-layers 4 --naive-rows 4
	$(BIN)/python benchmarks/bench_quality.py --minutes 5 --models pixelcnn,row-lstm,diagonal-bilstm
	$(BIN)/python benchmarks/bench_conditional.py --minutes 3
	$(BIN)/python benchmarks/bench_codec.py --minutes 2
	$(BIN)/python benchmarks/report.py

clean:
	rm -rf $(VENV) runs .pytest_cache
