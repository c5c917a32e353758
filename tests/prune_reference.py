"""A slow, obvious relative-entropy pruning (Stolcke 1998, as SRILM's ngram -prune) over dicts of word tuples."""

import math

EPSILON = 3e-6  # SRILM's Prob_Epsilon


class BackoffModel:
    """log10 probabilities {ngram tuple: p} and log10 backoff weights {context tuple: bow}."""

    def __init__(self, prob, bow):
        self.prob, self.bow = dict(prob), dict(bow)

    def backed_off(self, word, history):
        """log10 P(word | history) by the backoff rule."""
        history = tuple(history)
        if history + (word,) in self.prob:
            return self.prob[history + (word,)]
        return self.bow.get(history, 0.0) + self.backed_off(word, history[1:])

    def history_prob(self, history):
        """log10 P(history): chain rule, a leading <s> scored as </s>."""
        total = 0.0
        for i, word in enumerate(history):
            total += self.backed_off("</s>" if i == 0 and word == "<s>" else word, history[:i])
        return total

    def followers(self, history):
        return [gram[-1] for gram in self.prob if len(gram) == len(history) + 1 and gram[:-1] == history]

    def numerator_denominator(self, history):
        numerator, denominator = 1.0, 1.0
        for word in self.followers(history):
            numerator -= 10 ** self.prob[history + (word,)]
            denominator -= 10 ** self.backed_off(word, history[1:])
        return (0.0 if abs(numerator) < EPSILON else numerator), (0.0 if abs(denominator) < EPSILON else denominator)


def prune(prob, bow, order, threshold, history_probs=None):
    """The pruned model's (prob, bow) dicts; ``history_probs``: {ngram: log10 P(ngram as a history)}, default
    the model's own chain-rule probability."""
    original = BackoffModel(prob, bow)
    pruned = BackoffModel(prob, bow)
    for n in range(order, 1, -1):
        contexts_kept = {gram[:-1] for gram in pruned.prob if len(gram) == n + 1}
        for history in [gram for gram in original.prob if len(gram) == n - 1]:
            numerator, denominator = original.numerator_denominator(history)
            if numerator < 0:
                continue
            if denominator < EPSILON and numerator > EPSILON:
                numerator = denominator = 0.0
            history_prob = (original.history_prob(history) if history_probs is None
                            else history_probs[history])
            for word in original.followers(history):
                p = original.prob[history + (word,)]
                lower = original.backed_off(word, history[1:])
                new_bow = math.log10(numerator + 10 ** p) - math.log10(denominator + 10 ** lower)
                delta = lower + new_bow - p
                delta_entropy = -(10 ** history_prob) * (10 ** p * delta
                                                         + numerator * (new_bow - original.bow.get(history, 0.0)))
                if 10 ** delta_entropy - 1 < threshold and history + (word,) not in contexts_kept:
                    del pruned.prob[history + (word,)]
                    pruned.bow.pop(history + (word,), None)  # a removed n-gram is no context any more
    for n in range(1, order):
        for history in [gram for gram in pruned.prob if len(gram) == n]:
            numerator, denominator = pruned.numerator_denominator(history)
            if denominator < EPSILON and EPSILON < numerator < 1 - EPSILON:
                for word in pruned.followers(history):
                    pruned.prob[history + (word,)] -= math.log10(1 - numerator)
                pruned.bow[history] = 0.0
            elif numerator < EPSILON or denominator < EPSILON:
                pruned.bow[history] = 0.0
            else:
                pruned.bow[history] = math.log10(numerator) - math.log10(denominator)
    return pruned.prob, {h: b for h, b in pruned.bow.items() if h in pruned.prob}
