"""A scratch Alembic project: an app module, an environment, and the commands a reader types."""

from __future__ import annotations

import atexit
import difflib
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from IPython.display import Markdown

from booktools import forkserver
from booktools.errors import BookToolsError, CommandFailed
from booktools.learner import LearnerFiles
from booktools.paths import learners_scratch, new_scratch_folder
from booktools.tracebacks import trim

if TYPE_CHECKING:
    from alembic.config import Config

APP_URL_ENV = "APP_DATABASE_URL"
"""The sample apps read their database URL from here (never the admin's ``DATABASE_URL``)."""

SAMPLE_APPS = ("users", "shop", "store", "service", "blog")

COLOUR_FORCING = ("FORCE_COLOR", "CLICOLOR_FORCE", "PY_COLORS")

CI_MARKERS = ("CI", "BUILD_NUMBER")
"""Set by CI services; pytest then prints its short summary lines uncut, so a chapter's inner
pytest run would print another last line in CI than on a reader's machine."""

COMMAND_TIMEOUT_S = 300
"""No command in this book takes a minute; one that hangs must not hang a test run."""


def repository_root() -> Path:
    """The book's checkout: where ``env_examples/`` lives."""
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for folder in (start, *start.parents):
            if (folder / "env_examples").is_dir() and (folder / "_toc.yml").is_file():
                return folder
    raise BookToolsError(
        "Cannot find the book's checkout (a folder with env_examples/ and _toc.yml). "
        "Run from inside the repository, or install it with pip install -e ."
    )


def env_example(variant: str) -> Path:
    """The folder of one ``env_examples/`` variant."""
    folder = repository_root() / "env_examples" / variant
    if not (folder / "migrations" / "env.py").is_file():
        known = sorted(p.parent.parent.name for p in folder.parent.glob("*/migrations/env.py"))
        raise BookToolsError(f"No env_examples variant {variant!r}; known: {', '.join(known)}.")
    return folder


@dataclass(frozen=True)
class CommandResult:
    """What a command printed (trimmed, stdout and stderr interleaved) and its exit status."""

    command: str
    returncode: int
    output: str

    def _ipython_display_(self) -> None:
        """Show nothing as a cell's value: ``run_command`` has printed the output already."""


class ScratchProject:
    """A throwaway project folder: ``app.py`` beside ``alembic.ini`` and ``migrations/``.

    Commands run with the folder as their working directory; what they print is
    shown with the folder's path cut off, so outputs do not depend on the machine.
    """

    def __init__(
        self, root: Path, *, app_database_url: str, name: str | None = None, learner: LearnerFiles | None = None
    ) -> None:
        self.root = root
        self.app_database_url = app_database_url
        self.name = name or root.name
        self.learner = learner
        """Where the learner works, the chapter's project: the files it gave the learner (``booktools.learner``)."""

    @classmethod
    def create(cls, name: str, *, app_database_url: str) -> ScratchProject:
        """A new, empty project folder, removed when this Python exits.

        Where the learner works (``learners_scratch()``) its name starts with a dot: the
        file browser shows the learner the chapter's own project, not every throwaway one.
        """
        root = new_scratch_folder(f"{name}-", hidden=learners_scratch())
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        return cls(root, app_database_url=app_database_url, name=name)

    @classmethod
    def for_chapter(cls, name: str, *, app_database_url: str) -> ScratchProject:
        """The chapter's own project: as ``create``, except where the learner works.

        There it is always ``scratch/<name>``, emptied at each start and kept after
        exit, and the files the chapter gave the learner are theirs (``booktools.learner``).
        """
        if not learners_scratch():
            return cls.create(name, app_database_url=app_database_url)
        learner = LearnerFiles.start(name)
        return cls(learner.root, app_database_url=app_database_url, name=name, learner=learner)

    def _may_use(self) -> None:
        """Refuse to run or change anything while a file given to the learner has not passed its check."""
        if self.learner is not None:
            self.learner.require_checked()

    def environ(self) -> dict[str, str]:
        """The commands' environment: this process's, plus the app's URL, made repeatable.

        Every command run in the project asks for it: where a learner's file has not
        passed its check yet, this raises ``NotChecked`` (``booktools.learner``).
        """
        self._may_use()
        return {
            **os.environ,
            APP_URL_ENV: self.app_database_url,
            # Wrapped lines (pytest's, argparse's) follow the terminal width; fix it.
            "COLUMNS": "80",
        }

    def activate(self) -> Config:
        """Use this project in-process, as the ``alembic`` command would.

        Its ``app.py`` becomes importable as ``app`` (a fresh import), its URL is
        put in the environment, and the returned Config is for ``alembic.command``.
        """
        from alembic.config import Config

        self._may_use()
        os.environ[APP_URL_ENV] = self.app_database_url
        sys.modules.pop("app", None)
        if str(self.root) in sys.path:
            sys.path.remove(str(self.root))
        sys.path.insert(0, str(self.root))
        return Config(str(self.root / "alembic.ini"))

    def add_app(self, sample: str = "users") -> Path:
        """Copy a sample application in as ``app.py``."""
        if sample not in SAMPLE_APPS:
            raise BookToolsError(f"No sample app {sample!r}; known: {', '.join(SAMPLE_APPS)}.")
        self._may_use()
        target = self.root / "app.py"
        target.write_text(files("booktools.apps").joinpath(f"{sample}.py").read_text())
        return target

    def use_env(self, variant: str) -> None:
        """Copy an ``env_examples/`` variant in: ``alembic.ini`` and ``migrations/``."""
        source = env_example(variant)
        self._may_use()
        shutil.copy(source / "alembic.ini", self.root / "alembic.ini")
        shutil.rmtree(self.root / "migrations", ignore_errors=True)
        shutil.copytree(source / "migrations", self.root / "migrations",
                        ignore=shutil.ignore_patterns("__pycache__", "README.md"))

    def use_env_py(self, variant: str) -> str:
        """Put a variant's ``env.py`` over ours; return the ``env.py`` it replaced."""
        self._may_use()
        target = self.root / "migrations" / "env.py"
        before = target.read_text()
        shutil.copy(env_example(variant) / "migrations" / "env.py", target)
        return before

    def path(self, relative: str) -> Path:
        return self.root / relative

    def read(self, relative: str) -> str:
        return self.path(relative).read_text()

    def write(self, relative: str, text: str) -> Path:
        self._may_use()
        target = self.path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return target

    def edit(self, relative: str, old: str, new: str) -> Markdown:
        """Replace ``old`` (which must occur exactly once) with ``new``; show the diff."""
        before = self.read(relative)
        if before.count(old) != 1:
            raise BookToolsError(f"Expected {old!r} exactly once in {relative}, found {before.count(old)}.")
        self.write(relative, before.replace(old, new))
        return diff(before, self.read(relative), name=relative)

    def show(self, relative: str, *, language: str = "python") -> Markdown:
        """A file of the project, as a highlighted block titled with its path."""
        return Markdown(f"`{relative}`\n\n```{language}\n{self.read(relative).rstrip()}\n```")

    def listing(self, relative: str = ".") -> str:
        """The files under ``relative``, sorted, one per line (no caches)."""
        base = self.path(relative)
        names = sorted(
            str(p.relative_to(base)) for p in base.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        )
        return "\n".join(names)

    def run(self, *args: str, check: bool = True, echo: bool = True) -> CommandResult:
        """Run a command here; see ``run_command``."""
        return run_command(args, cwd=self.root, env=self.environ(), check=check, echo=echo)

    def alembic(self, *args: str, check: bool = True, echo: bool = True) -> CommandResult:
        return self.run("alembic", *args, check=check, echo=echo)


