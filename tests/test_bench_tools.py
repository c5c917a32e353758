"""The benchmark package (tools/bench): its shared helpers on tiny data, the report, and its modules importing
from the checkout root without any sys.path edits. No timing is asserted: only that the figures are there."""

import argparse
import importlib
import json
import os
import pkgutil

import pytest

from helpers import CHECKOUT, pattern_corpus, write_text


@pytest.fixture()
def bench(monkeypatch):
    """The tools.bench package, imported as ``python -m tools.bench.X`` does: from the checkout root."""
    monkeypatch.syspath_prepend(CHECKOUT)
    return importlib.import_module("tools.bench")


def test_no_benchmark_edits_sys_path():
    sources = []
    for folder, _, names in os.walk(os.path.join(CHECKOUT, "tools")):
        sources += [os.path.join(folder, name) for name in names if name.endswith(".py")]
    assert len(sources) > 10
    for path in sources:
        with open(path, encoding="utf-8") as handle:
            assert "sys.path" not in handle.read(), path


def test_every_benchmark_module_imports(bench):
    names = [info.name for info in pkgutil.iter_modules(bench.__path__)]
    assert {"common", "report", "rnnlm", "reference", "threads", "scaling", "big"} <= set(names)
    for name in names:
        importlib.import_module(f"tools.bench.{name}")


def test_shared_helpers_train_score_measure_and_report(bench, tmp_path):
    from tools.bench import common, report

    ptb = tmp_path / "ptb"
    ptb.mkdir()
    for name, seed in zip(common.PTB_FILES, (1, 2, 3)):
        write_text(ptb / name, pattern_corpus(200, seed=seed))
    quick = common.slice_corpus(str(ptb), common.PTB_FILES, str(tmp_path / "quick"), lines=60)
    for name in common.PTB_FILES:
        with open(os.path.join(quick, name), encoding="utf-8") as handle:
            assert len(handle.readlines()) == 60

    model = str(tmp_path / "model")
    run = common.train_ptb(quick, model, ["-class", "3"], threads=1, seed=2, options=["-one-iter"], hidden=5)
    assert len(run.records) == 1 and run.words_per_second > 0
    assert run.measured.seconds > 0 and run.measured.peak_rss_mb > 10
    assert os.path.exists(model) and not os.path.exists(model + common.HISTORY_SUFFIX)
    shown = common.shown(run.command)
    assert shown.startswith("rnnlmpy train -train ptb.train.txt -rnnlm model ")
    assert "-rand-seed 2" in shown and "-bptt-block 10" in shown and str(tmp_path) not in shown
    perplexity, measured = common.score_ptb(quick, model)
    assert 1 < perplexity < 50 and measured.peak_rss_mb > 10

    with pytest.raises(common.BenchmarkError, match="status 2"):
        common.rnnlmpy(["ppl", "-rnnlm", str(tmp_path / "missing"), "-test", os.path.join(quick, "ptb.test.txt")])
    with pytest.raises(common.BenchmarkError, match="unknown output layer"):
        common.layer_options("softmax")
    assert common.layer_options("nce20") == ["-nce", "20"]

    results = tmp_path / "results"
    figures = {"order": 5, "build": {"command": "rnnlmpy ngram -train T", "process_seconds": 1.5,
                                     "count_estimate_write_seconds": 0.5, "peak_rss_mb": 99.0, "arpa_mb": 3.0},
               "score": {"command": "rnnlmpy ngram -lm A -test T", "load_seconds": 0.25, "words_per_second": 123456.0,
                         "process_seconds": 1.0, "peak_rss_mb": 88.0, "test_ppl": 141.5}}
    for quick_run, name in ((False, "ngram"), (True, "ngram-quick")):
        common.write_results(argparse.Namespace(out=str(results), quick=quick_run), name, "tools.bench.ngram", figures)
    with open(results / "ngram.json", encoding="utf-8") as handle:
        record = json.load(handle)
    assert record["tool"] == "tools.bench.ngram" and record["machine"]["cores"] == os.cpu_count()
    write_text(results / "old.json", ['{"hidden": 100}'])  # an old script's results: skipped
    document = report.render(report.read_results(str(results)))
    assert "123,456 words/s" in document and "test ppl 141.5" in document and "`rnnlmpy ngram -lm A -test T`" in document
    assert document.count("## Kneser-Ney") == 1 and f"{os.cpu_count()} cores" in document
    assert "ngram-quick" not in document and list(report.read_results(str(results), quick=True)) == ["ngram-quick"]
    assert "Measured by `python -m tools.bench.ngram" in document
