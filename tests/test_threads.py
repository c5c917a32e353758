"""Several threads: hogwild training, and scoring that shares independent work among threads.

Training with one thread is the single pass, bit for bit; with several it is
hogwild (not reproducible), so those tests check what must hold regardless:
every word is trained once, nothing is lost in merging, the model learns as
well, a checkpoint resumes. Scoring with threads must equal scoring without.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import numpy as np
import pytest

from rnnlmpy import RnnlmConfig, train
from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.base.system import available_cores, default_threads, split_evenly, thread_map
from rnnlmpy.mixing.ensemble import run_ensemble
from rnnlmpy.rnnlm import hogwild, network
from rnnlmpy.rnnlm.evaluation import evaluate_file
from rnnlmpy.rnnlm.hogwild import HogwildEpoch, _Replica, epoch_slices, merge_scale
from rnnlmpy.rnnlm.model_file import HISTORY_SUFFIX, load_model
from rnnlmpy.rnnlm.nbest import nbest_start_state, score_nbest
from rnnlmpy.rnnlm.streams import language_model_stream

from helpers import pattern_corpus, run_cli, train_until_crash, write_text


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("threads")
    return dict(folder=folder, train=write_text(folder / "train.txt", pattern_corpus(3000, seed=1)),
                valid=write_text(folder / "valid.txt", pattern_corpus(100, seed=2)),
                test=write_text(folder / "test.txt", pattern_corpus(200, seed=3) + ["alpha NEWWORD one"]))


def small_config(**changes) -> RnnlmConfig:
    return RnnlmConfig(**{**dict(hidden_size=10, class_count=3, bptt=3, rand_seed=1), **changes})


FIXED_RATE_EPOCHS = 5


def fixed_rate_config(**changes) -> RnnlmConfig:
    """``small_config`` whose learning rate never halves (``min_improvement=0``): hogwild's results are noisy,
    and rnnlm's schedule can turn that noise into an early halving."""
    return small_config(min_improvement=0.0, **changes)


def fixed_rate_model(texts, name: str, threads: int, attempt: int = 0, **changes):
    """A ``fixed_rate_config`` model trained FIXED_RATE_EPOCHS epochs on ``threads`` threads (written as
    ``name-threads-attempt.model``), and its test perplexity."""
    path = str(texts["folder"] / f"{name}-{threads}-{attempt}.model")
    model = train(texts["train"], path, texts["valid"], fixed_rate_config(**changes), max_iter=FIXED_RATE_EPOCHS,
                  debug=0, threads=threads)
    return model, evaluate_file(model, texts["test"]).perplexity


def pattern_stream(model, lines: int, seed: int):
    """The token stream of ``pattern_corpus(lines, seed)`` (each line closed by ``</s>``) in the model's ids, as
    training reads the file of those lines."""
    return language_model_stream(model.vocabulary.encode(
        [t for line in pattern_corpus(lines, seed=seed) for t in (*line.split(), "</s>")]))


def test_epoch_slices_tile_the_stream_at_sentence_ends():
    words = np.array([3, 4, 0, 5, 0, 6, 7, 8, 0, 9, 0, 3, 0], dtype=np.int32)
    stream = language_model_stream(words)
    for threads in (1, 2, 3, 4, 20):
        slices = epoch_slices(stream, threads)
        assert slices[0][0] == 0 and slices[-1][1] == len(stream) and len(slices) <= threads
        for (begin, end, position), following in zip(slices, slices[1:] + [None]):
            assert position == begin < end
            assert words[end - 1] == 0  # each slice ends with a sentence
            if following is not None:
                assert following[0] == end
    assert len(epoch_slices(stream, 2)) == 2


def test_split_evenly_and_thread_map():
    assert split_evenly(np.array([0, 10]), 4) == [(0, 10)]
    assert split_evenly(np.array([0, 2, 5, 6, 9, 10]), 2) == [(0, 5), (5, 10)]
    seen = set()

    def square(x):
        seen.add(threading.get_ident())
        return x * x

    assert thread_map(square, list(range(50)), 4) == [x * x for x in range(50)]
    assert thread_map(square, [], 4) == []


