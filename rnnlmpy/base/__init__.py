"""The base layer: errors, text and file handling, the model-file container, metrics and progress lines.

Nothing here knows about networks or n-grams; every other layer builds on it.
"""
