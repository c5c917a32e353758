"""The LSTM benchmarks of tools/bench (lstm_pytorch, torch_zaremba, lstm_budget) on tiny data: the corpus slices
and token counts both sides score, the recipe's schedule, the commands, reading results and rendering them.
Nothing here imports or installs torch, and no timing is asserted."""

import importlib
import json
import os
import sys

import pytest

from helpers import CHECKOUT, write_text


@pytest.fixture()
def bench(monkeypatch):
    """The tools.bench package, imported as ``python -m tools.bench.X`` does: from the checkout root."""
    monkeypatch.syspath_prepend(CHECKOUT)
    return importlib.import_module("tools.bench")


def test_torch_script_reads_tokens_as_rnnlmpy_scores_them(bench, tmp_path):
    from tools.bench import torch_zaremba as script

    with open(script.__file__, encoding="utf-8") as handle:  # importing the script must not need torch
        source = handle.read()
    assert "\nimport torch" not in source.split("def main", 1)[0]
    text = tmp_path / "text.txt"
    write_text(text, [" the cat sat ", " a cat", " the  end"])
    tokens = script.read_tokens(str(text))
    assert tokens == ["the", "cat", "sat", "<eos>", "a", "cat", "<eos>", "the", "end", "<eos>"]
    vocabulary = script.build_vocabulary(tokens)
    # <eos> first, then by count (cat 2, the 2 before a/end/sat 1), ties by spelling
    assert list(vocabulary) == ["<eos>", "cat", "the", "a", "end", "sat"]
    assert script.build_vocabulary(list(reversed(tokens))) == vocabulary
    assert script.encode(["cat", "<eos>"], vocabulary, "x") == [1, 0]
    with pytest.raises(ValueError, match="unseen.txt: word 'dog'"):
        script.encode(["dog"], vocabulary, "unseen.txt")


def test_torch_script_schedule_and_window_count(bench):
    from tools.bench import torch_zaremba as script

    rates = [script.learning_rate(epoch) for epoch in range(1, 14)]
    assert rates[:4] == [1.0] * 4 and rates[4] == 0.5 and rates[5] == 0.25 and rates[12] == 0.5 ** 9
    # 20 parts of 5000 tokens: (5000 - 1) // 20 = 249 windows of 20 x 20 targets
    assert script.trained_tokens(100_000) == 249 * 400
    assert script.trained_tokens(100_019) == 249 * 400  # a remainder shorter than the batch is dropped
    assert script.trained_tokens(20 * 21) == 400 and script.trained_tokens(20 * 20) == 0


def test_torch_script_refuses_bad_numbers(bench):
    from tools.bench import torch_zaremba as script

    with pytest.raises(SystemExit):
        script.parse(["--corpus", "x", "--epochs", "0"])
    args = script.parse(["--corpus", "x", "--max-words", "100", "--threads", "1", "--no-eval"])
    assert args.max_words == 100 and args.threads == 1 and args.no_eval and args.epochs == script.Recipe.epochs


def test_speed_slice_keeps_the_whole_vocabulary(bench, tmp_path):
    from tools.bench import lstm_pytorch

    train = tmp_path / "train.txt"
    write_text(train, [" a b c", " b d", " e a f", " g"])
    target = tmp_path / "slice.txt"
    count = lstm_pytorch.sliced_training_text(str(train), 5, str(target))
    lines = target.read_text(encoding="utf-8").splitlines()
    # whole lines until 5 tokens (a b c </s> b d </s> = 7), then one line of the words they lack
    assert lines == [" a b c", " b d", "e f g"]
    assert count == 7 + 4
    everything = lstm_pytorch.sliced_training_text(str(train), 100, str(tmp_path / "all.txt"))
    assert everything == 13 and (tmp_path / "all.txt").read_text(encoding="utf-8") == train.read_text(
        encoding="utf-8")


