"""The exceptions mia raises for bad input and for being stopped: the CLI turns them into exit codes."""


class MiaError(Exception):
    """A problem with the user's input or files, with a message that says what to do about it (exit code 2)."""


class DetectorFileError(MiaError):
    """A detector folder that is missing, damaged or tampered with; the message names the file and the field."""


class Terminated(BaseException):
    """SIGTERM arrived: raised in the main thread so that temporary files are cleaned up (exit code 143)."""
