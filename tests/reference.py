"""Slow, obvious NumPy versions of the kernels, for testing them.

Everything here is float64, dense and written for clarity: a position's input
is built as an explicit one-hot (or multi-hot) vector and multiplied by the
input matrix, the class-factored softmax is computed over every class, and
gradients come from full back-propagation through time over the whole stream.
"""

from __future__ import annotations

import numpy as np

from rnnlmpy.rnnlm.streams import TokenStream


def activation_function(name: str):
    """(f, f' as a function of the output) for an activation name."""
    if name == "sigmoid":
        return (lambda x: 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50))), lambda h: h * (1.0 - h))
    if name == "tanh":
        return np.tanh, lambda h: 1.0 - h * h
    if name == "relu":
        return (lambda x: np.maximum(x, 0.0)), (lambda h: (h > 0).astype(np.float64))
    if name == "elu":
        return (lambda x: np.where(x < 0, np.exp(np.minimum(x, 0.0)) - 1.0, x)), \
            (lambda h: np.where(h < 0, h + 1.0, 1.0))
    raise ValueError(name)


def multi_hot(stream: TokenStream, t: int, size: int) -> np.ndarray:
    """The dense input vector of position t (shape (size,))."""
    vector = np.zeros(size)
    for feature in stream.feature_ids[stream.feature_ptr[t]:stream.feature_ptr[t + 1]]:
        vector[feature] += 1.0
    return vector


def softmax(scores: np.ndarray) -> np.ndarray:
    """Plain softmax of a vector."""
    exps = np.exp(scores - scores.max())
    return exps / exps.sum()


def output_probabilities(params: dict, word_class: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """P(y | hidden) for every output row y, as P(class) * P(y | class)."""
    class_probabilities = softmax(params["class_weights"] @ hidden)
    scores = params["output_weights"] @ hidden
    result = np.zeros(len(word_class))
    for c in np.unique(word_class):
        members = word_class == c
        result[members] = class_probabilities[c] * softmax(scores[members])
    return result


def forward(params: dict, word_class: np.ndarray, stream: TokenStream, hidden_start: np.ndarray,
            activation: str = "sigmoid", independent: bool = False, reset_value: float = 1.0):
    """Run the network over the stream.

    Returns (P(target) per position, 0 where unscored; hidden states (N, H);
    the state fed into each position (N, H)).
    """
    f, _ = activation_function(activation)
    params = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    vocab_rows = params["input_weights"].shape[0]
    hidden_prev = np.asarray(hidden_start, dtype=np.float64).copy()
    probabilities, hiddens, inputs = [], [], []
    for t in range(len(stream)):
        x = params["recurrent"] @ hidden_prev + params["input_weights"].T @ multi_hot(stream, t, vocab_rows)
        hidden = f(x)
        target = stream.targets[t]
        probabilities.append(output_probabilities(params, word_class, hidden)[target] if target >= 0 else 0.0)
        hiddens.append(hidden)
        inputs.append(hidden_prev)
        hidden_prev = np.full_like(hidden, reset_value) if independent and stream.boundaries[t] else hidden
    return np.array(probabilities), np.array(hiddens), np.array(inputs)


def log_likelihood(params: dict, word_class: np.ndarray, stream: TokenStream, hidden_start: np.ndarray,
                   activation: str = "sigmoid") -> float:
    """Natural-log likelihood of all scored targets."""
    probabilities, _, _ = forward(params, word_class, stream, hidden_start, activation)
    return float(np.sum(np.log(probabilities[stream.targets >= 0])))


def gradients(params: dict, word_class: np.ndarray, stream: TokenStream, hidden_start: np.ndarray,
              activation: str = "sigmoid") -> dict:
    """Exact gradient of ``log_likelihood`` w.r.t. each parameter block (full BPTT, no clipping)."""
    _, derivative = activation_function(activation)
    params = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    _, hiddens, inputs = forward(params, word_class, stream, hidden_start, activation)
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    vocab_rows = params["input_weights"].shape[0]
    carried = np.zeros(params["recurrent"].shape[0])  # d loglik / d hidden_t from the future
    for t in reversed(range(len(stream))):
        hidden = hiddens[t]
        d_hidden = carried.copy()
        target = stream.targets[t]
        if target >= 0:
            c = word_class[target]
            class_probabilities = softmax(params["class_weights"] @ hidden)
            members = np.flatnonzero(word_class == c)
            word_probabilities = softmax(params["output_weights"][members] @ hidden)
            class_error = -class_probabilities
            class_error[c] += 1.0
            word_error = -word_probabilities
            word_error[np.flatnonzero(members == target)[0]] += 1.0
            grads["class_weights"] += np.outer(class_error, hidden)
            grads["output_weights"][members] += np.outer(word_error, hidden)
            d_hidden += params["class_weights"].T @ class_error + params["output_weights"][members].T @ word_error
        d_x = d_hidden * derivative(hidden)
        grads["recurrent"] += np.outer(d_x, inputs[t])
        grads["input_weights"] += np.outer(multi_hot(stream, t, vocab_rows), d_x)
        carried = params["recurrent"].T @ d_x
    return grads


def tagger_log_likelihood(weights: dict, feature_rows: list[list[int]], tags: list[int], activation: str = "tanh",
                          bidirectional: bool = True) -> tuple[float, np.ndarray]:
    """Natural-log likelihood of one sentence's tags under the RNN tagger, and P(tag) per token (L, T).

    ``feature_rows[t]`` lists the input rows of token t; each direction starts
    from a zero state; the output reads [forward, backward, 1].
    """
    f, _ = activation_function(activation)
    w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    length, size = len(tags), w["forward_recurrent"].shape[0]

    def run(input_weights, recurrent, order):
        states, state = np.zeros((length, size)), np.zeros(size)
        for t in order:
            x = recurrent @ state + sum((input_weights[row] for row in feature_rows[t]), np.zeros(size))
            state = f(x)
            states[t] = state
        return states

    parts = [run(w["forward_input"], w["forward_recurrent"], range(length))]
    if bidirectional:
        parts.append(run(w["backward_input"], w["backward_recurrent"], reversed(range(length))))
    joined = np.hstack(parts + [np.ones((length, 1))])
    probabilities = np.array([softmax(w["output_weights"] @ row) for row in joined])
    return float(np.sum(np.log(probabilities[np.arange(length), tags]))), probabilities
