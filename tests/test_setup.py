"""``run.sh`` installs the same set of packages whichever installer it used (uv or pip), and
says why when it cannot.

The virtualenv running these tests holds exactly what ``requirements.txt`` resolves to: its
pins, their dependencies and nothing else (pip itself aside, which only a pip-made ``.venv``
has), at the versions pip resolves the same file to. ``requirements-learner.txt``, which it
includes (what ``bash run.sh workshop`` installs), resolves to a part of that set, at the same
versions, and holds every package the chapters import.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
from importlib.metadata import Distribution, distributions, packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from booktools import installer
from booktools.requirements import LAB_TEST_AND_BOOK_TOOLS, PIN, lines, pins

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements.txt"
LEARNER_REQUIREMENTS = ROOT / "requirements-learner.txt"
INSTALLERS = frozenset({"pip"})
"""What an installer leaves in the virtualenv it made, beyond what the pins ask for."""
BOOK_BUILD_ONLY = frozenset({"paste_box.py"})
"""booktools modules that only the book build imports (a Sphinx extension), never a chapter."""


def installed() -> dict[str, Distribution]:
    return {canonicalize_name(found.metadata["Name"]): found for found in distributions()}


def top_level(requirements: Path = REQUIREMENTS) -> list[Requirement]:
    """A requirements file's lines (its ``-r`` included) as requirements, ``-e .`` as the package it installs."""
    return [Requirement("booktools" if line == "-e ." else line) for line in lines(requirements)]


def resolved_closure(present: dict[str, Distribution], requirements: Path = REQUIREMENTS) -> dict[str, set[str]]:
    """Each package the pins need, directly or not, with the extras asked of it, from installed metadata."""
    needed: dict[str, set[str]] = {}
    pending = top_level(requirements)
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in needed and set(requirement.extras) <= needed[name]:
            continue
        extras = needed.setdefault(name, set())
        extras.update(requirement.extras)
        if name not in present:
            continue
        for line in present[name].requires or []:
            dependency = Requirement(line)
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": extra})
                                                for extra in ["", *extras]):
                pending.append(dependency)
    return needed


def test_the_installed_set_is_exactly_what_the_pins_need() -> None:
    """Every pin at its version, every dependency present and within its range, nothing else installed."""
    present = installed()
    for name, version in pins(REQUIREMENTS).items():
        assert present[canonicalize_name(name)].version == version, name
    needed = resolved_closure(present)
    missing = sorted(set(needed) - set(present))
    extra = sorted(set(present) - set(needed) - INSTALLERS)
    assert not missing, f"required but not installed: {missing}"
    assert not extra, f"installed but not required by requirements.txt: {extra}"
    for found in present.values():
        for line in found.requires or []:
            dependency = Requirement(line)
            name = canonicalize_name(dependency.name)
            if name in present and (dependency.marker is None or dependency.marker.evaluate({"extra": ""})):
                assert dependency.specifier.contains(present[name].version, prereleases=True), (
                    f"{found.metadata['Name']} needs {dependency}, installed {present[name].version}")


def test_every_pin_the_learner_set_leaves_out_is_optional_for_the_chapters() -> None:
    """The setup check, in a learner's ``.venv``, calls these "needed only for bash run.sh test / book"."""
    learner = pins(LEARNER_REQUIREMENTS)
    left_out = set(pins(REQUIREMENTS)) - set(learner)
    assert left_out <= LAB_TEST_AND_BOOK_TOOLS, sorted(left_out - LAB_TEST_AND_BOOK_TOOLS)
    assert all(learner[name] == version for name, version in pins(REQUIREMENTS).items() if name in learner)
    assert "-r requirements-learner.txt" in REQUIREMENTS.read_text().splitlines()


def imported_names(source: str) -> set[str]:
    """Top-level names of the modules a piece of code imports, writes into files it runs, or names as an
    Alembic post-write hook (``ruff.module = ruff``)."""
    names = {name.split(".")[0] for name in re.findall(r"^\s*(?:from|import)\s+([\w.]+)", source, re.MULTILINE)}
    names.update(re.findall(r"\b\w+\.module = (\w+)", source))
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a notebook cell with IPython magics: the pattern above has read it
        return names
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_learner_set_holds_every_package_the_chapters_import() -> None:
    """Each module a chapter or booktools imports (or writes into a scratch project) comes with the learner set."""
    sources = [
        "".join(cell["source"]) for path in sorted((ROOT / "notebooks").glob("*.ipynb"))
        for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"
    ] + [
        path.read_text() for path in sorted((ROOT / "src" / "booktools").rglob("*.py"))
        if path.name not in BOOK_BUILD_ONLY
    ]
    providers = packages_distributions()
    learner = set(resolved_closure(installed(), LEARNER_REQUIREMENTS))
    # Modules of the standard library and of the chapters' scratch projects (app, models, ...)
    # come from no distribution.
    needed = {name: {canonicalize_name(dist) for dist in providers[name]}
              for source in sources for name in imported_names(source) if name in providers}
    missing = {name: sorted(dists) for name, dists in needed.items() if not dists & learner}
    assert not missing, f"imported by a chapter, not in requirements-learner.txt's closure: {missing}"
    assert {"sqlalchemy", "alembic", "pytest", "booktools"} <= set(needed), "the scan found too little"


