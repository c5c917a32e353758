"""rnnlm's learning-rate schedule on its own (no corpus, no kernels), the run options, and the train command's
grid dispatch as a library call."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnlmpy.base.errors import RnnlmpyError
from rnnlmpy.rnnlm.checkpoints import restore, snapshot
from rnnlmpy.rnnlm.model import RnnlmConfig, TrainingProgress, new_model
from rnnlmpy.rnnlm.model_file import load_model
from rnnlmpy.rnnlm.options import MIN_CHECKPOINT_WORDS, RunOptions
from rnnlmpy.rnnlm.schedule import MIN_ALPHA_SHARE, LearningRateSchedule, divergence_limit
from rnnlmpy.rnnlm.train_command import GridRequest, train_command
from rnnlmpy.rnnlm.vocab import vocabulary_from_counts

from helpers import pattern_corpus, write_text


def schedule(alpha: float = 0.1, min_improvement: float = 1.003, **state) -> LearningRateSchedule:
    """A schedule over a fresh TrainingProgress at ``alpha`` (``state`` sets more of its fields)."""
    return LearningRateSchedule(TrainingProgress(alpha=alpha, **state), min_improvement, alpha)


# ---------------------------------------------------------------- accept, reject, halve, stop


def test_an_improving_epoch_is_accepted_and_counted_at_the_same_rate():
    plan = schedule()
    assert plan.validated(-1000.0) is True
    assert plan.validated(-900.0) is True  # improves by far more than the factor
    progress = plan.progress
    assert (progress.epoch, progress.alpha, progress.halving, progress.finished) == (2, 0.1, False, False)
    assert progress.last_valid_log10 == -900.0 and plan.stopped == ""


def test_a_worse_epoch_is_rejected_and_starts_halving():
    plan = schedule(last_valid_log10=-900.0)
    assert plan.validated(-950.0) is False
    progress = plan.progress
    assert progress.halving and progress.alpha == 0.05 and progress.epoch == 1 and not progress.finished
    assert progress.last_valid_log10 == -950.0  # the next epoch is judged against this one, as rnnlm does


def test_halving_goes_on_every_epoch_then_a_small_gain_stops():
    plan = schedule(last_valid_log10=-1000.0)
    plan.validated(-999.9)  # less than -min-improvement's factor: halving starts
    assert plan.progress.halving and plan.progress.alpha == 0.05
    plan.validated(-900.0)  # a large gain while halving: halve again, go on
    assert plan.progress.alpha == 0.025 and not plan.progress.finished and plan.progress.epoch == 2
    assert plan.validated(-899.95) is True  # a small gain a second time: accepted, but training stops
    progress = plan.progress
    assert progress.finished and progress.epoch == 2 and progress.alpha == 0.025  # neither counted nor halved
    assert "converged" in plan.stopped and "-min-improvement 1.003" in plan.stopped


@pytest.mark.parametrize("factor, halves", [(1.0, False), (1.2, True)])
def test_min_improvement_sets_the_gain_that_starts_halving(factor, halves):
    plan = schedule(min_improvement=factor, last_valid_log10=-1000.0)
    plan.validated(-900.0)  # a 10% gain: enough for the factor 1.0, not for 1.2
    assert plan.progress.halving is halves and (plan.progress.alpha == 0.05) is halves


def test_the_schedule_resumes_from_the_progress_it_stored():
    """The state lives in TrainingProgress (saved with every checkpoint): a new schedule over a copy of it
    decides exactly as the one that wrote it."""
    first = schedule(last_valid_log10=-1000.0)
    first.validated(-999.9)
    resumed = LearningRateSchedule(TrainingProgress(**vars(first.progress)), 1.003, 0.1)
    first.validated(-999.8)
    resumed.validated(-999.8)
    assert vars(resumed.progress) == vars(first.progress) and resumed.stopped == first.stopped != ""


def test_max_iter_and_one_pass_finish_with_their_reasons():
    plan = schedule(epoch=2)
    assert plan.reached_max_iter(None) is False and plan.reached_max_iter(3) is False
    assert not plan.progress.finished
    assert plan.reached_max_iter(2) is True and plan.progress.finished and plan.stopped == "-max-iter 2 reached"
    once = schedule()
    once.one_pass_done()
    assert once.progress.finished and once.stopped.startswith("-one-iter")


# ---------------------------------------------------------------- divergence


def test_divergence_halves_the_rate_until_it_is_too_small():
    plan = schedule(alpha=1.0)
    plan.diverged()
    assert plan.progress.alpha == 0.5 and not plan.progress.finished
    halvings = math.ceil(math.log2(1 / MIN_ALPHA_SHARE))
    with pytest.raises(RnnlmpyError, match="diverges even at alpha"):
        for _ in range(halvings):
            plan.diverged()
    assert plan.progress.alpha < MIN_ALPHA_SHARE


def test_divergence_limit_is_two_bits_above_a_uniform_guess():
    assert divergence_limit(1024) == 12.0
    assert divergence_limit(1) == divergence_limit(2) == 3.0


def test_a_rejected_epoch_gets_the_last_accepted_weights_back():
    model = new_model(RnnlmConfig(hidden_size=4, class_count=2),
                      vocabulary_from_counts(["</s>", "a", "b"], np.array([3, 2, 1], dtype=np.int64), 2))
    accepted = snapshot(model)
    before = {name: value.copy() for name, value in accepted.items()}
    model.recurrent += 1.0
    model.hidden_state += 2.0
    plan = schedule(last_valid_log10=-10.0)
    if not plan.validated(-20.0):
        restore(model, accepted)
    assert all(np.array_equal(getattr(model, name), value) for name, value in before.items())


# ---------------------------------------------------------------- run options


def test_run_options_checks_name_the_option():
    for options, message in ((RunOptions(max_iter=0), "-max-iter"), (RunOptions(anti_kasparek=-1), "-anti-kasparek"),
                             (RunOptions(one_iter=True, max_iter=2), "either -one-iter or -max-iter"),
                             (RunOptions(cross_validation=(0, 3, 1), one_iter=True), "cross-validation"),
                             (RunOptions(threads=0), "-threads")):
        with pytest.raises(RnnlmpyError, match=message):
            options.validate()
    with pytest.raises(RnnlmpyError, match="cross-validation"):
        RunOptions(cross_validation=(0, 3, 1)).validate(valid_file="v.txt")
    RunOptions(max_iter=1, anti_kasparek=5, threads=2).validate()


def test_run_options_from_keywords_and_checkpoint_words():
    options = RunOptions.of(max_iter=2, debug=0)
    assert (options.max_iter, options.debug, options.one_iter) == (2, 0, False)
    assert RunOptions.of(options, debug=2).max_iter == 2
    with pytest.raises(RnnlmpyError, match="not a training run option: max_iters"):
        RunOptions.of(max_iters=2)
    assert [RunOptions(anti_kasparek=n).checkpoint_words for n in (0, 1, MIN_CHECKPOINT_WORDS + 5)] == \
        [0, MIN_CHECKPOINT_WORDS, MIN_CHECKPOINT_WORDS + 5]


# ---------------------------------------------------------------- the train command, as a library call


def test_train_command_trains_one_model_or_a_grid(tmp_path):
    train_file = write_text(tmp_path / "train.txt", pattern_corpus(80, seed=1))
    valid_file = write_text(tmp_path / "valid.txt", pattern_corpus(20, seed=2))
    config, options = RnnlmConfig(hidden_size=5, class_count=3), RunOptions(max_iter=1, debug=0, threads=1)
    said, shown = [], []
    one = train_command(train_file, str(tmp_path / "one"), valid_file, config, options,
                        GridRequest({"rand_seed": [3]}), say=said.append, show=shown.append)
    assert one is not None and one.config.rand_seed == 3 and said == shown == []
    grid = GridRequest({"rand_seed": [3, 4], "hidden_size": [5]})
    assert train_command(train_file, str(tmp_path / "g"), valid_file, config, options, grid, test_file=valid_file,
                         say=said.append, show=shown.append) is None
    assert [load_model(str(tmp_path / f"g.seed{seed}")).config.rand_seed for seed in (3, 4)] == [3, 4]
    assert len(shown) == 2 and all("test PPL" in line for line in shown)
    assert said[-1].startswith("2 models in") and "g.manifest.json" in said[-1]
    with pytest.raises(RnnlmpyError, match="test file"):  # before any training
        train_command(train_file, str(tmp_path / "x"), valid_file, config, options, grid,
                      test_file=str(tmp_path / "missing.txt"))
    assert not (tmp_path / "x.seed3").exists()
