"""``run.sh`` installs the same set of packages whichever installer it used (uv or pip).

The virtualenv running these tests holds exactly what ``requirements.txt`` resolves to: its
pins, their dependencies and nothing else (pip itself aside, which only a pip-made ``.venv``
has), at the versions pip resolves the same file to.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import Distribution, distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from booktools.requirements import pins

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements.txt"
INSTALLERS = frozenset({"pip"})
"""What an installer leaves in the virtualenv it made, beyond what the pins ask for."""


def installed() -> dict[str, Distribution]:
    return {canonicalize_name(found.metadata["Name"]): found for found in distributions()}


def top_level() -> list[Requirement]:
    """``requirements.txt``'s lines as requirements, ``-e .`` as the package it installs."""
    lines = [line.split("#")[0].strip() for line in REQUIREMENTS.read_text().splitlines()]
    return [Requirement("booktools" if line == "-e ." else line) for line in lines if line]


def resolved_closure(present: dict[str, Distribution]) -> dict[str, set[str]]:
    """Each package the pins need, directly or not, with the extras asked of it, from installed metadata."""
    needed: dict[str, set[str]] = {}
    pending = top_level()
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


def base_pip() -> list[str]:
    """pip of the interpreter the virtualenv was made from (a uv-made ``.venv`` has none of its own)."""
    base = getattr(sys, "_base_executable", sys.executable)
    if subprocess.run([base, "-m", "pip", "--version"], capture_output=True, check=False).returncode != 0:
        pytest.skip(f"{base} has no pip to compare with")
    return [base, "-m", "pip"]


@pytest.mark.slow
def test_pip_resolves_the_pins_to_the_installed_versions() -> None:
    """What pip would install into an empty virtualenv (a dry run, about 40 s) is what is installed."""
    completed = subprocess.run(
        [*base_pip(), "install", "--dry-run", "--ignore-installed", "--quiet", "--report", "-",
         "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(completed.stdout)
    by_pip: dict[str, str] = {canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
                              for item in report["install"]}
    here: dict[str, str] = {name: found.version for name, found in installed().items() if name not in INSTALLERS}
    differing = {name: (by_pip.get(name), here.get(name)) for name in by_pip.keys() | here.keys()
                 if by_pip.get(name) != here.get(name)}
    assert not differing, f"package: (pip's resolution, installed): {differing}"
