# rnnlmpy — developer entry points. `make test` is what CI runs (.ci/run).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-unit demo bench corpora clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Full suite: unit tests plus integration tests on the real corpora.
test: $(STAMP)
	$(BIN)/python -m pytest -q tests

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

## Speed and memory on PTB: RNNLM training/ppl words/s, compile time, peak memory; KN5 build and scoring.
bench: $(STAMP)
	$(BIN)/python tools/bench_rnnlm.py
	$(BIN)/python tools/bench_ngram.py
	$(BIN)/python tools/bench_tagger.py

clean:
	rm -rf $(VENV) demo bench-results build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
