"""Optional dependencies in tests."""

from __future__ import annotations

import pytest


def need(module: str):
    """Import an optional dependency (the ``search`` extra): skipped when missing, but a failure under ``CI=true``,
    where the README's test command installs every extra."""
    import importlib
    import os

    try:
        return importlib.import_module(module)
    except ImportError:
        message = f"{module} is not installed: pip install -e '.[search]'"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
