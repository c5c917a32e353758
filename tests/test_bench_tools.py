"""The benchmark package (tools/bench): its shared helpers on tiny data, the report, and its modules importing
from the checkout root without any sys.path edits. No timing is asserted: only that the figures are there."""

import argparse
import importlib
import json
import os
import pkgutil
import shutil
import subprocess
import sys

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


def make_install(first_use, tmp_path):
    """A first_use.Install over a hand-made venv tree (no pip run): site-packages with rnnlmpy's RECORD, its two
    package folders (one holding a kernel cache file) and a copy of them as installed."""
    install = first_use.Install.__new__(first_use.Install)
    install.name, install.root = "default", str(tmp_path / "default")
    install.venv, install.snapshot = str(tmp_path / "default" / "venv"), str(tmp_path / "default" / "as-installed")
    install.work, install.cache_home = str(tmp_path / "work"), str(tmp_path / "cache-home")
    site = tmp_path / "default" / "venv" / "lib" / "python3.11" / "site-packages"
    (site / "rnnlmpy" / "kernels" / "__pycache__").mkdir(parents=True)
    (site / "rnnlmpy_cli").mkdir()
    (site / "numba").mkdir()  # a dependency: not rnnlmpy's
    (site / "rnnlmpy-0.1.dist-info").mkdir()
    write_text(site / "rnnlmpy" / "kernels" / "__pycache__" / "lm.train-1.py311.nbi", ["index"])
    write_text(site / "rnnlmpy_cli" / "main.py", ["def main(): pass"])
    write_text(site / "rnnlmpy-0.1.dist-info" / "RECORD",
               ["rnnlmpy/kernels/__pycache__/lm.train-1.py311.nbi,sha256=x,5", "rnnlmpy_cli/main.py,sha256=y,18",
                "rnnlmpy-0.1.dist-info/RECORD,,", "../../../bin/rnnlmpy,sha256=z,200"])
    install.packages = install.installed_packages()
    for package in install.packages:
        shutil.copytree(site / package, os.path.join(install.snapshot, package))
    return install, site


def test_first_use_restores_the_package_as_installed_before_each_command(bench, tmp_path, monkeypatch):
    from tools.bench import first_use

    install, site = make_install(first_use, tmp_path)
    assert install.packages == ["rnnlmpy", "rnnlmpy_cli"]
    cache = site / "rnnlmpy" / "kernels" / "__pycache__"
    os.remove(cache / "lm.train-1.py311.nbi")  # what a command may do: drop the installed cache ...
    write_text(cache / "lm.score-2.py311.nbc", ["compiled by a command"])  # ... and compile its own
    os.makedirs(os.path.join(install.cache_home, "rnnlmpy", "corpora"))
    install.restore()
    assert sorted(os.listdir(cache)) == ["lm.train-1.py311.nbi"]
    assert os.listdir(install.cache_home) == []
    assert os.path.isfile(site / "rnnlmpy_cli" / "main.py")

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("RNNLMPY_THREADS", "2")
    env = install.environment()
    assert "NUMBA_CACHE_DIR" not in env and "RNNLMPY_THREADS" not in env  # the kernels go where pip put rnnlmpy
    assert env["XDG_CACHE_HOME"] == install.cache_home
    assert env["PATH"].split(os.pathsep)[0] == os.path.join(install.venv, "bin")


def test_first_use_installs_the_files_git_would_clone(bench, tmp_path):
    from tools.bench import common, first_use

    checkout = tmp_path / "checkout"
    (checkout / "pkg").mkdir(parents=True)
    write_text(checkout / ".gitignore", [".venv/", "*.nbi"])
    write_text(checkout / "pkg" / "tracked.py", ["x = 1"])
    subprocess.run(["git", "init", "-q", str(checkout)], check=True)
    subprocess.run(["git", "-C", str(checkout), "add", "."], check=True)
    write_text(checkout / "pkg" / "new.py", ["y = 2"])  # not committed yet: still installed
    (checkout / ".venv").mkdir()
    write_text(checkout / ".venv" / "big.py", ["ignored"])
    write_text(checkout / "pkg" / "stale.nbi", ["ignored"])
    copy = first_use.source_copy(str(checkout), str(tmp_path / "copy"))
    copied = sorted(os.path.relpath(os.path.join(folder, name), copy)
                    for folder, _, names in os.walk(copy) for name in names)
    assert copied == [".gitignore", os.path.join("pkg", "new.py"), os.path.join("pkg", "tracked.py")]
    with pytest.raises(common.BenchmarkError, match="not a git checkout"):
        first_use.source_copy(str(tmp_path / "copy" / "pkg"), str(tmp_path / "again"))


