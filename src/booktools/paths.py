"""Where the helper keeps files: private folders under ``$TMPDIR``, scratch projects, locks, owner-only files.

Nothing here is in the checkout: the embedded servers, their template cluster and the
scratch projects live under the system's temporary folder, per account.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from booktools.errors import BookToolsError

SCRATCH_ENV = "BOOKTOOLS_SCRATCH"
"""Where scratch projects go instead of the per-account default: a test run sets it to a folder of its own
(removed at the end); ``run.sh workshop`` to ``_build/learner/scratch``, inside the folder JupyterLab serves."""


def private_folder(name: str) -> Path:
    """``$TMPDIR/name``, made if missing, and refused unless it is our own real folder.

    Another account that made it first (a shared /tmp) could otherwise swap in
    files that we would run.
    """
    folder = Path(tempfile.gettempdir()) / name
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise BookToolsError(
            f"{folder} is not a folder of this account's own; remove it or set TMPDIR elsewhere."
        )
    return folder


def runtime_root() -> Path:
    """Where embedded servers keep their files: per user, outside the project.

    Under root this must be traversable by the unprivileged account that runs
    PostgreSQL, which may not enter a 0700 home or checkout.
    """
    root = private_folder(f"booktools-pg-{os.geteuid()}")
    root.chmod(0o711)
    return root


def scratch_parent() -> Path:
    """Where every scratch project gets a folder of its own (only computed: tracebacks call this per frame)."""
    return Path(os.environ.get(SCRATCH_ENV) or Path(tempfile.gettempdir()) / f"booktools-scratch-{os.geteuid()}")


def new_scratch_folder(prefix: str, *, hidden: bool = False) -> Path:
    """A new, empty folder under ``scratch_parent()``; ``hidden``: its name starts with a dot.

    A test run's parent (``SCRATCH_ENV``) is made by the run; the per-account
    default is made here, as a private folder. JupyterLab's file browser does not
    list a hidden folder.
    """
    parent = scratch_parent()
    if SCRATCH_ENV not in os.environ:
        private_folder(parent.name)
    return Path(tempfile.mkdtemp(prefix=f".{prefix}" if hidden else prefix, dir=parent))


def learners_scratch() -> bool:
    """Whether scratch projects are the learner's: ``SCRATCH_ENV`` names a folder inside the current one.

    ``bash run.sh workshop`` sets it to ``_build/learner/scratch``, and JupyterLab runs each
    kernel in the notebook's folder, ``_build/learner``: the file browser shows the projects
    and the learner edits their files there. A test run's scratch folder and the per-account
    default are outside the folder the notebooks run in.
    """
    value = os.environ.get(SCRATCH_ENV)
    if not value:
        return False
    try:
        Path(value).resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return False
    return True


KEPT_FOLDER = ".kept"
"""Under the learner's scratch folder, hidden: each chapter's files kept for the learner (``booktools.learner``)."""


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (made if missing): one process at a time, across processes."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` in one step with ``text``, readable by this account only (0600).

    Readers never see half a file, and the file is never readable by others,
    not even for a moment (it is created 0600, not chmod-ed afterwards).
    """
    staging = path.with_name(path.name + ".tmp")
    staging.unlink(missing_ok=True)
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.replace(staging, path)
