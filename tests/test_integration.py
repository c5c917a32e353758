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


def test_ptb_within_2_percent_of_cpp(corpus_dir, tmp_path):
    """Three seeds (two at a time on the 2-core machine): their mean within 2% of the C++ figure.

    One seed is one draw: across seeds 1-4 the test perplexity spreads by about 3%,
    so a single seed says little about the method (see README).
    """
    folder = corpus_dir("ptb")
    seeds = [1, 2, 3]
    commands = [train_command(folder, "ptb.train.txt", "ptb.valid.txt", "ptb.test.txt", str(tmp_path / f"m{seed}"),
                              "-hidden", "100", "-class", "100", "-bptt", "4", "-bptt-block", "10",
                              "-rand-seed", str(seed), "-debug", "0") for seed in seeds]
    results = []
    for start in range(0, len(commands), 2):
        running = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for c in commands[start:start + 2]]
        for process in running:
            out, err = process.communicate()
            assert process.returncode == 0, err
            results.append(perplexity_of(out))
    mean = sum(results) / len(results)
    print(f"PTB test perplexity by seed {dict(zip(seeds, results))}, mean {mean:.2f}")
    assert abs(mean - CPP_PTB_PPL) / CPP_PTB_PPL < 0.02, results
    assert all(abs(ppl - CPP_PTB_PPL) / CPP_PTB_PPL < 0.04 for ppl in results), results