def command_environ(env: Mapping[str, str]) -> dict[str, str]:
    """The environment commands run with: ``env`` as plain text, unbuffered."""
    return {
        **{name: value for name, value in env.items() if name not in (*COLOUR_FORCING, *CI_MARKERS)},
        # Unbuffered, a Python child's stdout and stderr interleave in the order they were written.
        "PYTHONUNBUFFERED": "1",
        # Plain text whoever starts us: ipykernel forces colours on child processes,
        # and Python 3.13 colours its own tracebacks.
        "NO_COLOR": "1",
        "PYTHON_COLORS": "0",
    }


def run_command(
    args: Sequence[str], *, cwd: Path, env: dict[str, str], check: bool = True, echo: bool = True,
    preload: Sequence[str] = forkserver.PRELOADED,
) -> CommandResult:
    """Run a command, print ``$ command`` and its trimmed output, and return both.

    ``alembic`` and ``python`` run with this notebook's interpreter; ``alembic`` (``python -m
    alembic``), ``python -m pytest`` and ``python script.py`` forked from a server that has
    imported ``preload`` (``booktools.forkserver`` says which scripts are not). With
    ``check``, a non-zero exit raises ``CommandFailed``, which a notebook shows
    as the command's own (trimmed) traceback.
    """
    command = shlex.join(args)
    environ = command_environ(env)
    try:
        if args[0] in ("alembic", "python"):
            arguments = ["-m", "alembic", *args[1:]] if args[0] == "alembic" else list(args[1:])
            completed = forkserver.run_python(arguments, cwd=str(cwd), environ=environ, timeout=COMMAND_TIMEOUT_S,
                                              preload=preload)
        else:
            process = subprocess.run(
                args, cwd=cwd, env=environ, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, check=False, timeout=COMMAND_TIMEOUT_S,
            )
            completed = forkserver.Completed(process.returncode, process.stdout)
    except (subprocess.TimeoutExpired, forkserver.CommandTimeout) as error:
        raise BookToolsError(
            f"`{command}` was still running after {COMMAND_TIMEOUT_S} s and was stopped. "
            "Is something holding a lock on the database (another notebook mid-migration)?"
        ) from error
    lines = trim(completed.output.splitlines())
    result = CommandResult(command, completed.returncode, "\n".join(lines))
    if echo:
        print(f"$ {command}")
    if completed.returncode != 0 and check:
        raise CommandFailed(command, completed.returncode, lines)
    if echo and result.output:
        print(result.output)
    return result


def diff(before: str, after: str, *, name: str) -> Markdown:
    """A unified diff of two versions of a file, as a highlighted block."""
    lines = difflib.unified_diff(
        before.splitlines(), after.splitlines(), f"{name} (before)", f"{name} (after)", lineterm="", n=2
    )
    return Markdown("```diff\n" + "\n".join(lines) + "\n```")