FIRST_USE_RESULTS = {
    "installs": {"default": {"seconds": 31.0, "deps": "index", "environment": {}, "packages": ["rnnlmpy"],
                             "kernel_cache_files": 24},
                 "no-precompile": {"seconds": 12.5, "deps": "index", "environment": {"RNNLMPY_PRECOMPILE": "0"},
                                   "packages": ["rnnlmpy"], "kernel_cache_files": 0}},
    "first_use": {name: {"import": {"seconds": 0.4, "peak_rss_mb": 60.0, "compiled": False, "command": "python -c x"},
                         "ppl": {"seconds": first_ppl, "peak_rss_mb": 150.0, "compiled": first_ppl > 5,
                                 "command": "rnnlmpy ppl -rnnlm small.rnnlm -test test.txt",
                                 "compiling_seconds": first_ppl - 0.6},
                         "ppl_again": {"seconds": 0.6, "peak_rss_mb": 140.0, "compiled": False}}
                  for name, first_ppl in (("default", 1.5), ("no-precompile", 12.5))},
    "cached": {"ppl": {"seconds": 0.45, "seconds_range": [0.41, 0.52], "peak_rss_mb": 110.0, "runs": 3,
                       "command": "rnnlmpy ppl -rnnlm ptb.rnnlm -test ptb.test.txt", "test_ppl": 211.5},
               "ppl_cpp_text_model": {"seconds": 0.6, "seconds_range": [0.55, 0.7], "peak_rss_mb": 150.0, "runs": 3,
                                      "command": "rnnlmpy ppl -rnnlm ptb.rnnlm.txt -test ptb.test.txt",
                                      "test_ppl": 211.5},
               "cpp_text_model_over_own": 1.333},
    "cached_install": "default", "goals": {}, "load_average": {"before": [2.5, 2, 2], "after": [3.5, 3, 2]},
}


def test_first_use_table_shows_both_installs_beside_the_goals(bench):
    from tools.bench import first_use

    text = first_use.markdown(FIRST_USE_RESULTS)
    assert "31.0 s (24 kernel cache files installed)" in text and "12.5 s (0 kernel cache files installed)" in text
    assert "(`RNNLMPY_PRECOMPILE=0`)" in text
    ppl_row = next(line for line in text.splitlines() if line.startswith("| first `rnnlmpy ppl"))
    assert "<= 5 s" in ppl_row and "1.50 s, 150 MB (met)" in ppl_row and "12.50 s, 150 MB, compiled (2.5x over)" in ppl_row
    assert "0.45 s (0.41-0.52)" in text and "1.33x: not met" in text
    assert "The C++ rnnlm was not run" in text


