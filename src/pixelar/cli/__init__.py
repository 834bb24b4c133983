"""The ``pixelar`` command line: a thin layer over the library API.

:mod:`~pixelar.cli.parser` holds the grammar, :mod:`~pixelar.cli.train` and
:mod:`~pixelar.cli.commands` the verbs (each a few library calls), :mod:`~pixelar.cli.flags`
what those verbs make of their flags (checks, the model, labels, sampling options), and
:mod:`~pixelar.cli.errors` says a library error in the command line's words (its parameters as
flags), on one line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from pixelar.cli.commands import cmd_complete, cmd_compress, cmd_decompress, cmd_eval, cmd_list, cmd_sample
from pixelar.cli.errors import run_command
from pixelar.cli.ood import cmd_ood, cmd_score
from pixelar.cli.parser import build_parser
from pixelar.cli.pictures import cmd_bits, cmd_receptive_field
from pixelar.cli.report import cmd_report
from pixelar.cli.serve import cmd_serve
from pixelar.cli.train import cmd_train

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": cmd_train,
    "eval": cmd_eval,
    "sample": cmd_sample,
    "complete": cmd_complete,
    "compress": cmd_compress,
    "decompress": cmd_decompress,
    "list": cmd_list,
    "report": cmd_report,
    "serve": cmd_serve,
    "receptive-field": cmd_receptive_field,
    "bits": cmd_bits,
    "score": cmd_score,
    "ood": cmd_ood,
}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; user errors print one ``error:`` line and return 2 (a bad flag
    exits with status 2 through argparse, also with one line)."""
    args = build_parser().parse_args(argv)
    return run_command(COMMANDS[args.command], args)


__all__ = ["COMMANDS", "build_parser", "main"]
