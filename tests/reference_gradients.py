"""Slow, obvious references for ``rnnlmpy gradients``: each d(loss at t)/d(h(t-k)) by central finite differences.

Language models: the state is stepped by the package's own one-step function
(``network.hidden_step``) and the loss is read off its own next-word distribution
(``network.distribution``), so nothing of the sweep (Jacobians, rings, chunks) is
reused: h(t-k) is nudged by +-eps in each unit, the model re-reads the words up to
t, and the loss's change is measured. The tagger: its tanh directions are
re-implemented in NumPy from the weights (the sum of a token's feature rows, the
recurrence from a zero state at each sentence start, the softmax over
``[h_forward, h_backward, 1]``).

Pairs whose gradient is cut (a reset between t-k and t) are checked to be zero and
left out of the means, as the command leaves them out.
"""

from __future__ import annotations

import numpy as np

from rnnlmpy.rnnlm import network
from rnnlmpy.rnnlm.evaluation import test_start_state
from rnnlmpy.rnnlm.streams import SENTENCE_END_INDEX

EPSILON = 1e-5


def _history(targets: np.ndarray, t: int, independent: bool) -> np.ndarray:
    """The words before position t, most recent first (0 before the text; cut after a </s> if independent)."""
    history = np.zeros(network.MAX_DIRECT_ORDER, dtype=np.int64)
    crossed = False
    for b in range(network.MAX_DIRECT_ORDER):
        position = t - 1 - b
        if position < 0 or crossed:
            continue
        history[b] = targets[position]
        crossed = independent and targets[position] == SENTENCE_END_INDEX
    return history


def _hidden_part(model) -> slice:
    """Where the h the output layer reads sits in the model's state: all of it (per-word), else the top layer's h."""
    config = model.config
    if not config.batched:
        return slice(0, config.hidden_size)
    per_layer = len(network.start_state(config, flush=False)) // config.layers
    top = (config.layers - 1) * per_layer
    return slice(top, top + config.hidden_size)


def lm_reference_norms(model, stream, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean ||dL(t)/dh(t-k)||, pairs) for k = 0..``steps``, by finite differences (see the module docstring)."""
    config = model.config
    independent = config.independent
    inputs, targets = stream.inputs, stream.targets
    count = len(stream)
    reset = network.start_state(config, flush=False)
    states = []  # the state after each step
    state = np.array(test_start_state(model), dtype=np.float64)
    for t in range(count):
        if t > 0 and independent and targets[t - 1] == SENTENCE_END_INDEX:
            state = reset.astype(np.float64)
        new = np.empty_like(state)
        network.hidden_step(model, int(inputs[t]), state, new)
        states.append(new)
        state = new
    part = _hidden_part(model)
    out = np.empty(model.vocabulary.size, dtype=np.float64)

    def loss(t: int, source: int, state: np.ndarray) -> float:
        """-ln P(target t) when the state after step ``source`` is ``state`` (steps source+1..t re-run)."""
        for u in range(source + 1, t + 1):
            if independent and targets[u - 1] == SENTENCE_END_INDEX:
                state = reset.astype(np.float64)
            new = np.empty_like(state)
            network.hidden_step(model, int(inputs[u]), state, new)
            state = new
        network.distribution(model, state, _history(targets, t, independent), 1.0, out)
        return -float(np.log(out[targets[t]]))

    sums = np.zeros(steps + 1)
    pairs = np.zeros(steps + 1, dtype=np.int64)
    for t in range(count):
        if targets[t] < 0:
            continue
        for k in range(min(steps, t) + 1):
            source = t - k
            grad = np.zeros(config.hidden_size)
            for j in range(config.hidden_size):
                up, down = states[source].copy(), states[source].copy()
                up[part.start + j] += EPSILON
                down[part.start + j] -= EPSILON
                grad[j] = (loss(t, source, up) - loss(t, source, down)) / (2 * EPSILON)
            cut = independent and bool(np.any(targets[source:t] == SENTENCE_END_INDEX))
            if cut:
                assert np.all(grad == 0.0), (t, k, grad)
                continue
            sums[k] += np.linalg.norm(grad)
            pairs[k] += 1
    return _means(sums, pairs)


def _means(sums: np.ndarray, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean norm (K+1,), pairs (K+1,)) from the summed norms and pair counts: NaN where no pair is k apart."""
    with np.errstate(invalid="ignore"):
        return np.where(pairs > 0, sums / np.maximum(pairs, 1), np.nan), pairs


def _tagger_inputs(tagger, words: list[str], input_weights: np.ndarray) -> np.ndarray:
    """Each token's input (tokens, H): the sum of its feature rows."""
    _, feature_ptr, feature_ids = tagger.encode([words])
    rows = input_weights.astype(np.float64)
    return np.array([rows[feature_ids[feature_ptr[t]:feature_ptr[t + 1]]].sum(axis=0) for t in range(len(words))])


def _add_tagger_pairs(scored: list[bool], directions: list[str], steps: int, base: dict, loss, sums: dict,
                      pairs: dict) -> None:
    """Add one sentence's pairs to ``sums``/``pairs`` (direction -> (K+1,)): for each scored token t and each
    direction, the central-difference gradient of ``loss(t, direction, source, state)`` at the state
    ``base[direction][source]`` (its first row when 2-D: h, an LSTM's c held) of the token k steps back along
    the direction's reading order."""
    length = len(scored)
    for t in range(length):
        if not scored[t]:
            continue
        for name in directions:
            for k in range(steps + 1):
                source = t - k if name == "forward" else t + k
                if not 0 <= source < length:
                    continue
                state = base[name][source]
                h = state if state.ndim == 1 else state[0]
                grad = np.zeros(h.shape[0])
                for j in range(h.shape[0]):
                    up, down = state.copy(), state.copy()
                    (up if up.ndim == 1 else up[0])[j] += EPSILON
                    (down if down.ndim == 1 else down[0])[j] -= EPSILON
                    grad[j] = (loss(t, name, source, up) - loss(t, name, source, down)) / (2 * EPSILON)
                sums[name][k] += np.linalg.norm(grad)
                pairs[name][k] += 1