def base_pip() -> list[str]:
    """pip of the interpreter the virtualenv was made from (a uv-made ``.venv`` has none of its own)."""
    base = getattr(sys, "_base_executable", sys.executable)
    if subprocess.run([base, "-m", "pip", "--version"], capture_output=True, check=False).returncode != 0:
        pytest.skip(f"{base} has no pip to compare with")
    return [base, "-m", "pip"]


def resolved_by_pip(requirements: Path) -> dict[str, str]:
    """What pip would install into an empty virtualenv: a dry run, about 40 s."""
    completed = subprocess.run(
        [*base_pip(), "install", "--dry-run", "--ignore-installed", "--quiet", "--report", "-",
         "--disable-pip-version-check", "-r", str(requirements)],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(completed.stdout)
    return {canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"] for item in report["install"]}


@pytest.mark.slow
def test_pip_resolves_the_pins_to_the_installed_versions() -> None:
    """What pip resolves requirements.txt to is what is installed."""
    by_pip = resolved_by_pip(REQUIREMENTS)
    here: dict[str, str] = {name: found.version for name, found in installed().items() if name not in INSTALLERS}
    differing = {name: (by_pip.get(name), here.get(name)) for name in by_pip.keys() | here.keys()
                 if by_pip.get(name) != here.get(name)}
    assert not differing, f"package: (pip's resolution, installed): {differing}"


def resolved_by_uv(requirements: Path) -> dict[str, str]:
    """What uv resolves a requirements file to, for this interpreter (a second; pip takes 20 to 50 s here)."""
    linked = ROOT / ".venv" / "bin" / "uv"
    uv = str(linked) if linked.exists() else shutil.which("uv")
    if uv is None:
        pytest.skip("no uv (this .venv was set up with pip): pip's resolution of the whole set is tested")
    completed = subprocess.run(
        [uv, "pip", "compile", "--quiet", "--no-header", "--no-annotate", "--python", sys.executable,
         str(requirements)],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return {canonicalize_name(pin["name"]): pin["version"]
            for pin in map(PIN.match, completed.stdout.splitlines()) if pin}


def test_the_learner_pins_resolve_to_a_part_of_the_installed_set() -> None:
    """A learner's ``.venv`` (``bash run.sh workshop``) holds the same versions as the book's, only fewer
    packages: uv, which sets it up, resolves the learner set so (that pip resolves as uv does is tested
    on the whole set, above)."""
    by_uv = resolved_by_uv(LEARNER_REQUIREMENTS)
    here: dict[str, str] = {name: found.version for name, found in installed().items()}
    differing = {name: (version, here.get(name)) for name, version in by_uv.items() if here.get(name) != version}
    assert not differing, f"package: (uv's resolution of the learner set, installed): {differing}"
    assert len(by_uv) > 100, "the resolution found too little"
    assert {"playwright", "jupyter-book", "mypy"}.isdisjoint(by_uv), "the learner set holds the book's tools"


def terminal(printed: str) -> str:
    """What a terminal shows of ``printed``: a carriage return sends the cursor back to the line's start."""
    shown = []
    for line in printed.split("\n"):
        screen = ""
        for part in line.split("\r"):
            screen = part + screen[len(part):]
        shown.append(screen)
    return "\n".join(shown)


def test_run_sh_with_windows_line_endings_fails_as_the_instructor_notes_quote(tmp_path: Path) -> None:
    """A CRLF ``run.sh`` stops at its ``set -euo pipefail``; the notes quote bash's line, as a terminal shows it."""
    crlf = tmp_path / "run.sh"
    crlf.write_bytes((ROOT / "run.sh").read_bytes().replace(b"\n", b"\r\n"))
    # Bytes: text mode would turn the carriage return into a newline.
    completed = subprocess.run(["bash", str(crlf), "doctor"], cwd=tmp_path, capture_output=True, check=False,
                               timeout=60)
    line = next(number for number, text in enumerate((ROOT / "run.sh").read_text().splitlines(), 1)
                if text.startswith("set -euo pipefail"))
    printed = completed.stderr.decode()
    assert completed.returncode == 2 and completed.stdout == b""
    assert printed == f"{crlf}: line {line}: set: pipefail\r: invalid option name\n"
    notes = (ROOT / "book" / "instructor-notes.md").read_text()
    assert f"`{terminal(printed.replace(str(crlf), 'run.sh')).strip()}`" in notes
    assert f"`run.sh: line {line}: set: pipefail^M: invalid option name`" in notes


def learner_machine(tmp_path: Path, proxy: str) -> dict[str, str]:
    """A learner's environment behind ``proxy``: no pip configuration, empty caches, no uv of ours on ``PATH``."""
    environ = {name: value for name, value in os.environ.items()
               if not name.startswith(("PIP_", "UV_", "BOOKTOOLS_", "VIRTUAL_ENV"))
               and not name.lower().endswith("_proxy")}
    for cache in ("xdg", "uv", "pip"):
        (tmp_path / cache).mkdir()
    path = [folder for folder in environ["PATH"].split(os.pathsep) if not (Path(folder) / "uv").exists()]
    return environ | {
        "PATH": os.pathsep.join(path), "PYTHON": getattr(sys, "_base_executable", sys.executable),
        "PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1",
        "XDG_CACHE_HOME": str(tmp_path / "xdg"), "UV_CACHE_DIR": str(tmp_path / "uv"),
        "PIP_CACHE_DIR": str(tmp_path / "pip"), "HTTPS_PROXY": proxy,
        "VENV": str(tmp_path / "venv"),
    }


PROXY_REFUSES = ("run.sh: cannot reach the package index through the proxy set in HTTPS_PROXY "
                 "(it refuses or does not answer).")
"""What ``run.sh`` says when the proxy refuses, whichever installer it uses (the instructor notes quote it)."""


@pytest.mark.parametrize("way", ["pip", "uv installed with pip", "uv on PATH"])
def test_a_proxy_that_refuses_gets_one_clear_line_within_seconds(way: str, tmp_path: Path) -> None:
    """Port 9 (discard) has no proxy: every installer path stops with the same line, not pip's retries for minutes."""
    environ = learner_machine(tmp_path, "http://127.0.0.1:9")
    if way == "pip":
        environ["BOOKTOOLS_INSTALLER"] = "pip"
    elif way == "uv on PATH":
        found = installer.uv() or pytest.skip("no uv here to put on PATH")
        (tmp_path / "bin").mkdir()
        (tmp_path / "bin" / "uv").symlink_to(found)
        environ["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{environ['PATH']}"
    started = time.monotonic()
    completed = subprocess.run(["bash", str(ROOT / "run.sh"), "setup"], env=environ, capture_output=True, text=True,
                               check=False, timeout=120)
    elapsed = time.monotonic() - started
    said = completed.stderr.splitlines()
    assert completed.returncode == 1, completed.stderr
    assert PROXY_REFUSES in said, completed.stderr
    assert said[-1].startswith("run.sh: set the proxy this network needs"), completed.stderr
    assert not any("could not install" in line or "using pip instead" in line for line in said), completed.stderr
    assert elapsed < 30, f"{elapsed:.0f} s before run.sh gave up"
    assert f"`{PROXY_REFUSES}`" in (ROOT / "book" / "instructor-notes.md").read_text()


def test_setup_installs_the_pins_again_into_a_venv_whose_packages_left_them(tmp_path: Path) -> None:
    """What the setup check's ✘ hint promises: after a `%pip install -U`, `bash run.sh setup` puts the pins back."""
    uv = ROOT / ".venv" / "bin" / "uv"
    if not uv.exists():
        pytest.skip("this .venv was set up with pip: a second one would take a minute (uv makes it in seconds)")
    environ = {**os.environ, "VENV": str(tmp_path / "venv")}
    setup = ["bash", str(ROOT / "run.sh"), "setup"]
    subprocess.run(setup, env=environ, capture_output=True, text=True, check=True, timeout=300)
    python = tmp_path / "venv" / "bin" / "python"
    pinned = pins(REQUIREMENTS)["types-psutil"]
    subprocess.run([str(uv), "pip", "install", "--quiet", "--python", str(python), "types-psutil==6.0.0.20240621"],
                   check=True, timeout=120)
    completed = subprocess.run(setup, env=environ, capture_output=True, text=True, check=False, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert f"run.sh: {tmp_path / 'venv'} differs from requirements.txt: types-psutil 6.0.0.20240621 (pinned {pinned})" \
        in completed.stderr.splitlines()
    again = subprocess.run([str(python), "-m", "booktools.requirements", str(REQUIREMENTS)],
                           capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stdout
