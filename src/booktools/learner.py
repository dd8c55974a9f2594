"""The learner's files: what a learner edits in a chapter's project survives the chapter's next run.

Where the learner works (``bash run.sh workshop``: scratch projects inside JupyterLab's
folder, ``paths.learners_scratch()``), a chapter's project is always the same folder,
``scratch/<chapter>``. Each run of the chapter (*Run All*, *Restart & Run All*) empties it and
builds it again, but the files the chapter handed to the learner (``book.file_link``) are
held aside meanwhile, in ``scratch/.kept/<chapter>/``, and handed back when the chapter links
them again: at the same path, with the same content and modification time, so that an open
JupyterLab editor tab stays on the file and does not report it as changed on disk. A learner
who wants the generated file back deletes theirs and runs the chapter again.

Until the exercise's check has passed with the learner's version of those files
(``check_env_py`` calls ``passed``), the project runs no command and changes no file
(``require_checked``): a learner who runs the cells after a failing check gets one line
saying so, and the project, their file included, stays as it was.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from booktools.errors import BookToolsError
from booktools.paths import KEPT_FOLDER, scratch_parent

HANDED_OUT = "handed-out"
"""The file, in a chapter's ``.kept/`` folder, listing the project's files the learner was given (one per line)."""


class NotChecked(BookToolsError):
    """A cell after an exercise ran before the exercise's check passed; shown as its message alone."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


class LearnerFiles:
    """The files of one chapter's project that belong to the learner, and whether they passed the check."""

    def __init__(self, root: Path, state: Path) -> None:
        self.root = root
        self.state = state
        self.given: list[str] = []
        """Handed to the learner in this run, in order."""
        self.passed_as: dict[str, str | None] = {}

    @classmethod
    def start(cls, name: str) -> LearnerFiles:
        """Empty ``scratch/<name>`` for a new run, after holding the learner's files aside."""
        learner = cls(scratch_parent() / name, scratch_parent() / KEPT_FOLDER / name)
        for relative in learner.handed_out():
            source, held = learner.root / relative, learner.held(relative)
            # A file still held was not handed back (the last run stopped before its link):
            # it is the learner's; what that run generated in its place is not.
            if source.is_file() and not held.exists():
                held.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, held)  # a rename: content, inode and modification time unchanged
        shutil.rmtree(learner.root, ignore_errors=True)
        learner.root.mkdir(parents=True)
        return learner

    def handed_out(self) -> list[str]:
        listing = self.state / HANDED_OUT
        return listing.read_text().splitlines() if listing.is_file() else []

    def held(self, relative: str) -> Path:
        return self.state / "held" / relative

    def hand_out(self, relative: str) -> str | None:
        """Give the learner ``relative``: their own version if one is held. Returns a note if it differs."""
        if relative not in self.handed_out():
            self.state.mkdir(parents=True, exist_ok=True)
            (self.state / HANDED_OUT).write_text("".join(f"{name}\n" for name in [*self.handed_out(), relative]))
        if relative not in self.given:
            self.given.append(relative)
        target, held = self.root / relative, self.held(relative)
        if not held.is_file():
            return None
        generated = target.read_bytes() if target.is_file() else None
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(held, target)
        if target.read_bytes() == generated:
            return None
        return (f"This is your `{relative}`, kept from before; to start again from the generated one, "
                "delete it and run the notebook again.")

    def passed(self) -> None:
        """The exercise's check passed with the learner's files as they are now."""
        self.passed_as = {relative: _digest(self.root / relative) for relative in self.given}

    def require_checked(self) -> None:
        """Raise ``NotChecked`` unless every file given to the learner is as it was when the check passed."""
        for relative in self.given:
            if relative not in self.passed_as:
                raise NotChecked(
                    f"Not yet: your {relative} has not passed the exercise's check. Run the check cell above "
                    "until it says ✔ Right; the cells from here on use your file."
                )
            if _digest(self.root / relative) != self.passed_as[relative]:
                raise NotChecked(
                    f"Your {relative} changed after it passed the exercise's check: run the check cell "
                    "above again; the cells from here on use your file."
                )
