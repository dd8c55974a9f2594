"""Exercise checks hint without answering; a scratch project inside JupyterLab's folder gets a link."""

from __future__ import annotations

from pathlib import Path

import pytest

from booktools.exercises import ENV_PY_HINTS, PASSED, check, check_value, error_line, file_link
from booktools.paths import SCRATCH_ENV
from booktools.project import ScratchProject


def test_check_passes_quietly_or_raises_the_hint(capsys: pytest.CaptureFixture[str]) -> None:
    check(True, hint="look at X")
    assert capsys.readouterr().out == f"{PASSED}\n"
    with pytest.raises(AssertionError, match="^look at X$"):
        check(False, hint="look at X")


@pytest.mark.parametrize("placeholder", [None, ...])
def test_an_unanswered_exercise_says_not_yet(placeholder: object) -> None:
    with pytest.raises(AssertionError, match=r"^Not yet: `answer` is still"):
        check_value("answer", placeholder, False, hint="the general hint")


def test_a_forgotten_await_is_named() -> None:
    async def fetch() -> int:
        return 1

    coroutine = fetch()
    with pytest.raises(AssertionError, match="without `await`"):
        check_value("answer", coroutine, False, hint="the general hint")
    coroutine.close()


def test_a_wrong_answer_gets_the_general_hint() -> None:
    with pytest.raises(AssertionError, match="^the general hint$"):
        check_value("answer", 2, False, hint="the general hint")


def test_the_error_line_is_the_last_that_names_an_error() -> None:
    output = "Traceback (most recent call last):\n  File ...\nsqlalchemy.exc.InterfaceError: (x) <boom>\n(Background)"
    assert error_line(output) == "sqlalchemy.exc.InterfaceError: (x) <boom>"
    failed = "FAILED: Can't proceed with --autogenerate option"
    assert error_line(f"INFO  [alembic] ...\n{failed}") == failed


def test_every_env_py_hint_leaves_the_answer_out() -> None:
    for _, hint in ENV_PY_HINTS:
        assert not any(answer in hint for answer in ("Base.metadata", "connectable = async_engine", "from app import"))


def test_a_project_inside_jupyterlabs_folder_gets_a_relative_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``bash run.sh workshop`` sets up: scratch projects under the served folder."""
    (tmp_path / "scratch").mkdir()
    monkeypatch.setenv(SCRATCH_ENV, str(tmp_path / "scratch"))
    monkeypatch.chdir(tmp_path)
    project = ScratchProject.create("04-async-env-py", app_database_url="postgresql+asyncpg://u:p@h/d")
    markdown = file_link(project, "migrations/env.py").data
    assert f"(scratch/{project.root.name}/migrations/env.py)" in markdown


def test_a_project_elsewhere_is_named_without_the_machines_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    project = ScratchProject(tmp_path.parent / "elsewhere", app_database_url="postgresql+asyncpg://u:p@h/d")
    markdown = file_link(project, "migrations/env.py").data
    assert "](" not in markdown and str(tmp_path.parent) not in markdown
