"""The one exception type mia raises for bad input: the CLI prints its message and exits with code 2."""


class MiaError(Exception):
    """A problem with the user's input or files, with a message that says what to do about it."""
