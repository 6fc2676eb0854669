"""One-line argparse errors for the ``vbq`` subcommands.

argparse prints the whole usage block before ``error: ...``; a user then has to find the one line that says
what is wrong. :func:`one_line_errors` makes a (sub)parser print only
``vbq <command>: error: <message> (see vbq <command> --help)`` and exit 2, as every other bad input does.
"""

from __future__ import annotations

import sys
import types


def _error(self, message: str):
    msg = " ".join(str(message).split())
    print(f"{self.prog}: error: {msg} (see '{self.prog} --help')", file=sys.stderr)
    raise SystemExit(2)


def one_line_errors(parser):
    """Give ``parser`` (an argparse.ArgumentParser) a one-line ``error``; returns the parser."""
    parser.error = types.MethodType(_error, parser)
    return parser