def test_quick_corpus_covers_valid_and_test_words(bench, tmp_path):
    from tools.bench import lstm_pytorch

    write_text(tmp_path / "ptb.train.txt", [" a b"])
    write_text(tmp_path / "ptb.valid.txt", [" b c"])
    write_text(tmp_path / "ptb.test.txt", [" d a c"])
    lstm_pytorch.cover_vocabulary(str(tmp_path))
    assert (tmp_path / "ptb.train.txt").read_text(encoding="utf-8").splitlines() == [" a b", "c d"]
    lstm_pytorch.cover_vocabulary(str(tmp_path))  # nothing left to add
    assert len((tmp_path / "ptb.train.txt").read_text(encoding="utf-8").splitlines()) == 2


def test_both_sides_run_the_same_recipe(bench, tmp_path):
    from tools.bench import common, lstm_pytorch

    command = lstm_pytorch.rnnlmpy_train_command("/d/train.txt", "/d/valid.txt", "/w/m", 2, None)
    shown = common.shown(command)
    assert shown.startswith("rnnlmpy train -train train.txt -valid valid.txt -rnnlm m -hidden-type lstm -layers 2 "
                            "-hidden 200 -class 1 -batch 20 -bptt 20 -optimizer sgd -alpha 1 -clip-norm 5")
    assert shown.endswith("-threads 2 -debug 0 -force -one-iter")
    assert common.shown(lstm_pytorch.rnnlmpy_train_command("t", "v", "m", 1, 3)).endswith("-threads 1 -debug 0 "
                                                                                            "-force -max-iter 3")
    torch = lstm_pytorch.torch_command("/venv/bin/python", "/data/ptb", 2, "/w/out.json", train="/w/slice.txt")
    assert torch[:2] == ["/venv/bin/python", lstm_pytorch.SCRIPT] and os.path.isfile(lstm_pytorch.SCRIPT)
    assert lstm_pytorch.shown_torch(torch) == ("python tools/bench/torch_zaremba.py --corpus ptb --epochs 1 "
                                               "--threads 2 --out out.json --train slice.txt --no-eval")
    evaluated = lstm_pytorch.torch_command("p", "c", 1, "o", epochs=13, evaluate=True)
    assert "--no-eval" not in evaluated and evaluated[evaluated.index("--epochs") + 1] == "13"
    # the script's recipe and rnnlmpy's options name the same numbers
    from tools.bench.torch_zaremba import Recipe
    options = dict(zip(lstm_pytorch.RNNLMPY_OPTIONS[::2], lstm_pytorch.RNNLMPY_OPTIONS[1::2]))
    assert int(options["-layers"]) == Recipe.layers and int(options["-hidden"]) == Recipe.hidden
    assert int(options["-batch"]) == Recipe.batch and int(options["-bptt"]) == Recipe.window
    assert float(options["-alpha"]) == Recipe.learning_rate and float(options["-clip-norm"]) == Recipe.clip_norm
    env = lstm_pytorch.torch_environment(3)
    assert env["OMP_NUM_THREADS"] == "3" and env["MKL_NUM_THREADS"] == "3"
    assert not any(key.startswith("PYTHON") for key in env)


def test_torch_installs_into_its_own_environment_outside_the_checkout(bench, tmp_path, monkeypatch):
    from tools.bench import lstm_pytorch

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    venv = lstm_pytorch.default_venv()
    assert venv == str(tmp_path / "cache" / "rnnlmpy-bench" / "torch-venv")
    assert lstm_pytorch.installed_torch(venv) is None  # no environment yet
    first, second = lstm_pytorch.pip_install_commands(venv)
    assert first[0] == os.path.join(venv, "bin", "python") and "torch==2.13.0+cpu" in first
    assert second[:len(first)] == first and second[-2:] == ["--extra-index-url", "https://download.pytorch.org/whl/cpu"]
    with open(os.path.join(CHECKOUT, "pyproject.toml"), encoding="utf-8") as handle:
        assert "torch" not in handle.read()


