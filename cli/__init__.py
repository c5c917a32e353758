"""Command-line layer of rnnlmpy (installed as the ``rnnlmpy_cli`` package)."""
