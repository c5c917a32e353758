"""Per-word defaults by hidden type: tanh and the rectifiers train with their own rate and error clamp."""

import math

import numpy as np
import pytest

from rnnlmpy.rnnlm import (BATCHED_DEFAULTS, PER_WORD_DEFAULTS, PER_WORD_TYPE_DEFAULTS, RnnlmConfig, load_model,
                           new_model)
from rnnlmpy.rnnlm import network
from rnnlmpy.rnnlm.streams import language_model_stream
from rnnlmpy.rnnlm.vocab import build_vocabulary

from helpers import run_cli, write_text

UNDAMPED_TYPES = sorted(PER_WORD_TYPE_DEFAULTS)  # the hidden types whose derivative reaches 1


def zipf_tokens(words: int, vocab_size: int, seed: int) -> list[str]:
    """About ``words`` tokens of sentences of 5 to 24 words drawn from a Zipf law over ``vocab_size`` words."""
    rng = np.random.default_rng(seed)
    probabilities = 1.0 / np.arange(1, vocab_size + 1)
    probabilities /= probabilities.sum()
    tokens: list[str] = []
    while len(tokens) < words:
        drawn = rng.choice(vocab_size, size=rng.integers(5, 25), p=probabilities)
        tokens += [f"w{i}" for i in drawn] + ["</s>"]
    return tokens


def first_pass_entropy(config: RnnlmConfig, tokens: list[str]) -> tuple[float, float]:
    """(bits per word of one training pass over ``tokens``, each word scored before its update; log2 of the
    vocabulary size: a uniform guess)."""
    vocabulary = build_vocabulary(tokens, 17)
    model = new_model(config, vocabulary)
    stream = language_model_stream(vocabulary.encode(tokens))
    state = network.KernelState.fresh(config)
    log10_sum, scored, _ = network.train_span(model, stream, 0, len(stream), state, config.alpha)
    return -log10_sum / scored * math.log2(10), math.log2(vocabulary.size)


@pytest.mark.parametrize("activation", UNDAMPED_TYPES)
def test_a_hidden_layer_of_100_learns_with_its_defaults(activation):
    """rnnlm's rate and clamp (0.1, 15) blow such a layer up within a few hundred words: its first pass then
    predicts far worse than a uniform guess (tanh: ~21 bits against 8.2; relu: NaN; relu-trunc: ~900 bits); with
    its own defaults it learns (~6.5 bits)."""
    tokens = zipf_tokens(4000, 300, seed=1)
    bits, uniform = first_pass_entropy(RnnlmConfig(hidden_size=100, activation=activation), tokens)
    assert bits < uniform - 1


def test_rnnlms_rate_and_clamp_are_what_blow_a_tanh_layer_up():
    """The same pass with the sigmoid's defaults given explicitly diverges: the defaults, not the kernels, made
    the difference."""
    tokens = zipf_tokens(4000, 300, seed=1)
    config = RnnlmConfig(hidden_size=100, activation="tanh", alpha=PER_WORD_DEFAULTS["alpha"],
                         gradient_cutoff=PER_WORD_DEFAULTS["gradient_cutoff"])
    bits, uniform = first_pass_entropy(config, tokens)
    assert not bits < uniform


@pytest.mark.parametrize("activation", ["sigmoid", *UNDAMPED_TYPES])
def test_each_per_word_type_gets_its_defaults_and_given_values_win(activation):
    expected = {**PER_WORD_DEFAULTS, **PER_WORD_TYPE_DEFAULTS.get(activation, {})}
    config = RnnlmConfig(activation=activation)
    assert (config.alpha, config.gradient_cutoff) == (expected["alpha"], expected["gradient_cutoff"])
    given = RnnlmConfig(activation=activation, alpha=0.3, gradient_cutoff=0.0)
    assert (given.alpha, given.gradient_cutoff) == (0.3, 0.0)


