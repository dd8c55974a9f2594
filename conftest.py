"""Every test run gets its PostgreSQL from booktools (see src/booktools/pytest_plugin.py),
and no notebook cell may print that server's admin password (tests/plugin_secrets.py)."""

import pytest

pytest_plugins = ["booktools.pytest_plugin", "tests.plugin_secrets"]

FIRST = ("tests/test_browser.py", "tests/test_book.py")
"""The longest group of tests: the book build they share (about 15 s), then every page in a browser.
Started first, it runs beside the notebooks instead of alone at the end of a run
(``--dist loadscope`` hands out groups in the order they were collected)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(FIRST))
