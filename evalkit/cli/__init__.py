"""The command line: the one table of commands and the front door (commands.py), the Hydra app for runs and sweeps
(app.py), what is checked before a model loads (preflight.py), sweeps whose jobs run elsewhere (sweep.py), and the
other commands' bodies (generate.py, listings.py, report_commands.py)."""

from evalkit.cli.commands import main

__all__ = ["main"]
