"""The one exception type for problems a user can cause and fix, and how its messages name
parameters.

A message names the parameters a user can change in their Python spelling: ``name=VALUE``
(``resume=True``, ``values='levels'``, ``image_size=32``, ``data=NAME`` with a placeholder),
a bare ``name`` (``data_dir``), or a call ``name(VALUE)`` (``pixelar.training.resume_run('runs/x')``);
a dotted prefix belongs to the mention. The error lists the names it mentions in ``params``, so
that a front end with other spellings (the command line, as flags) can rewrite exactly those
mentions with :meth:`PixelarError.respelled`, and a library user reads parameter names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

# A mention's value: a quoted string, or a literal / placeholder without spaces (a trailing
# full stop ends the sentence, not the value).
_VALUE = r"'[^']*'|\"[^\"]*\"|[^\s,;:()'\"]*[^\s,;:()'\".]"

# spell(name, value) -> the text that replaces a mention of parameter ``name``; ``value`` is the
# text after ``=`` or inside the call's parentheses (quotes included), None for a bare mention.
# Returning None keeps the mention as it is.
Spelling = Callable[[str, str | None], str | None]


class PixelarError(Exception):
    """A user-facing error: one line that names the problem and the fix.

    ``param`` names the parameter(s) the message mentions (see the module docstring). The CLI
    prints the message, with those mentions spelled as its flags, as ``error: <message>`` and
    exits with status 2, without a traceback.
    """

    def __init__(self, message: str, *, param: str | Iterable[str] = ()) -> None:
        super().__init__(message)
        self.params: tuple[str, ...] = (param,) if isinstance(param, str) else tuple(param)

    def respelled(self, spell: Spelling) -> str:
        """The message with each mention of a parameter in ``params`` replaced by ``spell``'s text."""
        return respell(str(self), self.params, spell)


def respell(text: str, params: Iterable[str], spell: Spelling) -> str:
    """``text`` with every mention of the parameters ``params`` replaced by ``spell(name, value)``."""
    for name in params:
        pattern = re.compile(
            rf"(?<![\w./\\$-])(?:[A-Za-z_]\w*\.)*{re.escape(name)}"
            rf"(?:=(?P<value>{_VALUE})|\((?P<arg>{_VALUE})\))?(?![\w/\\-]|\.\w)"
        )

        def replace(match: re.Match[str], name: str = name) -> str:
            value = match.group("value") if match.group("value") is not None else match.group("arg")
            spelled = spell(name, value)
            return match.group(0) if spelled is None else spelled

        text = pattern.sub(replace, text)
    return text
