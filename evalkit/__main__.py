"""`python -m evalkit` and the `evalkit` command. The signal handlers come first: what a run imports takes seconds
(Hydra, torch, transformers), and a Ctrl-C then is one line and exit 130, not a traceback. Nothing but
the standard library is imported before they are installed."""

import sys

from evalkit.run import interrupt


def main() -> int:
    with interrupt.handle_signals():
        try:
            from evalkit.cli import main as cli_main

            return cli_main()  # says its own line for a signal once it runs; this is for what precedes that
        except KeyboardInterrupt as exc:
            stop = interrupt.Interrupted.of(exc)
            print(f"evalkit: stopped by {stop.signame} while starting", file=sys.stderr, flush=True)
            return stop.exit_code


if __name__ == "__main__":
    sys.exit(main())