def test_torch_result_is_checked_before_use(bench, tmp_path):
    from tools.bench import common, lstm_pytorch

    with pytest.raises(common.BenchmarkError, match="no PyTorch result"):
        lstm_pytorch.read_torch_result(str(tmp_path / "missing.json"))
    write_text(tmp_path / "other.json", ['{"something": 1}'])
    with pytest.raises(common.BenchmarkError, match="not torch_zaremba.py's output"):
        lstm_pytorch.read_torch_result(str(tmp_path / "other.json"))
    write_text(tmp_path / "ok.json", [json.dumps({"words_per_second": 6000.5, "epochs": []})])
    assert lstm_pytorch.read_torch_result(str(tmp_path / "ok.json"))["words_per_second"] == 6000.5
    assert lstm_pytorch.ratio_median([9000, 12000, 10000], [6000, 6000, 6000]) == 1.667
    assert lstm_pytorch.ratio_median([], []) is None
    ppl_output = "test log probability: -1.0\nPPL net: 120.5\nwords: 82430\nOOV: 0\nscored 82,430 tokens in 2 s\n"
    assert lstm_pytorch.scored_tokens(ppl_output) == 82430
    with pytest.raises(common.BenchmarkError, match="no match"):
        lstm_pytorch.scored_tokens("PPL net: 120.5\n")


SIDE_BY_SIDE = {
    "threads": 2, "rounds": 3, "max_words": 100000, "epochs": 1, "sides": ["rnnlmpy", "pytorch"],
    "torch_version": "2.13.0+cpu", "load_average_before": [1.5, 1.2, 1.0], "load_average_after": [2.0, 1.5, 1.1],
    "speed": {"training_tokens": 102345, "ratio_median": 1.8, "load_average_rounds": [1.5, 3.25, 0.5],
              "sides": {"rnnlmpy": {"words_per_second": [11000, 12000, 10000], "peak_rss_mb": [150.0, 151.0, 149.5]},
                        "pytorch": {"words_per_second": [6000, 6500, 6100], "peak_rss_mb": [520.0, 530.5, 525.0]}},
              "commands": {"rnnlmpy": "rnnlmpy train -train slice.train.txt ...",
                           "pytorch": "python tools/bench/torch_zaremba.py ..."}},
    "perplexity": {"rnnlmpy": {"command": "rnnlmpy train ...", "valid_ppl": [180.25], "accepted": [True],
                               "words_per_second": 11500, "test_ppl": 172.0, "test_tokens": 82430, "seconds": 95.0,
                               "peak_rss_mb": 160.0},
                   "pytorch": {"command": "python tools/bench/torch_zaremba.py ...", "valid_ppl": [178.5],
                               "words_per_second": 6300, "test_ppl": 170.0, "test_tokens": 82430, "seconds": 170.0,
                               "peak_rss_mb": 540.0}}}


def test_side_by_side_tables_and_headline(bench):
    from tools.bench import lstm_pytorch, report

    text = lstm_pytorch.markdown(SIDE_BY_SIDE)
    assert "| rnnlmpy | 11,000 (11,000, 12,000, 10,000) | 151 |" in text
    assert "| pytorch | 6,100 (6,000, 6,500, 6,100) | 530 |" in text
    assert "**1.80x**" in text and "first 100,000 tokens" in text and "3 alternating rounds" in text
    assert "102,345 tokens with the line" in text and "each round: 1.5, 3.25, 0.5." in text
    assert "| rnnlmpy | 180.25 | 172.00 | 11,500 | 95 | 160 |" in text
    assert "over the same 82,430 tokens: rnnlmpy against pytorch +1.2%" in text
    assert "before [1.5, 1.2, 1.0], after [2.0, 1.5, 1.1]" in text
    only_torch = dict(SIDE_BY_SIDE, sides=["pytorch"], perplexity={"pytorch": SIDE_BY_SIDE["perplexity"]["pytorch"]},
                      speed=dict(SIDE_BY_SIDE["speed"], sides={"pytorch": SIDE_BY_SIDE["speed"]["sides"]["pytorch"]}))
    del only_torch["speed"]["ratio_median"]
    text = lstm_pytorch.markdown(only_torch)
    assert "| pytorch |" in text and "| rnnlmpy |" not in text and "x**" not in text and "%" not in text

    records = {"lstm_pytorch": {"date": "2026-12-06 09:00 UTC", "results": SIDE_BY_SIDE}}
    block = report.headline(records)
    row = next(line for line in block.splitlines() if "small LSTM (2 x 200" in line)
    assert "**1.80x** (rounds 1.64-1.85; 11,000 words/s, 2 threads)" in row and "PyTorch 2.13.0+cpu 6,100" in row
    assert report.TITLES["lstm_pytorch"] in report.section("lstm_pytorch", {**records["lstm_pytorch"],
                                                                            "tool": "tools.bench.lstm_pytorch",
                                                                            "command": "python -m x"})
    budget_row = next(line for line in block.splitlines() if "rnnlmpy's defaults" in line)
    assert "not measured: `python -m tools.bench.lstm_budget`" in budget_row


