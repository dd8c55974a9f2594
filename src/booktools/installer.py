"""Installing packages from inside the book's virtualenv, which may have no pip.

``run.sh`` sets ``.venv`` up with uv when it can (``uv venv`` puts no pip in it) and links the
uv it used into the virtualenv's ``bin/``. The side environments (``sandboxes.py``) and the
tests' bare kernel install with that uv, else with a uv on ``PATH``, else with this
interpreter's pip: whichever exists, the same pins.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import sysconfig
from pathlib import Path

from booktools.errors import BookToolsError


def uv() -> str | None:
    """The uv ``run.sh`` linked into this virtualenv, else one on ``PATH``."""
    linked = Path(sysconfig.get_path("scripts")) / "uv"
    if linked.is_file() and os.access(linked, os.X_OK):
        return str(linked)
    return shutil.which("uv")


def pip_install(*, python: str = sys.executable) -> list[str]:
    """The command that installs into ``python``'s environment (or ``--target``): append its arguments."""
    found = uv()
    if found is not None:
        return [found, "pip", "install", "--quiet", "--python", python]
    if importlib.util.find_spec("pip") is None:
        raise BookToolsError(
            f"Neither uv nor pip is available to {sys.executable}: run `bash run.sh setup` (it links uv "
            "into .venv), or install pip into this environment (python -m ensurepip)."
        )
    elsewhere = [] if python == sys.executable else ["--python", python]
    return [sys.executable, "-m", "pip", *elsewhere, "install", "--quiet", "--disable-pip-version-check"]