def test_replica_merges_lose_no_update(tmp_path):
    train_file = write_text(tmp_path / "t.txt", pattern_corpus(50, seed=1))
    model = train(train_file, str(tmp_path / "m"), None, small_config(), one_iter=True, debug=0)
    before = model.recurrent.copy()
    flags = np.zeros(2, dtype=np.int64)
    first, second = _Replica(model, flags), _Replica(model, flags)
    first.model.recurrent += 1.0
    second.model.recurrent += 2.0
    network.merge(first.merging)
    network.merge(second.merging)
    np.testing.assert_allclose(model.recurrent, before + 3.0, rtol=1e-6)
    np.testing.assert_allclose(second.model.recurrent, model.recurrent)  # continues from the shared sum
    assert flags[0] == 0  # the lock is free again


def test_merges_add_the_mean_of_the_threads_changes(tmp_path):
    """N threads' merges add 1/N of each change: the shared matrices move by the mean of the changes."""
    assert merge_scale(1) == 1.0 and merge_scale(2) == 0.5
    assert merge_scale(8) == 0.125 and merge_scale(16) == 0.0625
    train_file = write_text(tmp_path / "t.txt", pattern_corpus(50, seed=1))
    model = train(train_file, str(tmp_path / "m"), None, small_config(), one_iter=True, debug=0)
    before = model.recurrent.copy()
    flags = np.zeros(2, dtype=np.int64)
    replicas = [_Replica(model, flags, merge_scale(2)) for _ in range(2)]
    replicas[0].model.recurrent += 1.0
    replicas[1].model.recurrent += 2.0
    for replica in replicas:
        network.merge(replica.merging)
    np.testing.assert_allclose(model.recurrent, before + 0.5 * 3.0, rtol=1e-6)
    np.testing.assert_allclose(replicas[1].model.recurrent, model.recurrent)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_merge_kernel_adds_the_change_and_resets_both_copies(dtype):
    rng = np.random.default_rng(5)
    shared = tuple(rng.normal(size=n).astype(dtype) for n in (21, 0, 4))
    base = tuple(rng.normal(size=n).astype(dtype) for n in (21, 0, 4))
    local = tuple(b + rng.normal(size=b.shape).astype(dtype) for b in base)
    expected = [s + (l - b) for s, l, b in zip(shared, local, base)]  # the slow NumPy reference
    network.merge(network.Merging(shared=shared, local=local, base=base, flags=np.zeros(2, dtype=np.int64), every=1))
    for want, s, l, b in zip(expected, shared, local, base):
        np.testing.assert_allclose(s, want, rtol=1e-6)
        np.testing.assert_array_equal(l, s)
        np.testing.assert_array_equal(b, s)


def test_kernel_lock_serialises_merges_of_two_threads():
    """Two threads each add 1 to a shared array 2,000 times through the kernels' spin lock: no update is lost
    (a merge without the lock would lose some of them)."""
    from rnnlmpy.kernels import hogwild as kernel

    flags = np.zeros(2, dtype=np.int64)
    shared = (np.zeros(50_000),)
    merges = []
    for _ in range(2):
        local = (np.ones(50_000),)
        merges.append(network.Merging(shared=shared, local=local, base=(np.zeros(50_000),), flags=flags, every=1))

    def add(merging):
        for _ in range(2_000):
            merging.local[0][:] = merging.base[0] + 1.0
            network.merge(merging)

    thread_map(add, merges, 2)
    np.testing.assert_array_equal(shared[0], np.full(50_000, 4_000.0))
    assert flags[0] == 0 and kernel.try_lock(flags) and not kernel.try_lock(flags)
    kernel.unlock(flags)
    assert kernel.try_lock(flags)


def test_hogwild_round_trains_every_position_once(texts):
    model = train(texts["train"], str(texts["folder"] / "round.model"), texts["valid"], small_config(), max_iter=1,
                  debug=0, threads=1)
    stream = pattern_stream(model, 3000, seed=1)
    slices = epoch_slices(stream, 3)
    states = [network.KernelState.fresh(model.config, thread=k) for k in range(len(slices))]
    epoch = HogwildEpoch(model, stream, slices, states)
    trained, scored = 0, 0
    try:
        while trained < len(stream):
            _, round_scored, round_trained = epoch.train_round(1_000, 0.1)
            trained += round_trained
            scored += round_scored
    finally:
        epoch.close()
    assert trained == len(stream) and scored == len(stream)
    assert all(position == end for _, end, position in slices)
    assert sum(int(state.counters[2]) for state in states) == len(stream)
    assert np.all(np.isfinite(model.recurrent)) and np.all(np.isfinite(model.class_weights))