def budget_results(bench, max_iter=None, seconds=800.0, test_ppl=110.0):
    from tools.bench import common, lstm_budget

    records = [{"epoch": 1, "alpha": 1.0, "valid_ppl": 150.5, "accepted": True, "words_per_second": 20000.4},
               {"epoch": 2, "alpha": 0.5, "valid_ppl": 151.0, "accepted": False, "words_per_second": 21000}]
    figures = lstm_budget.summary(common.Measured(seconds, 300.0, ""), records, test_ppl,
                                  common.Measured(4.25, 120.0, ""))
    return {"command": "rnnlmpy train ...", "ppl_command": "rnnlmpy ppl -rnnlm m -test ptb.test.txt",
            "max_iter": max_iter, **figures, "load_average_before": [1.0, 1.0, 1.0],
            "load_average_after": [2.0, 1.0, 1.0]}


def test_budget_summary_judges_the_goal(bench):
    from tools.bench import lstm_budget

    results = budget_results(bench)
    assert results["goal"]["met"] and results["epochs"][0]["words_per_second"] == 20000
    assert not budget_results(bench, seconds=901.0)["goal"]["met"]
    assert not budget_results(bench, test_ppl=112.6)["goal"]["met"]
    text = lstm_budget.markdown(results)
    assert "| test PPL | **110.00** | <= 112.5 |" in text and "**13.3 min** (800 s)" in text
    assert "Goal met." in text and "after each epoch: 150.50, 151.00 (rejected)." in text and "-max-iter" not in text
    checked = lstm_budget.markdown(budget_results(bench, max_iter=1, seconds=1000.0))
    assert "Goal not met." in checked and "Stopped by `-max-iter 1`" in checked


def test_budget_command_is_exactly_the_goals(bench):
    from tools.bench import common, lstm_budget

    command = common.shown(lstm_budget.train_command("/data/ptb", "/tmp/w/m"))
    assert command == ("rnnlmpy train -train ptb.train.txt -valid ptb.valid.txt -rnnlm m -hidden-type lstm "
                       "-layers 2 -hidden 200 -threads 2")
    assert common.shown(lstm_budget.train_command("/data/ptb", "m", 1)).endswith("-threads 2 -max-iter 1")


def test_budget_headline_skips_a_check_run(bench):
    from tools.bench import report

    full = {"lstm_budget": {"date": "2026-12-06 10:00 UTC", "results": budget_results(bench)}}
    row = next(line for line in report.headline(full).splitlines() if "rnnlmpy's defaults" in line)
    assert "**110.00** in 13.3 min" in row and "goal <= 112.5 in <= 15 min" in row
    check = {"lstm_budget": {"date": "2026-12-06 10:00 UTC", "results": budget_results(bench, max_iter=1)}}
    row = next(line for line in report.headline(check).splitlines() if "rnnlmpy's defaults" in line)
    assert "not measured" in row


