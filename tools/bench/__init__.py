"""rnnlmpy's benchmarks, run from the checkout root as modules: ``python -m tools.bench.<name>`` (see common)."""
