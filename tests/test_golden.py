"""Golden outputs: the README's commands on the real corpora print exactly what they printed when recorded.

The files in ``tests/golden/`` were written by the code before the package was
re-layered (issue 9); any change in a perplexity, a score, a sampled word or a
tag shows up here as a diff. Every command's stdout is compared line by line;
where a run writes files, they are written in a scratch folder whose name never
appears on stdout.

To re-record after an intended change of results (say why in the commit):
``python tests/test_golden.py --record``.

The kernels are compiled with fast-math, so the machine code, and with it the
last bits of every sum, depends on the CPU that Numba compiles for (PTB after
one epoch: test PPL 280.02 for an Intel-like target, 271.34 for AMD Zen 3;
training amplifies the first differing bit). The commands therefore run with
Numba's target pinned to ``GOLDEN_CPU`` (x86-64 with AVX2 and FMA), so every
such machine reproduces the files; elsewhere the comparison is skipped. The
pin names the CPU *and* its features (``NUMBA_CPU_FEATURES`` empty: the named
CPU's own): with the name alone Numba takes the features of the host, and on a
machine with AVX-512 the loops were vectorised 512 bits wide, which changed the
last bits of the sums and failed every file.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
GOLDEN_CPU = "haswell"  # the Numba/LLVM target the golden files are recorded and checked with

# name -> list of commands; "{ex}", "{ptb}", "{pos}" are corpus folders and "{work}" the scratch folder.
# Each command's stdout is kept; the golden file is their concatenation.
SCENARIOS = {
    "example_rnn": [
        "train -train {ex}/train.txt -valid {ex}/valid.txt -rnnlm {work}/rnn -hidden 15 -class 100 -bptt 4 "
        "-bptt-block 10 -rand-seed 1 -debug 0",
        "ppl -rnnlm {work}/rnn -test {ex}/test.txt -debug 0",
        "ppl -rnnlm {work}/rnn -test {ex}/test.txt -dynamic 0.1 -debug 0",
        "gen -rnnlm {work}/rnn -gen 60 -rand-seed 7",
        "convert -rnnlm {work}/rnn -to rnnlm-text -o {work}/rnn.txt",
        "ppl -rnnlm {work}/rnn.txt -test {ex}/test.txt -debug 0",
    ],
    "example_rnnme_ngram": [
        "train -train {ex}/train.txt -valid {ex}/valid.txt -rnnlm {work}/me -hidden 15 -class 50 -bptt 4 "
        "-bptt-block 10 -rand-seed 2 -direct 2 -direct-order 3 -activation tanh -debug 0",
        "ppl -rnnlm {work}/me -test {ex}/test.txt -debug 0",
        "ngram -train {ex}/train.txt -order 5 -arpa {work}/kn5.arpa -debug 0",
        "ngram -lm {work}/kn5.arpa -test {ex}/test.txt -debug 0",
        "ppl -rnnlm {work}/me -test {ex}/test.txt -ngram {work}/kn5.arpa -lambda auto -valid {ex}/valid.txt "
        "-debug 0",
        "ensemble -rnnlm {work}/me -ngram {work}/kn5.arpa -valid {ex}/valid.txt -test {ex}/test.txt",
    ],
    "ptb_one_epoch": [
        "train -train {ptb}/ptb.train.txt -valid {ptb}/ptb.valid.txt -rnnlm {work}/ptb -hidden 100 -class 100 "
        "-bptt 4 -bptt-block 10 -one-iter -rand-seed 1 -debug 0",
        "ppl -rnnlm {work}/ptb -test {ptb}/ptb.test.txt -debug 0",
    ],
    "wiki_en_tagging": [
        "tag-train -train {pos}/wiki-en-train.norm_pos -model {work}/tagger -rand-seed 1 -debug 0",
        "tag -model {work}/tagger -test {pos}/wiki-en-test.norm -debug 0 > {work}/rnn.pos",
        "grade {pos}/wiki-en-test.pos {work}/rnn.pos -words {pos}/wiki-en-test.norm "
        "-train {pos}/wiki-en-train.norm_pos",
        "tag-train -train {pos}/wiki-en-train.norm_pos -model {work}/tutorial -tutorial -rand-seed 2 -debug 0",
        "tag -model {work}/tutorial -test {pos}/wiki-en-test.norm -debug 0 > {work}/tutorial.pos",
        "grade {pos}/wiki-en-test.pos {work}/tutorial.pos",
        "tag-train -train {pos}/wiki-en-train.norm_pos -model {work}/hmm.txt -model-type hmm -debug 0",
        "tag -model {work}/hmm.txt -test {pos}/wiki-en-test.norm -debug 0 > {work}/hmm.pos",
        "grade {pos}/wiki-en-test.pos {work}/hmm.pos",
    ],
}


def run_scenario(name: str, folders: dict, work: str) -> str:
    """Run one scenario's commands in order; return their stdout joined.

    A command ending in ``> FILE`` writes its stdout to FILE (for a later command) and
    contributes its line count and SHA-256 instead.
    """
    output = []
    for command in SCENARIOS[name]:
        text = command.format(work=work, **folders)
        redirect = None
        if " > " in text:
            text, redirect = text.split(" > ")
        result = subprocess.run([sys.executable, "-m", "rnnlmpy", *text.split()], capture_output=True, text=True,
                                env={**os.environ, "NUMBA_CPU_NAME": GOLDEN_CPU, "NUMBA_CPU_FEATURES": "",
                                     "RNNLMPY_THREADS": "1"})
        if result.returncode != 0:
            raise AssertionError(f"rnnlmpy {text} failed:\n{result.stderr}")
        if redirect is not None:
            with open(redirect, "w", encoding="utf-8") as handle:
                handle.write(result.stdout)
            digest = hashlib.sha256(result.stdout.encode("utf-8")).hexdigest()
            output.append(f"$ rnnlmpy {command}\n{len(result.stdout.splitlines())} lines, sha256 {digest}\n")
        else:
            stdout = result.stdout.replace(work, "{work}")
            for key, folder in folders.items():
                stdout = stdout.replace(folder, "{" + key + "}")
            output.append(f"$ rnnlmpy {command}\n{stdout}")
    return "".join(output)


def corpus_folders(find) -> dict:
    return {"ex": find("rnnlm-example"), "ptb": find("ptb"), "pos": find("wiki-en-pos")}


def golden_cpu_runs_here() -> bool:
    """Whether this machine executes code built for GOLDEN_CPU (x86-64 with AVX2 and FMA)."""
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features()
    return os.uname().machine in ("x86_64", "AMD64") and bool(features.get("avx2")) and bool(features.get("fma"))


@pytest.mark.integration
@pytest.mark.skipif(not golden_cpu_runs_here(), reason=f"the golden files are for Numba target {GOLDEN_CPU}")
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_output_matches_the_recorded_golden_file(name, corpus_dir, tmp_path):
    with open(os.path.join(GOLDEN, f"{name}.txt"), encoding="utf-8") as handle:
        expected = handle.read()
    assert run_scenario(name, corpus_folders(corpus_dir), str(tmp_path)) == expected


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    import tempfile

    sys.path.insert(0, os.path.dirname(GOLDEN))
    from helpers import load_locator

    locator = load_locator()
    folders = corpus_folders(locator.find_corpus)
    os.makedirs(GOLDEN, exist_ok=True)
    for scenario in sorted(SCENARIOS):
        with tempfile.TemporaryDirectory() as scratch:
            recorded = run_scenario(scenario, folders, scratch)
        with open(os.path.join(GOLDEN, f"{scenario}.txt"), "w", encoding="utf-8") as handle:
            handle.write(recorded)
        print(f"recorded {scenario}")
