"""RNN + n-gram interpolation: weights, EM tuning, -lm-prob files, the compare table."""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from rnnlmpy import RnnlmConfig, score_tokens, train
from rnnlmpy.base.text import read_corpus
from rnnlmpy.mixing.interpolate import interpolate, ngram_token_probabilities, tune_lambda
from rnnlmpy.ngram import train_ngram, write_arpa

from helpers import pattern_corpus, write_text
from test_cli import run


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("interp")
    train_file = write_text(folder / "train.txt", pattern_corpus(800, seed=1))
    valid_file = write_text(folder / "valid.txt", pattern_corpus(80, seed=2))
    test_file = write_text(folder / "test.txt", pattern_corpus(80, seed=3) + ["alpha NEWWORD one"])
    rnn_file = str(folder / "rnn.model")
    train(train_file, rnn_file, valid_file, RnnlmConfig(hidden_size=8, class_count=3, bptt=3, rand_seed=2),
          max_iter=3, debug=0)
    ngram, _ = train_ngram(train_file, 3)
    arpa = str(folder / "kn3.arpa")
    write_arpa(ngram, arpa)
    return dict(folder=folder, train=train_file, valid=valid_file, test=test_file, rnn=rnn_file, arpa=arpa,
                ngram=ngram)


def test_lambda_one_and_zero_give_each_model_alone(models):
    from rnnlmpy import load_model
    result = score_tokens(load_model(models["rnn"]), read_corpus(models["test"]))
    other = ngram_token_probabilities(models["ngram"], result.tokens)
    known = result.word_ids >= 0
    alone = interpolate(result.probabilities, known, other, 1.0)
    assert alone.combined_log10 == pytest.approx(float(np.sum(np.log10(result.probabilities[known]))) - 8 *
                                                 int(np.sum(~known & (other > 0))))
    ngram_only = interpolate(result.probabilities, known, other, 0.0)
    assert ngram_only.combined_log10 == pytest.approx(ngram_only.other_log10)


def test_em_finds_the_perplexity_minimum(models):
    from rnnlmpy import load_model
    result = score_tokens(load_model(models["rnn"]), read_corpus(models["valid"]))
    other = ngram_token_probabilities(models["ngram"], result.tokens)
    known = result.word_ids >= 0
    lam = tune_lambda(result.probabilities, known, other)
    best = minimize_scalar(lambda x: -interpolate(result.probabilities, known, other, x).combined_log10,
                           bounds=(0, 1), method="bounded", options={"xatol": 1e-6})
    assert lam == pytest.approx(best.x, abs=1e-3)
    mixed = interpolate(result.probabilities, known, other, lam)
    assert mixed.combined_ppl <= min(mixed.rnn_ppl, mixed.other_ppl)


def test_ppl_with_ngram_and_with_lm_prob_file_agree(models, capsys):
    code, out, _ = run(["ppl", "-rnnlm", models["rnn"], "-test", models["test"], "-ngram", models["arpa"],
                        "-lambda", "0.3", "-debug", "2"], capsys)
    assert code == 0
    table = [line.split("\t") for line in out.splitlines() if "\t" in line]
    lm_prob = models["folder"] / "lm.prob"
    lm_prob.write_text("".join(f"{fields[2]}\n" if fields[0] != "-1" else f"{fields[3]}\n" for fields in table))
    summary = {line.split(":")[0]: line for line in out.splitlines() if ":" in line and "\t" not in line}
    code, out2, _ = run(["ppl", "-rnnlm", models["rnn"], "-test", models["test"], "-lm-prob", str(lm_prob),
                         "-lambda", "0.3"], capsys)
    assert code == 0
    summary2 = {line.split(":")[0]: line for line in out2.splitlines() if ":" in line}
    combined = float(summary["PPL combine"].split()[-1])
    assert float(summary2["PPL combine"].split()[-1]) == pytest.approx(combined, rel=1e-6)
    assert "0.300000*rnn + 0.700000*other_lm" in out


def test_lambda_auto_reports_the_tuned_weight(models, capsys):
    code, out, err = run(["ppl", "-rnnlm", models["rnn"], "-test", models["test"], "-ngram", models["arpa"],
                          "-lambda", "auto", "-valid", models["valid"]], capsys)
    assert code == 0 and "lambda tuned by EM" in err
    combined = float([line for line in out.splitlines() if line.startswith("PPL combine")][0].split()[-1])
    net = float([line for line in out.splitlines() if line.startswith("PPL net")][0].split()[-1])
    assert combined < net


@pytest.mark.parametrize("argv, expected", [
    (["-lambda", "1.5", "-ngram", "{arpa}"], "not between 0 and 1"),
    (["-lambda", "auto", "-ngram", "{arpa}"], "-valid"),
    (["-lambda", "0.5"], "needs another model"),
    (["-lm-prob", "{train}"], "lines but the test text has"),
    (["-ngram", "{rnn}"], "is an rnnlmpy model, not an ARPA model"),
])
def test_interpolation_bad_input(models, argv, expected, capsys):
    argv = [a.format(**models) for a in argv]
    code, _, err = run(["ppl", "-rnnlm", models["rnn"], "-test", models["test"], *argv], capsys)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err


def test_compare_prints_one_table(models, capsys):
    code, out, _ = run(["compare", "-train", models["train"], "-valid", models["valid"], "-test", models["test"],
                        "-rnnlm", models["rnn"], "-orders", "2,3"], capsys)
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["model", "valid", "PPL"]
    names = [line.split()[0] for line in lines[1:]]
    assert names[:3] == ["KN2", "KN3", "rnn.model"] and lines[4].startswith("rnn.model + KN3")
    assert "lambda" in lines[4]