def test_headline_comes_from_the_results_and_says_what_is_missing(bench, tmp_path, monkeypatch):
    from tools.bench import report

    records = {
        "reference": {"date": "2026-12-06 07:00 UTC", "results": {"runs": {
            "class": {"ratio_median": 2.51, "rnnlmpy_words_per_second": [100000, 120000, 110000],
                      "reference_words_per_second": [44000, 46000, 45000], "rnnlmpy_test_ppl": 201.25,
                      "reference_test_ppl": 230.5},
            "hs": {"ratio_median": 1.15, "rnnlmpy_words_per_second": [1], "reference_words_per_second": [210000]}}}},
        "ngram": {"date": "2026-12-05 07:00 UTC",
                  "results": {"score": {"test_ppl": 141.186042, "kenlm_test_ppl": 141.18605}}},
        "first_use": {"date": "2026-12-06 07:00 UTC", "results": FIRST_USE_RESULTS},
        "tagger": {"date": "2026-12-06 07:00 UTC", "results": {"hmm": {"accuracy": 0.9082}}},  # --hmm-only
    }
    block = report.headline(records)
    lines = block.splitlines()
    assert lines[0] == report.HEADLINE_BEGIN and lines[-1] == report.HEADLINE_END
    rows = [line for line in lines if line.startswith("| ") and "rnnlmpy |" not in line]
    assert len(rows) == len(report.HEADLINE_ROWS)
    assert "**201.25**" in rows[0] and "C++ rnnlm 230.50" in rows[0]
    assert "**2.51x** (rounds 2.27-2.61; 110,000 words/s)" in rows[1] and "C++ rnnlm 45,000 words/s" in rows[1]
    assert "HS **1.15x** (0.00-0.00)" in rows[2] and "HS 210,000" in rows[2] and "NCE" not in rows[2]
    assert "**0.45 s**, 110 MB" in rows[3] and "C++ rnnlm not run" in rows[3]
    assert "**141.186**" in rows[4] and "SRILM 141.2" in rows[4] and "KenLM on our ARPA 141.186" in rows[4]
    assert "not measured: `python -m tools.bench.tagger`" in rows[5]  # no RNN tagger in an --hmm-only run
    assert "not measured: `python -m tools.bench.combination`" in rows[6]
    assert "; measured 2026-12-05, 2026-12-06;" in block

    readme = tmp_path / "README.md"
    write_text(readme, ["# rnnlmpy", "", report.HEADLINE_BEGIN, "| old | table |", report.HEADLINE_END, "", "## Usage"])
    results = tmp_path / "results"
    results.mkdir()
    arguments = ["report", "--results", str(results), "--out", str(tmp_path / "benchmarks.md"), "--headline",
                 str(tmp_path / "headline.md"), "--readme", str(readme)]
    monkeypatch.setattr("sys.argv", arguments)
    assert report.main() == 0
    text = readme.read_text(encoding="utf-8")
    assert "old | table" not in text and text.startswith("# rnnlmpy\n\n" + report.HEADLINE_BEGIN)
    assert text.endswith(report.HEADLINE_END + "\n\n## Usage\n") and text.count(report.HEADLINE_BEGIN) == 1
    assert (tmp_path / "headline.md").read_text(encoding="utf-8") in text
    assert "## The reference tools" in (tmp_path / "benchmarks.md").read_text(encoding="utf-8")
    plain = tmp_path / "plain.md"
    write_text(plain, ["# no markers"])
    monkeypatch.setattr("sys.argv", [*arguments[:-1], str(plain)])
    assert report.main() == 0 and plain.read_text(encoding="utf-8") == "# no markers\n"


def test_kenlm_scores_every_line_with_its_end_of_sentence(bench, tmp_path):
    pytest.importorskip("kenlm")
    from tools.bench import ngram

    arpa = tmp_path / "tiny.arpa"
    write_text(arpa, ["", "\\data\\", "ngram 1=4", "ngram 2=1", "", "\\1-grams:", "-0.60206\t<unk>", "-99\t<s>\t0",
                      "-0.30103\t</s>", "-0.60206\ta\t0", "", "\\2-grams:", "-0.60206\t<s> a", "", "\\end\\"])
    test = tmp_path / "test.txt"
    write_text(test, ["a  a"])
    # log10 p = 2 * log10(1/4) + log10(1/2) over three tokens (a, a, </s>)
    assert ngram.kenlm_perplexity(str(arpa), str(test)) == pytest.approx(10 ** (1.50515 / 3), rel=1e-5)


def test_combination_reports_its_best_row(bench):
    from tools.bench import combination

    results = {"layer": "class", "members": [{"command": "rnnlmpy train -train ptb.train.txt", "epochs": 12,
                                              "seconds": 61.0}],
               "rows": [{"name": "KN5", "valid_ppl": 148.01, "test_ppl": 141.19, "note": "modified Kneser-Ney"},
                        {"name": "rnn.seed1 + KN5", "valid_ppl": 123.54, "test_ppl": 119.16, "note": "lambda 0.502"}],
               "test_ppl": 119.16, "what": "rnn.seed1 + KN5", "compare_seconds": 3.2}
    text = combination.markdown(results)
    assert "| **rnn.seed1 + KN5** | 123.54 | 119.16 |" in text and "| KN5 | 148.01 | 141.19 |" in text
    assert "(12 epochs, 61 s)" in text


