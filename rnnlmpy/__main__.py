"""``python -m rnnlmpy`` runs the command-line tool (the same as the ``rnnlmpy`` command).

This is the one library file that may reach the command-line package, and only
when run as a script: no module imports it, and the import below happens only
under ``python -m`` (tests/test_layering.py checks both).
"""

if __name__ == "__main__":
    from rnnlmpy_cli.main import main

    main()
