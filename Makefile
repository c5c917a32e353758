# rnnlmpy — developer entry points. `make test` is what CI runs (.ci/run).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_WORKERS ?= 2  # pytest-xdist processes for make test (each test file runs whole in one of them)

.PHONY: install test test-unit docs demo bench bench-big bench-first-use bench-lstm bench-lstm-2h bench-quick corpora clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,docs]'
	touch $(STAMP)

install: $(STAMP)

## The documentation built strictly (seconds), then the full suite: unit tests plus integration tests on the
## real corpora.
test: $(STAMP)
	$(MAKE) --no-print-directory docs
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests

## The documentation site (MkDocs, docs/ and the docstrings) in site/; any warning is an error.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir site

## Unit tests only (tiny synthetic data, no corpora needed).
test-unit: $(STAMP)
	$(BIN)/python -m pytest -q -m "not integration" tests

corpora:
	@$(PYTHON) corpora/locate.py --fetch

## Train a small model on the rnnlm example data and print its test perplexity.
demo: $(STAMP)
	@CORPUS=$$($(PYTHON) corpora/locate.py --fetch --corpus rnnlm-example) && mkdir -p demo && rm -f demo/example.model && \
	$(BIN)/rnnlmpy train -train $$CORPUS/train.txt -valid $$CORPUS/valid.txt -rnnlm demo/example.model \
	    -hidden 15 -class 100 -bptt 4 -bptt-block 10 -rand-seed 1 && \
	$(BIN)/rnnlmpy ppl -rnnlm demo/example.model -test $$CORPUS/test.txt

## Speed and memory on PTB: RNNLM training/ppl words/s, compile time, peak memory; KN5 build and scoring;
## an RNN trained to convergence combined with KN5 (compare); threads (1 vs 2: training, n-best, independent
## ppl); corpus encoding (20M-word synthetic corpus);
## a 4-member grid on 1 and 2 local workers and on a local 2-worker Dask cluster; side by side with the C++ rnnlm
## and faster-rnnlm when RNNLM_BIN / FASTER_RNNLM_BIN point at them; the small LSTM side by side with PyTorch (its
## CPU build, installed once into its own venv under ~/.cache/rnnlmpy-bench; ~8 min). Each writes
## bench-results/NAME.json; docs/benchmarks.md is then generated from those files (README, "Benchmarks").
BENCHMARKS := rnnlm reference ngram ngram_binary ngram_pruning combination tagger threads corpus cluster lstm_pytorch
BIG_BENCHMARKS := big scaling
FIRST_USE_BENCHMARKS := first_use
LSTM_BENCHMARKS := lstm_pytorch lstm_budget batched_hs

bench: $(STAMP)
	set -e; for name in $(BENCHMARKS); do $(BIN)/python -m tools.bench.$$name; done
	$(BIN)/python -m tools.bench.report

## Big corpora: training memory and speed on 1M/20M/100M-word synthetic corpora (writes them to /tmp; ~15 min),
## then thread scaling on PTB written 8 times (1, 2, 4, ... threads up to the cores).
bench-big: $(STAMP)
	set -e; for name in $(BIG_BENCHMARKS); do $(BIN)/python -m tools.bench.$$name; done
	$(BIN)/python -m tools.bench.report

## A new user's first commands after `pip install` into fresh venvs (as installed, and with RNNLMPY_PRECOMPILE=0),
## and the cached start-up of `ppl` beside the C++ rnnlm's -test (RNNLM_BIN). 3-7 min on two cores (load 1-5),
## 25 at load 8; pip needs its index (or --deps shared): not part of `make bench`.
bench-first-use: $(STAMP)
	set -e; for name in $(FIRST_USE_BENCHMARKS); do $(BIN)/python -m tools.bench.$$name; done
	$(BIN)/python -m tools.bench.report

## The batched engine's goals alone: side by side with PyTorch (also in `make bench`), the small LSTM trained
## with rnnlmpy's defaults on PTB and scored (lstm_budget, ~15 min: only here), and batched -hs against
## faster-rnnlm's time to its PPL (batched_hs, FASTER_RNNLM_BIN; ~10 min: only here).
bench-lstm: $(STAMP)
	set -e; for name in $(LSTM_BENCHMARKS); do $(BIN)/python -m tools.bench.$$name; done
	$(BIN)/python -m tools.bench.report

## The 2-hour goals: a 2 x 500 LSTM trained on PTB, then alone and interpolated with KN5 (dynamic evaluation);
## about 2 h 15 min: only here.
bench-lstm-2h: $(STAMP)
	$(BIN)/python -m tools.bench.lstm_2h
	$(BIN)/python -m tools.bench.report

## Every benchmark once on a small slice of its corpus (bench-results/quick; not in the report): do they run?
bench-quick: $(STAMP)
	set -e; for name in $(BENCHMARKS) $(BIG_BENCHMARKS) $(FIRST_USE_BENCHMARKS) lstm_budget lstm_2h batched_hs; do \
	    $(BIN)/python -m tools.bench.$$name --quick; done

clean:
	rm -rf $(VENV) demo bench-results/quick build site *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
