"""``python -m rnnlmpy_cli`` runs the command-line tool."""

from .main import main

main()
