"""The one exception type for problems a user can cause and fix."""


class PixelarError(Exception):
    """A user-facing error: one line that names the problem and the fix.

    The CLI prints it as ``error: <message>`` and exits with status 2, without a traceback.
    """
