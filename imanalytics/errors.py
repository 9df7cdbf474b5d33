"""The error every user mistake raises: the CLI prints its one-line message, no traceback."""


class ImanalyticsError(Exception):
    """A problem with the user's input or environment, with a message naming what is at fault."""