def test_dry_run_prints_both_sides_without_running_them(bench, tmp_path, monkeypatch, capsys):
    from tools.bench import lstm_pytorch

    ptb = tmp_path / "ptb"
    ptb.mkdir()
    for name in ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"):
        write_text(ptb / name, [" a b"])
    monkeypatch.setattr("sys.argv", ["lstm_pytorch", "--corpus", str(ptb), "--dry-run", "--out", str(tmp_path / "o"),
                                     "--torch-venv", str(tmp_path / "venv"), "--rounds", "2"])
    assert lstm_pytorch.main() == 0
    out = capsys.readouterr().out
    assert "speed x2: rnnlmpy train -train SLICE.txt" in out and "speed x2: python tools/bench/torch_zaremba.py" in out
    assert "perplexity: rnnlmpy ppl -rnnlm ppl.model -test ptb.test.txt" in out
    assert not (tmp_path / "venv").exists() and not (tmp_path / "o").exists()
    monkeypatch.setattr("sys.argv", ["lstm_pytorch", "--corpus", str(ptb), "--sides", "tensorflow"])
    from tools.bench import common
    with pytest.raises(common.BenchmarkError, match="--sides: choose from rnnlmpy, rnnlmpy-bfloat16, pytorch, "
                                                     "pytorch-bfloat16"):
        lstm_pytorch.main()


def two_hour_results(bench, test_ppl=93.0, combination=84.0, seconds=7000.0, max_iter=None):
    from tools.bench import lstm_2h

    results = {"command": "rnnlmpy train ...", "train_seconds": seconds, "train_peak_rss_mb": 900.0,
               "epochs": [{"epoch": 0, "alpha": 0.5, "valid_ppl": 160.25, "accepted": True, "words_per_second": 4000},
                          {"epoch": 1, "alpha": 0.5, "valid_ppl": 161.0, "accepted": False,
                           "words_per_second": 4100}],
               "test_ppl": test_ppl, "ppl_command": "rnnlmpy ppl -rnnlm m -test ptb.test.txt", "ppl_seconds": 30.0,
               "kn5_seconds": 40.0, "kn5_test_ppl": 141.2, "dynamic_valid_ppl": {"0.0": 97.5, "0.01": 92.25},
               "dynamic_rate": 0.01, "ensemble_command": "rnnlmpy ensemble ...", "ensemble_report": [],
               "combination_test_ppl": combination, "max_iter": max_iter, "load_average_before": [1.0, 1.0, 1.0],
               "load_average_after_training": [2.0, 2.0, 2.0]}
    results["goal"] = lstm_2h.judged(results)
    return results


def test_two_hour_goals_are_judged_on_time_and_both_perplexities(bench):
    from tools.bench import lstm_2h, report

    results = two_hour_results(bench)
    assert results["goal"]["single_met"] and results["goal"]["combination_met"]
    assert not two_hour_results(bench, test_ppl=95.01)["goal"]["single_met"]
    assert not two_hour_results(bench, combination=85.5)["goal"]["combination_met"]
    late = two_hour_results(bench, seconds=7200.0 - 39.0)["goal"]  # 40 s of KN5 push it past 2 h
    assert not late["single_met"] and not late["combination_met"]
    assert not two_hour_results(bench, max_iter=1)["goal"]["single_met"]
    text = lstm_2h.markdown(results)
    assert "| single model, test PPL | **93.00** | <= 95 | met |" in text
    assert "| KN5 + the model (EM, dynamic), test PPL | **84.00** | <= 85 | met |" in text
    assert "116.7 min (+ 40 s)" in text and "160.25, 161.00 (rejected)" in text and "0.01: 92.25" in text
    row = next(line for line in report.headline({"lstm_2h": {"date": "2026-12-06 17:00 UTC", "results": results}})
               .splitlines() if "medium LSTM" in line)
    assert "**93.00** alone, **84.00** with KN5, 117 min" in row
    check = {"lstm_2h": {"date": "2026-12-06 17:00 UTC", "results": two_hour_results(bench, max_iter=1)}}
    assert "not measured" in next(line for line in report.headline(check).splitlines() if "medium LSTM" in line)


