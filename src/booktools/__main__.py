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
    arguments = parser.parse_args(argv)
    if arguments.command == "student-edition":
        from booktools import student_edition

        try:
            stripped = student_edition.make(arguments.destination)
        except (subprocess.CalledProcessError, BookToolsError) as error:
            print(f"error: could not export the book (needs a git checkout with a commit): {error}",
                  file=sys.stderr)
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


if __name__ == "__main__":
    sys.exit(main())
