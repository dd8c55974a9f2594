"""Side environments, so the book can show other releases by running them.

Each is a ``pip install --no-deps --target`` folder inside the virtualenv (with uv when
``run.sh`` set the virtualenv up with it: ``booktools.installer``), made on first use from a
pinned list in ``booktools/sandbox_requirements/``. Code runs there with ``python -S``: only
that folder and the standard library are importable, as in a virtualenv where just those
packages were installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

from booktools import installer
from booktools.errors import BookToolsError
from booktools.paths import locked
from booktools.project import CommandResult, ScratchProject, run_command

SANDBOX_PRELOADED = ("alembic.config",)
"""What a sandbox's ``alembic`` commands are forked with (``booktools.forkserver``): only what
``python -m alembic`` imports first, since sandboxes show what a release imports or fails to."""

SANDBOXES = ("sqlalchemy-2.1-without-greenlet", "sqlalchemy-2.0", "sqlalchemy-2.1-without-asyncpg")


def requirements(name: str) -> str:
    if name not in SANDBOXES:
        raise BookToolsError(f"No sandbox {name!r}; known: {', '.join(SANDBOXES)}.")
    return files("booktools.sandbox_requirements").joinpath(f"{name}.txt").read_text()


def sandbox(name: str) -> Path:
    """The sandbox's folder, installed first if needed (quietly; once per virtualenv)."""
    wanted = requirements(name)
    folder = Path(sys.prefix) / "booktools-sandboxes" / name
    folder.parent.mkdir(exist_ok=True)
    with locked(folder.parent / f"{name}.lock"):
        stamp = folder / "requirements.txt"
        if stamp.is_file() and stamp.read_text() == wanted:
            return folder
        pins = [line for line in wanted.splitlines() if line and not line.startswith("#")]
        # A fresh folder each time: installing over an old one would keep packages the list dropped.
        staging = folder.with_name(f"{name}.installing")
        shutil.rmtree(staging, ignore_errors=True)
        completed = subprocess.run(
            [*installer.pip_install(), "--no-deps", "--target", str(staging), *pins],
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise BookToolsError(
                f"Could not install the {name} sandbox (needs the package index once):\n"
                f"{completed.stdout}{completed.stderr}"
            )
        (staging / "requirements.txt").write_text(wanted)
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    return folder


def python(name: str, code: str, *, check: bool = True) -> CommandResult:
    """Run ``python -c code`` in a sandbox and print it like a shell session."""
    folder = sandbox(name)
    environ = {**os.environ, "PYTHONPATH": str(folder), "PYTHONNOUSERSITE": "1"}
    return run_command(["python", "-S", "-c", code], cwd=folder, env=environ, check=check)


def installed(name: str) -> list[str]:
    """``name==version`` of every distribution in the sandbox, sorted."""
    folder = sandbox(name)
    found = []
    for info in sorted(folder.glob("*.dist-info")):
        meta = (info / "METADATA").read_text(errors="replace").splitlines()
        fields = dict(line.split(": ", 1) for line in meta[:10] if ": " in line)
        found.append(f"{fields['Name']}=={fields['Version']}")
    return sorted(found, key=str.lower)


def alembic(name: str, project: ScratchProject, *args: str, check: bool = True) -> CommandResult:
    """Run ``alembic`` from a sandbox in ``project``'s folder: another release, the same files.

    Printed as ``$ python -S -m alembic ...``, since it is the sandbox's Alembic and
    SQLAlchemy that run, importing the project's ``app.py`` and ``env.py``.
    """
    folder = sandbox(name)
    environ = {**project.environ(), "PYTHONPATH": str(folder), "PYTHONNOUSERSITE": "1"}
    return run_command(["python", "-S", "-m", "alembic", *args], cwd=project.root, env=environ, check=check,
                       preload=SANDBOX_PRELOADED)