MODEL_KINDS = [dict(), dict(output_layer="hs", class_count=1), dict(output_layer="nce", class_count=1, nce_samples=5),
               dict(activation="gru"), dict(direct_size=20_000)]


def kind_name(changes: dict) -> str:
    return "-".join(map(str, changes.values())) or "class"


@pytest.mark.parametrize("changes", MODEL_KINDS, ids=kind_name)
def test_a_merging_thread_alone_trains_what_one_pass_trains(texts, changes):
    """One hogwild replica whose kernel merges every 7 words into the model ends where the plain single pass
    ends, up to the rounding of ``shared + (local - base)``: every array of every model kind is merged, none
    twice."""
    config = small_config(**changes)
    model = train(texts["train"], str(texts["folder"] / f"alone-{kind_name(changes)}.model"), texts["valid"],
                  config, max_iter=1, debug=0, threads=1)
    stream = pattern_stream(model, 300, seed=4)
    plain = replace(model, **{name: array.copy() for name, array in model.weights().items()})
    merged = replace(model, **{name: array.copy() for name, array in model.weights().items()})
    plain_result = network.train_span(plain, stream, 0, len(stream), network.KernelState.fresh(config), 0.1)
    replica = _Replica(merged, np.zeros(2, dtype=np.int64))
    replica.merging = replace(replica.merging, every=7)
    merged_result = network.train_span(replica.model, stream, 0, len(stream), network.KernelState.fresh(config), 0.1,
                                       hot_rows=replica.hot_rows, merging=replica.merging)
    assert merged_result[1:] == plain_result[1:] == (len(stream), len(stream))
    assert merged_result[0] == pytest.approx(plain_result[0], rel=1e-6)
    assert replica.merging.flags.tolist() == [0, 1]  # lock free, the round ended by this thread
    for name, array in plain.weights().items():
        np.testing.assert_allclose(getattr(merged, name), array, rtol=0, atol=1e-5, err_msg=name)
        assert array.size == 0 or not np.array_equal(array, getattr(model, name)), name  # it did train


def assert_tiles(slices, begin: int, end: int) -> None:
    """``slices`` cover ``begin``..``end`` in order, each position between its slice's begin and end."""
    assert slices[0][0] == begin and slices[-1][1] == end
    assert all(first[1] == second[0] for first, second in zip(slices, slices[1:]))
    assert all(b < e and b <= position <= e for b, e, position in slices)


@pytest.fixture(scope="module")
def sharing(texts):
    """A small trained model and the token stream of its training text, for cutting slices by hand."""
    model = train(texts["train"], str(texts["folder"] / "share.model"), texts["valid"], small_config(), max_iter=1,
                  debug=0, threads=1)
    return model, pattern_stream(model, 3000, seed=1)


def test_an_idle_thread_takes_half_of_the_longest_remainder(sharing):
    """``share_out``'s rule, applied by hand (no thread runs while it is checked, so nothing depends on the
    machine's speed or load): while fewer slices are unfinished than there are threads, the longest remainder
    of at least MIN_SPLIT_WORDS is cut at the sentence start nearest its middle, the second half a new slice
    with a fresh state; then two threads train the slices to their ends."""
    model, stream = sharing
    starts = set((np.flatnonzero(stream.targets == 0) + 1).tolist())  # positions that begin a sentence
    slices = epoch_slices(stream, 2)
    slices[0][2] = slices[0][1]  # thread 0 has finished its slice; slice 1 is untouched
    begin, end = slices[1][0], slices[1][1]
    states = [network.KernelState.fresh(model.config, thread=k) for k in range(2)]
    epoch = HogwildEpoch(model, stream, slices, states)
    try:
        epoch.share_out()
        assert len(slices) == 3 and len(states) == 3
        cut = slices[2][0]
        assert slices[1] == [begin, cut, begin] and slices[2] == [cut, end, cut]
        middle = (begin + end) // 2
        assert cut in starts
        assert all(abs(start - middle) >= abs(cut - middle) for start in starts if begin < start < end)
        assert int(states[2].counters[2]) == 0  # a fresh state
        epoch.share_out()  # two unfinished slices for two threads: nothing to cut
        assert len(slices) == 3
        slices[1][2] = cut  # slice 1 done: its thread is idle, and slice 2 is cut
        epoch.share_out()
        assert len(slices) == 4 and slices[2][0] == cut and slices[3][1] == end
        second_cut = slices[3][0]
        assert cut < second_cut < end and second_cut in starts
        slices[2][2] = second_cut  # that half done too; what is left of the last is too short to cut
        slices[3][2] = end - (hogwild.MIN_SPLIT_WORDS - 1)
        epoch.share_out()
        assert len(slices) == 4
        slices[3][2] = second_cut
        while any(position < stop for _, stop, position in slices):  # the threads train what is left (cutting
            epoch.train_round(500, 0.1)  # again for a thread that is idle, as the threads' speeds have it)
        assert_tiles(slices, 0, len(stream))
        assert all(position == stop for _, stop, position in slices)
        assert sum(int(state.counters[2]) for state in states) == end - second_cut  # each word trained once
    finally:
        epoch.close()


