"""The base of Qiyas's own errors, so a command line or a supervisor catches "ours" in one place.

`QiyasError` is what every error class of this project derives from. `InvalidInput` is the base
of the errors that reject bad input (a frame, a file, a value); it is also a `ValueError`, as
these errors always were, for callers that catch that.

MicroPython allows one built-in exception among a class's bases ("multiple bases have instance
lay-out conflict"), so there `InvalidInput` is a plain `ValueError`: the firmware catches
`(QiyasError, ValueError)` for "ours".
"""


class QiyasError(Exception):
    """An error of this project: the text names what was wrong, in one line."""


try:

    class InvalidInput(QiyasError, ValueError):
        """Input rejected: what was wrong and where is in the text."""

except TypeError:  # MicroPython: one built-in base per class

    class InvalidInput(ValueError):  # type: ignore[no-redef]
        """Input rejected: what was wrong and where is in the text."""
