"""The one exception type for bad input.

Raise :class:`VBQInputError` with a single line that names the file, column, row or segment and says what is
wrong. The CLI prints it as ``vbq <command>: error: <message>`` and exits with status 2; Slicer shows it in an
error dialog. It subclasses ``ValueError`` so Slicer-style logic code (which raises ``ValueError``) and callers
catching ``ValueError`` both work.
"""


class VBQInputError(ValueError):
    """Bad user input: wrong file, missing column, empty segment, text in a numeric column, ..."""

    def __init__(self, message: str):
        message = " ".join(str(message).split())  # always one line
        super().__init__(message)