def test_share_out_cuts_the_longest_remainder_until_every_thread_has_one(sharing):
    """Three threads, one slice: two cuts, the second of the longer half. Of two unfinished slices for three
    threads, the one with more left is cut, whatever its position."""
    model, stream = sharing
    slices = [[0, len(stream), 0]]
    epoch = HogwildEpoch(model, stream, slices, [network.KernelState.fresh(model.config)], threads=3)
    try:
        epoch.share_out()
        assert len(slices) == 3 and len(epoch.states) == 3
        assert_tiles(slices, 0, len(stream))
        assert all(0.2 * len(stream) < stop - start < 0.6 * len(stream) for start, stop, _ in slices)
        first, second, third = (list(item) for item in slices)
        third[2] = third[1]  # finished
        first[2] = first[0] + (first[1] - first[0]) * 3 // 4  # three quarters done: less left than the second
        epoch.slices = slices = [first, second, third]
        epoch.states = epoch.states[:3]
        epoch.share_out()
        assert len(slices) == 4 and slices[0] == first and slices[1][:2] == [second[0], slices[2][0]]
    finally:
        epoch.close()


def test_two_threads_learn_as_well_as_one(texts):
    """Five epochs at a fixed rate: two threads reach one thread's test perplexity within 10% (a second try
    is allowed).

    A fixed rate (``min_improvement=0``: the schedule never halves), because with rnnlm's schedule hogwild's
    noise sometimes makes an early epoch's validation a little worse, the halving then starts early and the
    small model never learns the long-range pattern, which says nothing about whether the threads learn. Over
    150 runs (2026-12-04, merges adding all of each change) the fixed-rate two-thread models were 1.8% better
    to 3.2% worse than one thread's (two epochs with the schedule, as this test was before: up to 9.5% worse).
    With merges adding 1/N (2026-12-05), 40 runs: median +0.4%, worst +9.7%; one of 130 runs of this test
    failed its first try.
    """
    def perplexity(threads: int, attempt: int = 0) -> float:
        model, test_perplexity = fixed_rate_model(texts, "learn", threads, attempt)
        history = model.training.history
        assert len(history) == FIXED_RATE_EPOCHS and all(record["alpha"] == history[0]["alpha"] for record in history)
        logged = [json.loads(line) for line in (texts["folder"] / f"learn-{threads}-{attempt}.model{HISTORY_SUFFIX}")
                  .read_text().splitlines()]
        assert all(record["words_per_second"] > 0 and record["threads"] == threads for record in logged)
        return test_perplexity

    one_thread = perplexity(1)
    assert (perplexity(2) == pytest.approx(one_thread, rel=0.10)
            or perplexity(2, attempt=1) == pytest.approx(one_thread, rel=0.10))


def test_one_thread_is_the_single_pass_bit_for_bit(texts):
    a = train(texts["train"], str(texts["folder"] / "one-a"), texts["valid"], small_config(), max_iter=2, debug=0,
              threads=1)
    b = train(texts["train"], str(texts["folder"] / "one-b"), texts["valid"], small_config(), max_iter=2, debug=0,
              threads=1)
    for name, array in a.weights().items():
        np.testing.assert_array_equal(getattr(b, name), array, err_msg=name)


