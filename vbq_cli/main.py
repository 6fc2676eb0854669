"""``vbq``: entry point. Subcommands live in ``cmd_*.py`` modules, each with ``register(subparsers)``.

Command modules import only ``argparse`` at top level so ``vbq --help`` starts fast; heavy libraries are
imported inside each command's ``run(args)``.

Error contract: a :class:`VBQScoreLib.errors.VBQInputError` (or a ValueError/OSError raised while reading user
input and converted by the command) is printed as one line ``vbq <command>: error: <message>`` on stderr and
the process exits 2. ``run`` returns the exit code (0 success; 1 for "finished, but some cases failed").
"""

from __future__ import annotations

import argparse
import sys

COMMAND_MODULES = ("cmd_score", "cmd_batch", "cmd_cohort", "cmd_demo", "cmd_agreement", "cmd_web",
                   "cmd_intake")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``vbq`` parser; given the arguments, with only the subcommand they name when they start with one
    (building every subcommand's options costs start-up time that ``vbq score`` should not pay)."""
    from importlib import import_module

    from VBQScoreLib import __version__

    from .oneline import one_line_errors

    parser = argparse.ArgumentParser(
        prog="vbq",
        description="MRI vertebral bone quality (VBQ): measure VBQ from a T1 MRI and a segmentation, "
        "run many cases, and run the cohort statistics of a VBQ study.",
    )
    parser.add_argument("--version", action="version", version=f"vbq {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    names = COMMAND_MODULES
    if argv and f"cmd_{argv[0]}" in COMMAND_MODULES:
        names = (f"cmd_{argv[0]}",)
    for name in names:
        try:
            mod = import_module(f"vbq_cli.{name}")
        except ModuleNotFoundError as exc:  # a command module not written yet
            if exc.name == f"vbq_cli.{name}":
                continue
            raise
        mod.register(sub)
    return one_line_errors(parser)


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    from VBQScoreLib.errors import VBQInputError

    prog = f"vbq {args.command}" if getattr(args, "command", None) else "vbq"
    try:
        code = args.func(args)
    except VBQInputError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


def entry() -> None:
    """The ``vbq`` program (console script and ``python -m vbq_cli``): :func:`main`, then exit without the
    interpreter's teardown. Once a command has returned, every output is written and closed (atomic writes),
    and what is left is freeing the objects of a large cohort one by one: 0.1-0.15 s at 100,000 subjects,
    10 % of a ``vbq cohort match`` (benchmarks/bench_matching.py). The exit handlers still run (atexit:
    logging, temporary folders, Dask clusters), streams are flushed; with a live non-daemon thread the exit
    is the normal one, which waits for it."""
    import os
    import threading

    code = main()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (vbq ... | head): as at a normal exit, nothing to add
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
