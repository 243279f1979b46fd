"""The package's front door: its docstring's example runs, and ``mia.__all__`` is the short list a notebook needs."""

from __future__ import annotations

import doctest

import mia


def test_the_package_docstring_example_runs():
    failures, tried = doctest.testmod(mia, optionflags=doctest.ELLIPSIS, verbose=False)
    assert tried >= 6 and failures == 0


def test_all_names_a_short_list_that_imports():
    assert len(mia.__all__) <= 20
    for name in mia.__all__:
        assert getattr(mia, name) is not None
