"""Mixing models word by word: an RNN with another model (interpolate), any number of them (ensemble),
and the KN / RNN / interpolation comparison table (compare)."""