def interrupted_two_thread_training(texts, name: str, seed: int) -> tuple[str, str]:
    """Train on two threads with checkpoints every 10,000 words and crash after 20,000: (model, training file)."""
    path = str(texts["folder"] / f"{name}.model")
    train_file = write_text(texts["folder"] / f"{name}.txt", pattern_corpus(8000, seed=seed))
    train_until_crash(train_file, path, texts["valid"], small_config(), position=20_000, max_iter=1,
                      anti_kasparek=10_000, threads=2)
    return path, train_file


def test_a_two_thread_checkpoint_resumes(texts):
    path, train_file = interrupted_two_thread_training(texts, "resume", seed=4)
    saved = load_model(path)
    assert len(saved.training.slices) == 2 and saved.training.position > 0
    assert any(key.startswith("kernel1/") for key in saved.resume_state)
    assert saved.training.threads == 2
    with pytest.raises(RnnlmpyError, match="checkpoint of training on 2 threads; resume without -threads"):
        train(train_file, path, texts["valid"], small_config(), max_iter=1, debug=0, threads=1)
    resumed = train(train_file, path, texts["valid"], small_config(), max_iter=1, anti_kasparek=10_000, debug=0)
    assert resumed.training.finished and len(resumed.training.history) == 1 and resumed.training.threads == 2
    assert resumed.training.slices == []


def test_a_checkpoint_of_more_slices_than_threads_resumes(texts):
    """Three slices (as left by three threads, or by a cut for an idle thread) finished by two threads."""
    path, train_file = interrupted_two_thread_training(texts, "more", seed=6)
    from rnnlmpy.rnnlm.model_file import save_model
    model = load_model(path)
    (begin, end, position), state_keys = model.training.slices[1], [k for k in model.resume_state if
                                                                    k.startswith("kernel1/")]
    middle = (position + end) // 2
    stream_targets = pattern_stream(model, 8000, seed=6).targets
    cut = middle + int(np.flatnonzero(stream_targets[middle:end] == 0)[0]) + 1
    model.training.slices[1:2] = [[begin, cut, position], [cut, end, cut]]
    fresh = network.KernelState.fresh(model.config, thread=2).arrays()
    model.resume_state.update({f"kernel2/{name}": value for name, value in fresh.items()})
    assert len(state_keys) == len(fresh)
    save_model(model, path)
    resumed = train(train_file, path, texts["valid"], small_config(), max_iter=1, anti_kasparek=10_000, debug=0,
                    threads=2)
    assert resumed.training.finished and len(resumed.training.history) == 1
    assert np.all(np.isfinite(resumed.recurrent))


def test_damaged_checkpoint_slices_are_refused(texts):
    path, train_file = interrupted_two_thread_training(texts, "damaged", seed=5)
    from rnnlmpy.rnnlm.model_file import save_model
    model = load_model(path)
    model.training.slices[1][0] += 1  # no longer tiles the text
    save_model(model, path)
    with pytest.raises(RnnlmpyError, match="thread slice 1 .* does not continue"):
        train(train_file, path, texts["valid"], small_config(), max_iter=1, debug=0, threads=2)


def test_independent_ppl_is_the_same_on_several_threads(texts):
    path = str(texts["folder"] / "independent.model")
    model = train(texts["train"], path, texts["valid"], small_config(independent=True, direct_size=20_000),
                  max_iter=3, debug=0, threads=1)
    one = evaluate_file(model, texts["test"], threads=1)
    for threads in (2, 3, 7):
        several = evaluate_file(model, texts["test"], threads=threads)
        np.testing.assert_array_equal(several.probabilities, one.probabilities)


def reference_nbest(model, hypotheses):
    """rnnlm's n-best scores the obvious way: one hypothesis at a time, each from its ID's start state."""
    scores, start, current, first_final = [], nbest_start_state(model), None, None
    for hypothesis_id, words in hypotheses:
        if hypothesis_id != current:
            if first_final is not None:
                start = first_final
            current, first_final = hypothesis_id, None
        word_ids = model.vocabulary.encode([*words, "</s>"])
        probabilities, final = network.score_stream(model, language_model_stream(word_ids), start)
        first_final = final if first_final is None else first_final
        known = word_ids >= 0
        scores.append(float(np.sum(np.where(known, np.log10(np.maximum(probabilities, 1e-300)), -5.0))))
    return np.array(scores)


