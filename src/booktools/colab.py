"""On Google Colab, install what the chapters import: ``python colab.py BOOK_FOLDER``.

Each notebook's first cell runs this there, and only there (Colab starts from a bare
runtime with nothing but the notebook). It runs before booktools is installed, so it
imports only the standard library and ``booktools.requirements`` from beside it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from booktools.requirements import for_the_chapters  # noqa: E402  (needs the line above)


def main() -> None:
    book = Path(sys.argv[1])
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *for_the_chapters(book / "requirements.txt")],
                   cwd=book, check=True)


if __name__ == "__main__":
    main()
