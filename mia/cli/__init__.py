"""The command line: ``python -m mia COMMAND``. A thin layer: parse the options (one dataclass per command,
:mod:`mia.cli.options`), call the library, print. :func:`main` takes ``argv`` so tests call it without a subprocess.

``app`` holds the entry point and the training/generation commands; ``detect_commands``, ``head_commands`` and
``search_commands`` the others; ``common`` what every command shares (messages, progress, output); ``values`` the
converters of option values.
"""

from mia.cli.app import COMMANDS, build_parser, main, sigterm_as_exception

__all__ = ["COMMANDS", "build_parser", "main", "sigterm_as_exception"]
