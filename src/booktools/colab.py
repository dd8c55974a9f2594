"""On Google Colab, install what the chapters import: ``python colab.py BOOK_FOLDER``.

Each notebook's first cell runs this there, and only there (Colab starts from a bare
runtime with nothing but the notebook). It runs before booktools is importable, so it
uses the standard library alone. The JupyterLab, test and book-building pins are
skipped: Colab pins its own ipykernel and IPython, and replacing them breaks its runtime.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

NOT_ON_COLAB = ("jupyterlab", "ipykernel", "pytest", "nbval", "jupyter-book", "sphinx-exercise")


def pins(requirements: Path) -> list[str]:
    """The requirement lines Colab needs, ``-e .`` included."""
    wanted = []
    for line in requirements.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and not line.startswith(NOT_ON_COLAB):
            wanted.extend(line.split())
    return wanted


def main() -> None:
    book = Path(sys.argv[1])
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *pins(book / "requirements.txt")],
                   cwd=book, check=True)


if __name__ == "__main__":
    main()
