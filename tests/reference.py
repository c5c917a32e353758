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
    if name == "relu-trunc":
        return (lambda x: np.clip(x, 0.0, 20.0)), (lambda h: ((h > 0) & (h < 20.0)).astype(np.float64))
    if name == "elu":
        return (lambda x: np.where(x < 0, np.exp(np.minimum(x, 0.0)) - 1.0, x)), \
            (lambda h: np.where(h < 0, h + 1.0, 1.0))
    raise ValueError(name)


def multi_hot(stream: TokenStream, t: int, size: int) -> np.ndarray:
    """The dense input vector of position t (shape (size,))."""
    vector = np.zeros(size)
    feature = stream.inputs[t]
    if feature >= 0:
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


def tagger_truncated_gradients(weights: dict, feature_rows: list[list[int]], tags: list[int], bptt: int = 0,
                               activation: str = "tanh", bidirectional: bool = True) -> dict:
    """d loglik / d weight of one sentence under the RNN tagger, with truncated BPTT, per weight block (no clipping).

    Each token's error is propagated back through its direction's recurrence for a
    number of steps, its own included: all of them with ``bptt`` 0 or a sentence of at
    most ``bptt`` tokens (the exact gradient of ``tagger_log_likelihood``); otherwise,
    with the sentence cut into blocks of ``bptt`` tokens in that direction's reading
    order, back to the first token of its block (1 for the block's first token, 2 for
    the next, ...). Token by token, for clarity.
    """
    f, derivative = activation_function(activation)
    w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    length, size = len(tags), w["forward_recurrent"].shape[0]
    directions = [("forward", list(range(length)))]
    if bidirectional:
        directions.append(("backward", list(reversed(range(length)))))
    runs = {}
    for name, order in directions:
        states, inputs, state = np.zeros((length, size)), np.zeros((length, size)), np.zeros(size)
        for t in order:
            inputs[t] = state
            state = f(w[f"{name}_recurrent"] @ state
                      + sum((w[f"{name}_input"][row] for row in feature_rows[t]), np.zeros(size)))
            states[t] = state
        runs[name] = states, inputs
    joined = np.hstack([runs[name][0] for name, _ in directions] + [np.ones((length, 1))])
    grads = {k: np.zeros_like(v) for k, v in w.items()}
    output_error = np.zeros((length, w["output_weights"].shape[0]))
    for t in range(length):
        output_error[t] = -softmax(w["output_weights"] @ joined[t])
        output_error[t, tags[t]] += 1.0
        grads["output_weights"] += np.outer(output_error[t], joined[t])
    for d, (name, order) in enumerate(directions):
        states, inputs = runs[name]
        hidden_error = output_error @ w["output_weights"][:, d * size:(d + 1) * size]
        for k, t in enumerate(order):  # k: the token's place in this direction's reading order
            travel = k + 1 if bptt == 0 or length <= bptt else k % bptt + 1
            d_hidden = hidden_error[t]
            for back in range(travel):
                u = order[k - back]
                d_x = d_hidden * derivative(states[u])
                grads[f"{name}_recurrent"] += np.outer(d_x, inputs[u])
                for row in feature_rows[u]:
                    grads[f"{name}_input"][row] += d_x
                d_hidden = w[f"{name}_recurrent"].T @ d_x
    return grads


def viterbi_reference(log_posteriors: np.ndarray, transitions: np.ndarray) -> np.ndarray:
    """Best path (L,) through per-token log scores (L, T) plus log transitions ((T+1, T+1), index T = boundary).

    The RNN tagger's NumPy Viterbi as it was before the shared kernel; ties go to the lowest index (argmax).
    """
    boundary = transitions.shape[0] - 1
    score = log_posteriors[0] + transitions[boundary, :boundary]
    back = np.zeros(log_posteriors.shape, dtype=np.int64)
    for k in range(1, len(log_posteriors)):
        candidates = score[:, None] + transitions[:boundary, :boundary]
        back[k] = np.argmax(candidates, axis=0)
        score = candidates[back[k], np.arange(boundary)] + log_posteriors[k]
    path = [int(np.argmax(score + transitions[:boundary, boundary]))]
    for k in range(len(log_posteriors) - 1, 0, -1):
        path.append(int(back[k, path[-1]]))
    return np.array(path[::-1])


def hmm_tag_reference(transition: dict, emission: dict, words: list[str]):
    """The tutorial's HMM Viterbi over dictionaries, as rnnlmpy wrote it before the shared kernel.

    Returns the tags, or "no path" / "no end" where the model has no path through the
    sentence / to its end. Ties: the first candidate in the dictionaries' insertion order.
    """
    import math
    tags = sorted({b for (_, b) in transition} - {"</s>"})
    best = {"<s>": (0.0, None)}
    history = []
    for word in words:
        scores = {}
        for previous, (score, _) in best.items():
            for tag in tags:
                p_transition = transition.get((previous, tag))
                if p_transition is None:
                    continue
                p_emission = 0.95 * emission.get((tag, word), 0.0) + (1 - 0.95) / 1_000_000
                candidate = score - math.log(p_transition) - math.log(p_emission)
                if tag not in scores or candidate < scores[tag][0]:
                    scores[tag] = (candidate, previous)
        if not scores:
            return "no path"
        history.append(scores)
        best = scores
    final = None
    for previous, (score, _) in best.items():
        p_transition = transition.get((previous, "</s>"))
        if p_transition is not None:
            candidate = score - math.log(p_transition)
            if final is None or candidate < final[0]:
                final = (candidate, previous)
    if final is None:
        return "no end"
    tag, result = final[1], []
    for scores in reversed(history):
        result.append(tag)
        tag = scores[tag][1]
    return result[::-1]


def numeric_gradient(function, array: np.ndarray, step: float = 1e-6) -> np.ndarray:
    """Central differences of ``function()`` with respect to every entry of ``array`` (changed in place, then
    restored): the finite-difference oracle the kernels' gradients are checked against. Shape of ``array``."""
    gradient = np.zeros(array.shape)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + step
        up = function()
        array[index] = saved - step
        down = function()
        array[index] = saved
        gradient[index] = (up - down) / (2 * step)
    return gradient
