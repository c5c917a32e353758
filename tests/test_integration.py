"""Integration tests on the real corpora (they fail, not skip, under CI=true when the corpora are missing).

The C++ rnnlm 0.4a figures come from ../shared/docs/rnnlm-reference.md (measured on this machine type).
"""

import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

CPP_EXAMPLE_PPL = 78.77  # -hidden 15 -class 100 -bptt 4 -bptt-block 10 -rand-seed 1
CPP_PTB_PPL = 149.30  # -hidden 100 -class 100 -bptt 4 -bptt-block 10 -rand-seed 1


def train_command(folder, train, valid, test, model, *options):
    return [sys.executable, "-m", "rnnlmpy", "train", "-train", os.path.join(folder, train),
            "-valid", os.path.join(folder, valid), "-rnnlm", model, "-test", os.path.join(folder, test),
            *options]


def perplexity_of(output: str) -> float:
    return float(re.search(r"^PPL net: ([\d.]+)$", output, re.MULTILINE).group(1))


def test_rnnlm_example_data_within_3_percent_of_cpp(corpus_dir, tmp_path):
    folder = corpus_dir("rnnlm-example")
    result = subprocess.run(
        train_command(folder, "train.txt", "valid.txt", "test.txt", str(tmp_path / "model"), "-hidden", "15",
                      "-class", "100", "-bptt", "4", "-bptt-block", "10", "-rand-seed", "1"),
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    ppl = perplexity_of(result.stdout)
    assert abs(ppl - CPP_EXAMPLE_PPL) / CPP_EXAMPLE_PPL < 0.03, ppl


@pytest.fixture(scope="session")
def ptb_rnn_models(corpus_dir, tmp_path_factory):
    """PTB RNNLMs of seeds 1-3 (hidden 100, class 100, bptt 4, block 10), trained two at a time.

    Returns {seed: (model path, test perplexity printed by `train -test`)}.
    """
    folder = corpus_dir("ptb")
    workdir = tmp_path_factory.mktemp("ptb")
    seeds = [1, 2, 3]
    commands = {seed: train_command(folder, "ptb.train.txt", "ptb.valid.txt", "ptb.test.txt",
                                    str(workdir / f"rnn{seed}.model"), "-hidden", "100", "-class", "100", "-bptt",
                                    "4", "-bptt-block", "10", "-rand-seed", str(seed), "-debug", "0")
                for seed in seeds}
    models = {}
    for start in range(0, len(seeds), 2):
        running = {seed: subprocess.Popen(commands[seed], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for seed in seeds[start:start + 2]}
        for seed, process in running.items():
            out, err = process.communicate()
            assert process.returncode == 0, err
            models[seed] = (str(workdir / f"rnn{seed}.model"), perplexity_of(out))
    return models


def test_ptb_within_2_percent_of_cpp(ptb_rnn_models):
    """The mean of seeds 1-3 within 2% of the C++ figure, and each seed within 4%.

    One seed is one draw: across seeds 1-4 the test perplexity spreads by about 3%,
    so a single seed says little about the method (docs/notes/2026-11-22-first-results.md).
    """
    results = [ppl for _, ppl in ptb_rnn_models.values()]
    mean = sum(results) / len(results)
    print(f"PTB test perplexity by seed {ptb_rnn_models}, mean {mean:.2f}")
    assert abs(mean - CPP_PTB_PPL) / CPP_PTB_PPL < 0.02, results
    assert all(abs(ppl - CPP_PTB_PPL) / CPP_PTB_PPL < 0.04 for ppl in results), results


SRILM_KN5_PPL = 141.2  # published SRILM modified KN 5-gram on PTB, no cutoffs, 82,430 scored tokens
SRILM_KN3_PPL = 148.3


@pytest.fixture(scope="session")
def ptb_kn5(corpus_dir, tmp_path_factory):
    folder = corpus_dir("ptb")
    arpa = str(tmp_path_factory.mktemp("kn") / "kn5.arpa")
    result = subprocess.run([sys.executable, "-m", "rnnlmpy", "ngram", "-train", os.path.join(folder, "ptb.train.txt"),
                             "-order", "5", "-arpa", arpa], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return arpa


def ngram_report(arpa, test_file):
    result = subprocess.run([sys.executable, "-m", "rnnlmpy", "ngram", "-lm", arpa, "-test", test_file],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    match = re.search(r"(\d+) sentences, (\d+) words, (\d+) OOVs\n0 zeroprobs, logprob= (\S+) ppl= (\S+) ppl1= (\S+)",
                      result.stdout)
    sentences, words, oovs = (int(match.group(i)) for i in (1, 2, 3))
    return {"tokens": sentences + words - oovs, "logprob": float(match.group(4)), "ppl": float(match.group(5))}


def test_ptb_kn5_matches_srilm_and_kenlm(corpus_dir, ptb_kn5):
    import kenlm
    test_file = os.path.join(corpus_dir("ptb"), "ptb.test.txt")
    ours = ngram_report(ptb_kn5, test_file)
    assert ours["tokens"] == 82430
    assert abs(ours["ppl"] - SRILM_KN5_PPL) <= 0.2, ours
    reader = kenlm.Model(ptb_kn5)
    with open(test_file, encoding="utf-8") as handle:
        logprob = sum(reader.score(line.strip(), bos=True, eos=True) for line in handle if line.strip())
    kenlm_ppl = 10 ** (-logprob / 82430)
    assert abs(kenlm_ppl - ours["ppl"]) / ours["ppl"] < 1e-4, (kenlm_ppl, ours)


def test_ptb_kn3_close_to_srilm(corpus_dir, tmp_path):
    folder = corpus_dir("ptb")
    arpa = str(tmp_path / "kn3.arpa")
    subprocess.run([sys.executable, "-m", "rnnlmpy", "ngram", "-train", os.path.join(folder, "ptb.train.txt"),
                    "-order", "3", "-arpa", arpa], check=True, capture_output=True)
    assert abs(ngram_report(arpa, os.path.join(folder, "ptb.test.txt"))["ppl"] - SRILM_KN3_PPL) <= 0.2


def test_ptb_rnn_plus_kn5_beats_both(corpus_dir, ptb_rnn_models, ptb_kn5):
    folder = corpus_dir("ptb")
    model, _ = ptb_rnn_models[1]
    result = subprocess.run([sys.executable, "-m", "rnnlmpy", "ppl", "-rnnlm", model, "-test",
                             os.path.join(folder, "ptb.test.txt"), "-ngram", ptb_kn5, "-lambda", "auto", "-valid",
                             os.path.join(folder, "ptb.valid.txt")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    values = dict(re.findall(r"^(PPL \w+): ([\d.]+)$", result.stdout, re.MULTILINE))
    net, other, combined = (float(values[k]) for k in ("PPL net", "PPL other", "PPL combine"))
    print(f"PTB RNN {net:.2f}, KN5 {other:.2f}, interpolated {combined:.2f}; {result.stderr.strip()}")
    assert combined < min(net, other) - 10


def test_wiki_en_hmm_reproduces_the_tutorial_exactly(corpus_dir, tmp_path):
    folder = corpus_dir("wiki-en-pos")
    model, answer = str(tmp_path / "hmm.txt"), tmp_path / "hmm.pos"
    rnnlmpy = [sys.executable, "-m", "rnnlmpy"]
    subprocess.run(rnnlmpy + ["tag-train", "-train", os.path.join(folder, "wiki-en-train.norm_pos"), "-model", model,
                              "-model-type", "hmm"], check=True, capture_output=True)
    tagged = subprocess.run(rnnlmpy + ["tag", "-model", model, "-test", os.path.join(folder, "wiki-en-test.norm")],
                            check=True, capture_output=True, text=True)
    answer.write_text(tagged.stdout)
    graded = subprocess.run(rnnlmpy + ["grade", os.path.join(folder, "wiki-en-test.pos"), str(answer)],
                            check=True, capture_output=True, text=True)
    assert graded.stdout.startswith("Accuracy: 90.82% (4144/4563)")


def test_wiki_en_default_tagger_beats_the_references(corpus_dir, tmp_path):
    """The default RNN tagger (seed 1) at 95.5% or better: above the trigram HMM (94.94%) and perceptron (95.35%)."""
    folder = corpus_dir("wiki-en-pos")
    model, answer = str(tmp_path / "tagger"), tmp_path / "rnn.pos"
    rnnlmpy = [sys.executable, "-m", "rnnlmpy"]
    subprocess.run(rnnlmpy + ["tag-train", "-train", os.path.join(folder, "wiki-en-train.norm_pos"), "-model", model],
                   check=True, capture_output=True)
    tagged = subprocess.run(rnnlmpy + ["tag", "-model", model, "-test", os.path.join(folder, "wiki-en-test.norm")],
                            check=True, capture_output=True, text=True)
    answer.write_text(tagged.stdout)
    graded = subprocess.run(rnnlmpy + ["grade", os.path.join(folder, "wiki-en-test.pos"), str(answer)],
                            check=True, capture_output=True, text=True)
    correct, total = map(int, re.search(r"\((\d+)/(\d+)\)", graded.stdout).groups())
    assert total == 4563 and correct / total >= 0.955, graded.stdout


def test_rnnlm_example_direct_connections_within_3_percent_of_cpp(corpus_dir, tmp_path):
    """rnnlm's RNNME: -direct 2 -direct-order 3 takes the C++ tool from 78.77 to 72.45 on its example data."""
    folder = corpus_dir("rnnlm-example")
    result = subprocess.run(
        train_command(folder, "train.txt", "valid.txt", "test.txt", str(tmp_path / "model"), "-hidden", "15",
                      "-class", "100", "-bptt", "4", "-bptt-block", "10", "-direct", "2", "-direct-order", "3",
                      "-rand-seed", "1"), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    ppl = perplexity_of(result.stdout)
    assert abs(ppl - 72.45) / 72.45 < 0.03, ppl
    dynamic = subprocess.run([sys.executable, "-m", "rnnlmpy", "ppl", "-rnnlm", str(tmp_path / "model"), "-test",
                              os.path.join(folder, "test.txt"), "-dynamic", "0.1"], capture_output=True, text=True)
    assert perplexity_of(dynamic.stdout) < ppl  # dynamic evaluation helps here too


def test_ptb_ensemble_of_rnns_and_kn5_beats_every_member(corpus_dir, ptb_rnn_models, ptb_kn5):
    folder = corpus_dir("ptb")
    command = [sys.executable, "-m", "rnnlmpy", "ensemble", "-valid", os.path.join(folder, "ptb.valid.txt"),
               "-test", os.path.join(folder, "ptb.test.txt"), "-ngram", ptb_kn5]
    for path, _ in ptb_rnn_models.values():
        command += ["-rnnlm", path]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    members = [float(line.split()[-1]) for line in lines[1:-2]]
    combined = float(lines[-2].split()[-1])
    print(result.stdout)
    assert len(members) == 4 and combined < min(members) - 10
    assert "82,430 scored by every member" in lines[-1]
