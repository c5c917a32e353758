"""The RNN tagger's sparse input features: the word, its shape, suffixes, prefixes and flags."""

from __future__ import annotations


def word_shape(word: str) -> str:
    """Character classes with repeats collapsed (at most 8 characters).

    ``Obama`` -> ``Xx``, ``1990s`` -> ``dx``, ``e-mail`` -> ``x-x``.
    """
    classes = []
    for char in word:
        kind = "X" if char.isupper() else "x" if char.islower() else "d" if char.isdigit() else char
        if not classes or classes[-1] != kind:
            classes.append(kind)
    return "".join(classes)[:8]


def word_key(word: str, rich: bool) -> str:
    """The form of a word whose identity is a feature: lower-cased with rich features (case is its own feature)."""
    return word.lower() if rich else word


def token_features(word: str, known: bool, rich: bool, unknown_classes: bool) -> list[str]:
    """Sparse input features of one token, as names (the tagger maps them to input rows).

    ``known``: the word's identity is a feature; else, with ``unknown_classes``, its shape
    stands in. ``rich`` adds shape, suffixes, prefixes, capital, digit and hyphen features.
    """
    features = ["<bias>"]
    if not rich:
        if known:
            features.append("w=" + word)
        elif unknown_classes:
            features.append("unk=" + word_shape(word))
        return features
    lower = word.lower()
    if known:
        features.append("w=" + lower)
    elif unknown_classes:
        features.append("unk=" + word_shape(word))
    features.append("shape=" + word_shape(word))
    for k in range(1, 5):
        if len(lower) > k:
            features.append(f"suf{k}=" + lower[-k:])
    for k in range(1, 4):
        if len(lower) > k:
            features.append(f"pre{k}=" + lower[:k])
    if word[:1].isupper():
        features.append("cap")
    if any(char.isdigit() for char in word):
        features.append("digit")
    if "-" in word:
        features.append("hyphen")
    return features
