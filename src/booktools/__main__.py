"""``python -m booktools``: manage the embedded PostgreSQL notebooks share; make a student edition."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from booktools.errors import BookToolsError
from booktools.postgres import get_server, interactive_instance


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m booktools", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("start", help="start (or reuse) the server notebooks use; print where it listens")
    commands.add_parser("status", help="say whether the notebooks' embedded server is running")
    commands.add_parser("stop", help="stop the notebooks' embedded server")
    student = commands.add_parser("student-edition", help="copy the committed book without the solutions")
    student.add_argument("destination", type=Path)
    commands.add_parser("preamble", help="write every notebook's first cell from _config.yml's repository.url")
    commands.add_parser("strip-timestamps", help="remove the per-cell execution timestamps JupyterLab stores")
    arguments = parser.parse_args(argv)
    if arguments.command in ("preamble", "strip-timestamps"):
        return _maintain_notebooks(arguments.command)
    if arguments.command == "student-edition":
        from booktools import student_edition

        try:
            stripped = student_edition.make(arguments.destination)
        except subprocess.CalledProcessError as error:
            print(f"error: could not export the book (needs a git checkout with a commit): {error}",
                  file=sys.stderr)
            return 1
        except BookToolsError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"{len(stripped)} notebooks without solutions in {arguments.destination}")
        return 0
    instance = interactive_instance()
    try:
        if arguments.command == "start":
            server = get_server()
            kind = "embedded" if server.embedded else "DATABASE_URL"
            print(f"PostgreSQL ({kind}) is listening on {server.host}:{server.port}")
        elif arguments.command == "status":
            running = instance.attach()
            print(f"embedded PostgreSQL: running on {running.host}:{running.port}" if running
                  else "embedded PostgreSQL: not running")
        else:
            print("embedded PostgreSQL: stopped" if instance.stop() else "embedded PostgreSQL: was not running")
    except BookToolsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _maintain_notebooks(command: str) -> int:
    from booktools import notebook_files

    try:
        source = notebook_files.preamble() if command == "preamble" else ""
        changed = [
            path.name
            for path in notebook_files.notebooks()
            if (notebook_files.write_preamble(path, source) if command == "preamble"
                else notebook_files.strip_timestamps(path))
        ]
    except BookToolsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{command}: {len(changed)} notebook(s) changed" + (": " + ", ".join(changed) if changed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
