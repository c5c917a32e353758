"""``python -m rnnlmpy`` runs the command-line tool."""

from rnnlmpy_cli.main import main

if __name__ == "__main__":
    main()