@pytest.mark.parametrize("direct_size,leader_chunk", [(0, 256), (20_000, 256), (0, 4)])
def test_nbest_on_several_threads_equals_one_at_a_time(texts, direct_size, leader_chunk, monkeypatch):
    from rnnlmpy.rnnlm import nbest
    monkeypatch.setattr(nbest, "LEADER_CHUNK", leader_chunk)  # several chunks of leaders, pipelined
    path = str(texts["folder"] / f"nbest{direct_size}-{leader_chunk}.model")
    model = train(texts["train"], path, texts["valid"], small_config(direct_size=direct_size), max_iter=3, debug=0,
                  threads=1)
    rng = np.random.default_rng(0)
    lines = pattern_corpus(300, seed=7)
    hypotheses = [(str(i // 7), (lines[i] + (" NEWWORD" if rng.random() < 0.1 else "")).split())
                  for i in range(len(lines))]
    expected = reference_nbest(model, hypotheses)
    for threads in (1, 2, 5):
        np.testing.assert_allclose(score_nbest(model, hypotheses, threads=threads), expected, rtol=1e-12)


def test_ensemble_on_several_threads_reports_the_same(texts):
    paths = []
    for seed in (1, 2, 3):
        path = str(texts["folder"] / f"member{seed}.model")
        train(texts["train"], path, texts["valid"], small_config(rand_seed=seed), max_iter=2, debug=0, threads=1)
        paths.append(path)
    one = run_ensemble(paths, [], texts["test"], texts["valid"], threads=1).format()
    assert run_ensemble(paths, [], texts["test"], texts["valid"], threads=3).format() == one


def test_thread_counts_are_checked(texts, monkeypatch, capsys):
    code, _, err = run_cli(["train", "-train", texts["train"], "-threads", "0", "-max-iter", "1"], capsys)
    assert code == 2 and "-threads must be between 1" in err and "Traceback" not in err
    monkeypatch.setenv("RNNLMPY_THREADS", "many")
    with pytest.raises(RnnlmpyError, match="RNNLMPY_THREADS"):
        default_threads(every_core=True)
    monkeypatch.setenv("RNNLMPY_THREADS", "3")
    assert default_threads(every_core=True) == default_threads(every_core=False) == 3
    monkeypatch.delenv("RNNLMPY_THREADS")
    assert default_threads(every_core=True) == available_cores() and default_threads(every_core=False) == 1


@pytest.mark.parametrize("changes", MODEL_KINDS[1:], ids=kind_name)
def test_every_model_kind_trains_on_two_threads(texts, changes):
    """Each kind's model trained by two threads at once, at a fixed rate (see
    ``test_two_threads_learn_as_well_as_one``), is at most 25% worse than its one-thread model.

    That every array of each kind is merged exactly is checked without the threads' noise by
    ``test_a_merging_thread_alone_trains_what_one_pass_trains``; this checks that two threads running
    together train. Measured 2026-12-04 (60-300 runs per kind): the two-thread models were up to 5% worse,
    NCE's up to 11% better (so the check is one-sided), and 2 HS runs in 300 were 24-25% worse (two of five
    epochs rejected), so a second try is allowed. With the threads' merges lost the HS model is 3.2 times
    worse and the GRU 30% (NCE and direct connections only 3-5%: their big arrays are shared, not merged).
    With rnnlm's schedule (4 epochs), 7% of HS runs ended 16-20% worse: an early halving. With merges adding
    1/N (2026-12-05, 40 runs per kind): HS median +1.2%, worst +4.2%; GRU -3.0%, +2.5%; but one of 130 runs
    of this test had HS 20.5% and 20.8% worse in both tries, so the bound is 25%.
    """
    def perplexity(threads: int, attempt: int = 0) -> float:
        model, test_perplexity = fixed_rate_model(texts, f"kind-{kind_name(changes)}", threads, attempt, **changes)
        assert np.all(np.isfinite(model.recurrent)) and np.all(np.isfinite(model.output_weights))
        return test_perplexity

    one_thread = perplexity(1)
    assert perplexity(2) <= 1.25 * one_thread or perplexity(2, attempt=1) <= 1.25 * one_thread
