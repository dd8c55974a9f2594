"""Every test run gets its PostgreSQL from booktools (see src/booktools/pytest_plugin.py)."""

pytest_plugins = ["booktools.pytest_plugin"]
