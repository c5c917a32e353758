"""A slow, obvious interpolated modified Kneser-Ney (tuples and dicts), to test rnnlmpy.ngram against."""

from collections import Counter, defaultdict


def discounts(counts):
    """Chen & Goodman's D1, D2, D3+; where one falls outside (0, k], Y = n1 / (n1 + 2 n2) for all."""
    n = [sum(1 for c in counts if c == k) for k in range(5)]
    if n[1] == n[2] == 0:
        return [0.0, 0.5, 0.5, 0.5]
    y = n[1] / (n[1] + 2 * n[2])
    if 0 in n[1:4]:
        return [0.0, y, y, y]
    estimates = [1 - 2 * y * n[2] / n[1], 2 - 3 * y * n[3] / n[2], 3 - 4 * y * n[4] / n[3]]
    if all(0 < d <= k for k, d in enumerate(estimates, start=1)):
        return [0.0, *estimates]
    return [0.0, y, y, y]


def kneser_ney(sentences, order):
    """Return (probability, backoff) dicts: {ngram tuple: P(last word | rest)}, {context tuple: gamma}."""
    raw = [Counter() for _ in range(order + 1)]
    for sentence in sentences:
        tokens = ["<s>", *sentence, "</s>"]
        for end in range(len(tokens)):
            for n in range(1, order + 1):
                if end - n + 1 >= 0:
                    raw[n][tuple(tokens[end - n + 1:end + 1])] += 1
    adjusted = [None] * (order + 1)
    adjusted[order] = dict(raw[order])
    for n in range(order - 1, 0, -1):
        left = defaultdict(set)
        for gram in raw[n + 1]:
            left[gram[1:]].add(gram[0])
        adjusted[n] = {g: (c if g[0] == "<s>" else len(left[g])) for g, c in raw[n].items()}
    vocabulary = [g[0] for g in raw[1] if g[0] != "<s>"]
    probability, backoff = {}, {}
    d = discounts([c for g, c in adjusted[1].items() if g[0] != "<s>"])
    total = sum(c for g, c in adjusted[1].items() if g[0] != "<s>")
    gamma = sum(d[min(c, 3)] for g, c in adjusted[1].items() if g[0] != "<s>" and c > 0) / total
    for word in vocabulary:
        c = adjusted[1][(word,)]
        probability[(word,)] = max(c - d[min(c, 3)], 0) / total + gamma / len(vocabulary)
    for n in range(2, order + 1):
        d = discounts(list(adjusted[n].values()))
        by_context = defaultdict(dict)
        for gram, c in adjusted[n].items():
            by_context[gram[:-1]][gram[-1]] = c
        for context, followers in by_context.items():
            total = sum(followers.values())
            gamma = sum(d[min(c, 3)] for c in followers.values()) / total
            backoff[context] = gamma
            for word, c in followers.items():
                probability[context + (word,)] = (max(c - d[min(c, 3)], 0) / total
                                                  + gamma * probability[context[1:] + (word,)])
    return probability, backoff