def test_reference_table_names_the_tool_not_its_binary(bench):
    from tools.bench import reference

    run = {"reference": "rnnlm", "rnnlmpy_words_per_second": [2, 4], "reference_words_per_second": [1, 2],
           "ratio_median": 2.0, "rnnlmpy_peak_rss_mb": 200.0, "reference_peak_rss_mb": 20.0}
    text = reference.markdown({"rounds": 2, "runs": {"hs": run, "class": dict(run, rnnlmpy_test_ppl=280.0,
                                                                                reference_test_ppl=271.5)}})
    assert "| hs | faster-rnnlm |" in text and "| class | C++ rnnlm |" in text and "280.00 / 271.50" in text


def test_measure_reports_the_commands_memory_not_the_benchmarks(bench):
    from tools.bench import common

    ballast = bytearray(300 * 2**20)  # this process: over 300 MB resident
    for offset in range(0, len(ballast), 4096):
        ballast[offset] = 1
    measured = common.measure([sys.executable, "-S", "-c", "print('small')"])
    assert measured.output == "small\n" and measured.seconds > 0
    assert 1 < measured.peak_rss_mb < 100
    grown = common.measure([sys.executable, "-S", "-c", "block = bytearray(200 * 2**20); print(len(block))"])
    assert grown.peak_rss_mb > 200
    with pytest.raises(common.BenchmarkError, match="status 3"):
        common.measure([sys.executable, "-S", "-c", "import sys; sys.exit(3)"])
    del ballast


def test_tagger_table_shows_the_gated_taggers(bench):
    from tools.bench import tagger

    def summary(values):
        runs = [{"accuracy": v / 100, "known": 0.97, "unseen": 0.8, "train_seconds": 10.0} for v in values]
        return {"runs": runs, "mean": sum(values) / len(values), "min": min(values), "max": max(values),
                "known_mean": 97.0, "unseen_mean": 80.0}

    results = {"test_tokens": 4563, "unseen_share": 0.2, "hmm": {"accuracy": 0.908, "known": 0.95, "unseen": 0.4},
               "hmm_tokens_per_second": 1000, "default": summary([95.5, 95.6]),
               "gated": {"lstm": summary([96.25, 96.3]), "gru": summary([96.1, 96.2])}}
    text = tagger.markdown(results)
    assert "| RNN, -hidden-type lstm (its defaults) | 96.28 (96.25, 96.30) |" in text
    assert "| RNN, -hidden-type gru (its defaults) | 96.15 (96.10, 96.20) |" in text
    assert text.index("RNN, default") < text.index("-hidden-type lstm") < text.index("-hidden-type gru")


def test_batched_hs_runs_name_their_optimiser_and_the_table_shows_it(bench):
    from tools.bench import batched_hs

    assert batched_hs.parse_run("20x20@0.1:adagrad") == {"batch": 20, "bptt": 20, "alpha": 0.1,
                                                         "optimizer": "adagrad"}
    assert batched_hs.parse_run("10x10@1")["optimizer"] == "sgd"
    for bad in ("20x20@1:nesterov", "20x20", "20@1"):
        with pytest.raises(bench.common.BenchmarkError):
            batched_hs.parse_run(bad)
    run = batched_hs.parse_run("20x20@0.1:adagrad")
    assert batched_hs.run_options(run, ["-beta", "0"])[-6:] == ["-optimizer", "adagrad", "-dropout", "0", "-beta",
                                                                "0"]
    epochs = [{"epoch": 1, "seconds": 5.0, "cpu_seconds": 5.0, "test_ppl": 180.0},
              {"epoch": 2, "seconds": 9.0, "cpu_seconds": 8.0, "test_ppl": 174.0}]
    results = {"goal_share": 0.5, "goal_met": True, "options": ["-beta", "0"], "load_average_before": [0, 0, 0],
               "load_average_after": [0, 0, 0],
               "faster_rnnlm": {"epochs": 12, "test_ppl": 175.03, "seconds": 36.0, "cpu_seconds": 36.0, "command": "x"},
               "rnnlmpy": [{**run, "epochs": epochs, "reached": {"epoch": 2, "seconds": 9.0, "cpu_seconds": 8.0},
                            "share_of_faster_rnnlm": {"wall": 0.25, "cpu": 0.222}}]}
    text = batched_hs.markdown(results)
    assert "| rnnlmpy -batch 20 -bptt 20 -alpha 0.1 -optimizer adagrad | epoch 2 | 180.0, 174.0 | 9.0 s / 8.0 s |" \
           " 0.25 / 0.22 |" in text
    assert "Goal (<= 0.5 of faster-rnnlm's time) met." in text