def tagger_reference_norms(tagger, sentences: list[tuple[list[str], list[str]]], steps: int
                           ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Direction ("forward", "backward") -> (mean norm, pairs) for k = 0..``steps``, over every network of the
    ensemble: forward d(-ln P(gold tag t))/d h_forward(t-k), backward d(-ln P(gold tag t))/d h_backward(t+k)."""
    size = tagger.config.hidden_size
    directions = ["forward"] + (["backward"] if tagger.config.bidirectional else [])
    sums = {name: np.zeros(steps + 1) for name in directions}
    pairs = {name: np.zeros(steps + 1, dtype=np.int64) for name in directions}
    tag_index = {tag: i for i, tag in enumerate(tagger.tags)}
    for member in tagger.members:
        output = member.output_weights.astype(np.float64)
        weights = {"forward": (member.forward_input, member.forward_recurrent.astype(np.float64)),
                   "backward": (member.backward_input, member.backward_recurrent.astype(np.float64))}
        for words, tags in sentences:
            length = len(words)
            inputs = {name: _tagger_inputs(tagger, words, weights[name][0]) for name in directions}

            def run(name: str, order: list[int], start: np.ndarray) -> dict[int, np.ndarray]:
                recurrent = weights[name][1]
                state, found = start, {}
                for position in order:
                    state = np.tanh(inputs[name][position] + recurrent @ state)
                    found[position] = state
                return found

            base = {"forward": run("forward", list(range(length)), np.zeros(size))}
            if "backward" in directions:
                base["backward"] = run("backward", list(range(length - 1, -1, -1)), np.zeros(size))

            def loss(t: int, name: str, source: int, state: np.ndarray) -> float:
                if name == "forward":
                    h_forward = run(name, list(range(source + 1, t + 1)), state).get(t, state)
                    h_backward = base["backward"][t] if "backward" in base else None
                else:
                    h_backward = run(name, list(range(source - 1, t - 1, -1)), state).get(t, state)
                    h_forward = base["forward"][t]
                joined = np.concatenate([h_forward] + ([h_backward] if h_backward is not None else []) + [[1.0]])
                scores = output @ joined
                scores -= scores.max()
                return -(scores[tag_index[tags[t]]] - np.log(np.exp(scores).sum()))

            _add_tagger_pairs([tag in tag_index for tag in tags], directions, steps, base, loss, sums, pairs)
    return {name: _means(sums[name], pairs[name]) for name in directions}


def gated_tagger_reference_norms(tagger, sentences: list[tuple[list[str], list[str]]], steps: int
                                 ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``tagger_reference_norms`` of a gated (lstm, gru) tagger: each direction stepped by reference_deep's NumPy
    cell one token at a time from a zero state at its sentence's first token read; h(t-k) (for an LSTM h alone,
    its cell state c held) nudged by +-eps in each unit; the loss -ln softmax(W [h_forward, h_backward] + b)."""
    from reference_deep import cell_forward

    kind, size = tagger.config.cell, tagger.config.hidden_size
    directions = ["forward"] + (["backward"] if tagger.config.bidirectional else [])
    sums = {name: np.zeros(steps + 1) for name in directions}
    pairs = {name: np.zeros(steps + 1, dtype=np.int64) for name in directions}
    tag_index = {tag: i for i, tag in enumerate(tagger.tags)}
    for member in tagger.members:
        output, bias = member.output_weights.astype(np.float64), member.output_bias.astype(np.float64)
        cells = {name: tuple(getattr(member, f"{name}_{part}").astype(np.float64)
                             for part in ("input", "recurrent", "bias")) for name in directions}
        for words, tags in sentences:
            length = len(words)
            inputs = _tagger_inputs(tagger, words, member.embedding)

            def step(name: str, position: int, state: np.ndarray) -> np.ndarray:
                """The state (S, H) after reading ``position`` from ``state``."""
                wx, wh, b = cells[name]
                _, after, _ = cell_forward(kind, wx, wh, b, inputs[position][None, None, :],
                                           np.zeros((1, 1), dtype=np.uint8), state[None], "tanh")
                return after[0]

            def run(name: str, order: list[int], start: np.ndarray) -> dict[int, np.ndarray]:
                state, found = start, {}
                for position in order:
                    state = step(name, position, state)
                    found[position] = state
                return found

            zero = np.zeros((2 if kind == "lstm" else 1, size))
            base = {"forward": run("forward", list(range(length)), zero)}
            if "backward" in directions:
                base["backward"] = run("backward", list(range(length - 1, -1, -1)), zero)

            def loss(t: int, name: str, source: int, state: np.ndarray) -> float:
                if name == "forward":
                    h = {name: run(name, list(range(source + 1, t + 1)), state).get(t, state)[0]}
                else:
                    h = {name: run(name, list(range(source - 1, t - 1, -1)), state).get(t, state)[0]}
                joined = np.concatenate([h.get(other, base[other][t][0]) for other in directions])
                scores = output @ joined + bias
                scores -= scores.max()
                return -(scores[tag_index[tags[t]]] - np.log(np.exp(scores).sum()))

            _add_tagger_pairs([tag in tag_index for tag in tags], directions, steps, base, loss, sums, pairs)
    return {name: _means(sums[name], pairs[name]) for name in directions}