def test_two_hour_command_and_ensemble_report(bench):
    from tools.bench import common, lstm_2h

    command = common.shown(lstm_2h.train_command("/data/ptb", "/tmp/w/m"))
    assert command == ("rnnlmpy train -train ptb.train.txt -valid ptb.valid.txt -rnnlm m -hidden-type lstm "
                       "-layers 2 -hidden 500 -dropout 0.4 -threads 2")
    report_text = ("member                           weight  valid PPL   test PPL\n"
                   "m                                0.6204      95.44      92.10\n"
                   "kn5.bin                          0.3796     148.30     141.20\n"
                   "ensemble (weights EM on valid)   1.0000      88.35      84.75\n")
    assert lstm_2h.ensemble_perplexity(report_text) == 84.75


def test_mixed_precision_sides_add_their_options_and_ratios(bench, tmp_path, monkeypatch, capsys):
    from tools.bench import common, lstm_pytorch

    mixed = common.shown(lstm_pytorch.rnnlmpy_train_command("t", "v", "m", 2, None, mixed=True))
    assert "-no-tie-weights -rand-seed 1 -product-precision bfloat16 -threads 2" in mixed
    assert "-product-precision" not in common.shown(lstm_pytorch.rnnlmpy_train_command("t", "v", "m", 2, None))
    assert lstm_pytorch.torch_command("p", "c", 2, "o", mixed=True)[-1] == "--bfloat16"
    assert "--bfloat16" not in lstm_pytorch.torch_command("p", "c", 2, "o")
    sides = {"rnnlmpy": {"words_per_second": [9000, 8000]}, "rnnlmpy-bfloat16": {"words_per_second": [12000, 11000]},
             "pytorch": {"words_per_second": [6000, 8000]}, "pytorch-bfloat16": {"words_per_second": [8000, 11000]}}
    ratios = lstm_pytorch.side_ratios(sides)
    assert ratios == {"rnnlmpy/pytorch": 1.25, "rnnlmpy/pytorch-bfloat16": pytest.approx(0.926, abs=1e-3),
                      "rnnlmpy-bfloat16/pytorch": 1.688, "rnnlmpy-bfloat16/pytorch-bfloat16": 1.25}
    results = dict(SIDE_BY_SIDE, speed=dict(SIDE_BY_SIDE["speed"], ratios=ratios))
    text = lstm_pytorch.markdown(results)
    assert "rnnlmpy / pytorch **1.25x** (like for like)" in text
    assert "rnnlmpy-bfloat16 / pytorch **1.69x**;" in text
    assert "rnnlmpy-bfloat16 / pytorch-bfloat16 **1.25x** (like for like)" in text
    from tools.bench import report
    sides = {name: dict(values, peak_rss_mb=[100.0, 100.0]) for name, values in sides.items()}
    results = dict(SIDE_BY_SIDE, speed=dict(SIDE_BY_SIDE["speed"], ratios=ratios, sides=sides))
    row = next(line for line in report.headline({"lstm_pytorch": {"date": "2026-12-06 09:00 UTC",
                                                                   "results": results}}).splitlines()
               if "small LSTM (2 x 200" in line)
    assert "`-product-precision bfloat16` **1.69x**, against PyTorch's bfloat16 autocast **1.25x**" in row
    assert "(bfloat16 autocast 9,500)" in row

    ptb = tmp_path / "ptb"
    ptb.mkdir()
    for name in ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"):
        write_text(ptb / name, [" a b"])
    monkeypatch.setattr("sys.argv", ["lstm_pytorch", "--corpus", str(ptb), "--dry-run", "--torch-venv",
                                     str(tmp_path / "venv"), "--sides", "rnnlmpy-bfloat16,pytorch-bfloat16"])
    assert lstm_pytorch.main() == 0
    out = capsys.readouterr().out
    assert "-product-precision bfloat16 -threads 2 -debug 0 -force -one-iter" in out
    assert "--no-eval --bfloat16" in out and "-max-iter 1" in out
