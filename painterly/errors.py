"""The one error type of the project.

Every error a user can cause (bad file, bad option, missing weights) is a ``PainterlyError`` whose
message says what went wrong and what to do. The CLI prints it as one line and exits with code 2.
"""


class PainterlyError(Exception):
    """A user-facing error: the message is one line that says what to do."""
