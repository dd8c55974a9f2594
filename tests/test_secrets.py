"""Secrets stay secret: no notebook output holds the admin password, and its files are owner-only.

The notebooks themselves are checked by ``plugin_secrets`` while nbval runs them; these tests
show that the check is armed in this run and that it catches a printed password.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Generator
from pathlib import Path

import pytest

from booktools.postgres import Server, embedded_postgres, runtime_root
from tests import plugin_secrets

CANARY = "canary-Zq7%x@y:w/1"
"""Holds the characters a URL encodes, so every spelling of it differs."""


def test_the_check_is_registered_and_watches_this_runs_password(
    request: pytest.FixtureRequest, server: Server
) -> None:
    assert request.config.pluginmanager.has_plugin("tests.plugin_secrets"), (
        "tests/plugin_secrets.py is not registered: add it to pytest_plugins in conftest.py"
    )
    if len(server.admin_password) < plugin_secrets.SHORTEST_CHECKED:
        pytest.skip(
            f"DATABASE_URL's password is shorter than {plugin_secrets.SHORTEST_CHECKED} characters: "
            "too common a string to search outputs for (the run warned about it)"
        )
    assert server.admin_password in plugin_secrets.watched()


@pytest.mark.parametrize(
    "output",
    [
        {"output_type": "stream", "name": "stdout", "text": f"url = postgresql://postgres:{CANARY}@HOST:PORT/db\n"},
        {"output_type": "stream", "name": "stderr", "text": "sqlalchemy.url = x:canary-Zq7%%x@y:w/1@h\n"},
        {"output_type": "execute_result", "data": {"text/plain": ["'a'\n", "'canary-Zq7%25x%40y%3Aw%2F1'"]}},
        {"output_type": "display_data", "data": {"text/markdown": f"`{CANARY}`"}},
        {"output_type": "error", "ename": "OperationalError", "evalue": "no", "traceback": [f"  pw={CANARY!r}"]},
    ],
    ids=["stdout", "percent-escaped-in-stderr", "url-encoded-result", "markdown", "traceback"],
)
def test_a_printed_password_fails_the_cell(output: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugin_secrets, "watched", lambda: plugin_secrets.spellings(CANARY))
    wrapper = _run_cell([{"output_type": "stream", "name": "stdout", "text": "harmless\n"}, output])
    with pytest.raises(plugin_secrets.PasswordPrinted, match="<PASSWORD>") as caught:
        wrapper.send(None)
    assert "canary" not in str(caught.value), "the failure message must not print the password itself"


def test_a_cell_without_the_password_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugin_secrets, "watched", lambda: plugin_secrets.spellings(CANARY))
    wrapper = _run_cell([{"output_type": "stream", "name": "stdout", "text": "postgresql://postgres:***@HOST:PORT/db\n"}])
    with pytest.raises(StopIteration):
        wrapper.send(None)


def test_a_short_password_is_not_searched_for() -> None:
    """``postgres`` as a password would match every mention of the role: warn instead."""
    assert plugin_secrets.spellings("postgres") == frozenset()
    assert plugin_secrets.spellings("ci-only-password") == {"ci-only-password"}


def test_password_files_are_owner_only() -> None:
    """The generated admin password sits in the server's state file and the template's password
    file: only this account may read them (the server runs as ``nobody`` under root, and /tmp is shared)."""
    with embedded_postgres() as instance:
        server = instance.attach()
        assert server is not None
        holders = [path for path in _small_files(instance.directory) if server.admin_password in path.read_text()]
        assert holders == [instance.state_file]
        templates = sorted(runtime_root().glob("template-*/password"))
        assert templates, "the template cluster keeps its password in a file"
        for path in [*holders, *templates]:
            info = path.stat()
            assert stat.S_IMODE(info.st_mode) == 0o600, f"{path} is {oct(stat.S_IMODE(info.st_mode))}"
            assert info.st_uid == os.geteuid()


def _small_files(folder: Path) -> list[Path]:
    """Every file outside the cluster's data folder (which keeps only scram verifiers)."""
    return [
        path for path in sorted(folder.rglob("*"))
        if path.is_file() and "data" not in path.relative_to(folder).parts
    ]


class _FakeCell:
    """What the plugin reads from an nbval cell item: the outputs the kernel just sent."""

    def __init__(self, outputs: list[dict[str, object]]) -> None:
        self.test_outputs = outputs


def _run_cell(outputs: list[dict[str, object]]) -> Generator[None, object, object]:
    """The plugin's hook around a cell that printed ``outputs``, stopped where the cell has run."""
    wrapper = plugin_secrets.pytest_runtest_call(_FakeCell(outputs))  # type: ignore[arg-type]
    next(wrapper)
    return wrapper
