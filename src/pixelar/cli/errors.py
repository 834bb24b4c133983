"""Errors in the command line's words: library parameters spelled as flags, one line each."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable

from pixelar.cli.parser import TRAIN_FLAGS, flag
from pixelar.errors import PixelarError, respell

# The one table from the library's names (parameters and the one entry point a message names)
# to the command line's spellings.
PARAM_FLAGS: dict[str, str] = {
    **{name: flag(name) for name in TRAIN_FLAGS},  # the TrainConfig settings with a flag of their own
    "model_args": "--model-arg",
    "conditional": "--conditional",
    "run_dir": "--out",
    "resume": "--resume",
    "resume_run": "pixelar train --resume",
    "values": "--values",
    "keep_rows": "--keep-rows",
    "num_layers": "--num-layers",
    "hidden_channels": "--hidden-channels",
    "orders": "--orders",
    "port": "--port",  # pixelar serve
    "host": "--host",
    "pixel": "--pixel",  # pixelar receptive-field
    "channel": "--channel",
}


def flag_spelling(name: str, value: str | None) -> str | None:
    """How the command line says a mention of parameter ``name`` (``value``: its Python text, or
    None): ``resume=True`` -> ``--resume``, ``values='levels'`` -> ``--values levels``,
    ``resume=False`` -> ``without --resume``. None (keep the mention) for a name with no flag."""
    spelled = PARAM_FLAGS.get(name)
    if spelled is None:
        return None
    if value is None or value == "True":
        return spelled
    if value == "False":
        return f"without {spelled}"
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = shlex.quote(value[1:-1])
    return f"{spelled} {value}"


def in_flags(text: str, params: tuple[str, ...]) -> str:
    """Library text that mentions ``params`` (see :mod:`pixelar.errors`), with flags for them."""
    return respell(text, params, flag_spelling)


def message(error: PixelarError) -> str:
    """A library error as the CLI says it: its parameters as flags, on one line."""
    return " ".join(error.respelled(flag_spelling).split("\n")).strip()


def run_command(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a verb; a user error prints one ``error:`` line and returns 2 (130 on Ctrl-C)."""
    try:
        return command(args)
    except PixelarError as e:
        return _fail(message(e))
    except OSError as e:  # the file system refused something not checked before (disk full, permissions)
        where = " -> ".join(str(name) for name in (e.filename, e.filename2) if name is not None)
        return _fail(f"{e.strerror or e.__class__.__name__}{': ' + where if where else ''}")
    except MemoryError:
        return _fail("out of memory; lower --batch-size (or -n)")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _fail(text: str) -> int:
    print(f"error: {text}", file=sys.stderr)
    return 2
