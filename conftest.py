"""Every test run gets its PostgreSQL from booktools (see src/booktools/pytest_plugin.py),
and no notebook cell may print that server's admin password (tests/plugin_secrets.py)."""

pytest_plugins = ["booktools.pytest_plugin", "tests.plugin_secrets"]