@pytest.mark.parametrize("class_count", [None, 1])
def test_the_batched_engine_steps_a_tanh_layer_less_under_sgd(class_count):
    """Batched SGD at the sigmoid's rate saturates a tanh layer (PTB 200k words, class 100: valid PPL 903 at 0.5,
    292 at 0.1); the other optimisers keep their rate."""
    sigmoid = RnnlmConfig(activation="sigmoid", batch=2, class_count=class_count, optimizer="sgd")
    tanh = RnnlmConfig(activation="tanh", batch=2, class_count=class_count, optimizer="sgd")
    assert tanh.alpha == pytest.approx(sigmoid.alpha * BATCHED_DEFAULTS["tanh_sgd_scale"])
    assert tanh.alpha < sigmoid.alpha
    assert RnnlmConfig(activation="tanh", batch=2, optimizer="adam").alpha == BATCHED_DEFAULTS["alpha"]["adam"]
    assert RnnlmConfig(activation="tanh", batch=2, alpha=0.5).alpha == 0.5
    assert tanh.gradient_cutoff == PER_WORD_DEFAULTS["gradient_cutoff"]  # unused there (it clips the norm)


@pytest.mark.parametrize("activation, chosen", [("sigmoid", "adagrad"), ("tanh", "adagrad"), ("gru", "adagrad"),
                                                ("relu", "sgd"), ("lstm", "sgd")])
def test_the_batched_engine_chooses_the_optimiser_by_hidden_type_and_a_given_one_wins(activation, chosen):
    """Adagrad for the old cells' minibatches (SGD learns them slowly), SGD for relu (Adagrad's first steps blow
    it up) and for the LSTM (Zaremba et al.'s); the per-word engine has only SGD."""
    assert BATCHED_DEFAULTS["optimizer"][activation] == chosen
    config = RnnlmConfig(activation=activation, batch=20)
    assert config.batched and config.optimizer == chosen
    assert config.alpha == RnnlmConfig(activation=activation, batch=20, optimizer=chosen).alpha
    assert RnnlmConfig(activation=activation, batch=20, optimizer="adam").optimizer == "adam"
    assert RnnlmConfig(activation=activation, batch=20, optimizer="sgd").optimizer == "sgd"
    if activation != "lstm":
        assert RnnlmConfig(activation=activation).optimizer == "sgd"  # per-word


def test_the_train_command_leaves_the_optimiser_to_each_members_type(tmp_path, capsys):
    train = write_text(tmp_path / "train.txt", [" ".join(zipf_tokens(40, 20, seed=seed)[:-1]) for seed in range(30)])
    prefix = str(tmp_path / "model")
    code, _, err = run_cli(["train", "-train", train, "-rnnlm", prefix, "-hidden", "8", "-hidden-type", "sigmoid,relu",
                            "-batch", "4", "-bptt", "5", "-max-iter", "1", "-debug", "0"], capsys)
    assert code == 0, err
    for activation in ("sigmoid", "relu"):
        config = load_model(f"{prefix}.type{activation}").config
        assert config.optimizer == BATCHED_DEFAULTS["optimizer"][activation]
        assert config.alpha == RnnlmConfig(activation=activation, batch=4, optimizer=config.optimizer,
                                           class_count=config.class_count).alpha


def test_the_train_command_leaves_the_type_defaults_to_the_config(tmp_path, capsys):
    """The CLI passes no rate or clamp of its own: each member of a grid over hidden types is trained and saved
    with its type's."""
    train = write_text(tmp_path / "train.txt", [" ".join(zipf_tokens(40, 20, seed=seed)[:-1]) for seed in range(30)])
    prefix = str(tmp_path / "model")
    code, _, err = run_cli(["train", "-train", train, "-rnnlm", prefix, "-hidden", "8", "-hidden-type", "sigmoid,tanh",
                            "-max-iter", "1", "-debug", "0"], capsys)
    assert code == 0, err
    for activation in ("sigmoid", "tanh"):
        config = load_model(f"{prefix}.type{activation}").config
        expected = {**PER_WORD_DEFAULTS, **PER_WORD_TYPE_DEFAULTS.get(activation, {})}
        assert (config.alpha, config.gradient_cutoff) == (expected["alpha"], expected["gradient_cutoff"])
