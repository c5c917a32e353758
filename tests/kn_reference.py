"""A slow, obvious interpolated modified Kneser-Ney (tuples and dicts), to test rnnlmpy.ngram against."""

from collections import Counter, defaultdict


FALLBACK = [0.0, 0.5, 1.0, 1.5]  # KenLM's --discount_fallback


def discounts(counts, fallback=FALLBACK):
    """Chen & Goodman's D1, D2, D3+; ``fallback`` when n1, n2 or n3 is 0 or one falls outside (0, k]."""
    n = [sum(1 for c in counts if c == k) for k in range(5)]
    if 0 in n[1:4]:
        return list(fallback)
    y = n[1] / (n[1] + 2 * n[2])
    estimates = [1 - 2 * y * n[2] / n[1], 2 - 3 * y * n[3] / n[2], 3 - 4 * y * n[4] / n[3]]
    if all(0 < d <= k for k, d in enumerate(estimates, start=1)):
        return [0.0, *estimates]
    return list(fallback)


def kneser_ney(sentences, order, cutoffs=None, fallback=FALLBACK):
    """Return (probability, backoff) dicts: {ngram tuple: P(last word | rest)}, {context tuple: gamma}.

    ``cutoffs[n-1]``: n-grams of order n seen at most that often are left out, their
    whole (adjusted) count going to their context's gamma (KenLM's --prune).
    """
    cutoffs = cutoffs or [0] * order
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
    d = discounts([c for g, c in adjusted[1].items() if g[0] != "<s>"], fallback)
    total = sum(c for g, c in adjusted[1].items() if g[0] != "<s>")
    gamma = sum(d[min(c, 3)] for g, c in adjusted[1].items() if g[0] != "<s>" and c > 0) / total
    for word in vocabulary:
        c = adjusted[1][(word,)]
        probability[(word,)] = max(c - d[min(c, 3)], 0) / total + gamma / len(vocabulary)
    for n in range(2, order + 1):
        d = discounts(list(adjusted[n].values()), fallback)
        by_context = defaultdict(dict)
        for gram, c in adjusted[n].items():
            by_context[gram[:-1]][gram[-1]] = c
        for context, followers in by_context.items():
            total = sum(followers.values())
            kept = {word: c for word, c in followers.items() if raw[n][context + (word,)] > cutoffs[n - 1]}
            dropped = sum(c for word, c in followers.items() if word not in kept)
            gamma = (sum(d[min(c, 3)] for c in kept.values()) + dropped) / total
            backoff[context] = gamma
            for word, c in kept.items():
                probability[context + (word,)] = (max(c - d[min(c, 3)], 0) / total
                                                  + gamma * probability[context[1:] + (word,)])
    return probability, backoff
