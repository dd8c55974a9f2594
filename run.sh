#!/usr/bin/env bash
# The book's one entry point. Each command first sets up .venv (once, and
# again whenever requirements.txt changes, or when .venv is broken).
# PYTHON=/path/to/python3.X picks the interpreter (default: python3, 3.11 or newer).
#
#   bash run.sh lab     open the notebooks in JupyterLab (embedded PostgreSQL starts on first use)
#   bash run.sh book    build the HTML book into _build/html
#   bash run.sh test    run every test: each notebook re-executed by nbval, then tests/
#   bash run.sh stop    stop the embedded PostgreSQL that notebooks share
#   bash run.sh student build a student edition (no solutions) into _build/student/_build/html
#   bash run.sh setup   only set up .venv
set -euo pipefail
cd "$(dirname "$0")"

venv="${VENV:-.venv}"
python="$venv/bin/python"
# PYTHON=/path/to/python picks the interpreter; otherwise python3 from PATH.
wanted_python="${PYTHON:-python3}"

say() { echo "run.sh: $*" >&2; }

# "3.12.1" from an interpreter that starts, or nothing.
version_of() { "$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null || true; }
new_enough() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

# A .venv is reused only if it runs, has pip, is Python 3.11+, and (when PYTHON is given)
# is that interpreter's version; anything else is removed and built again.
venv_is_usable() {
    [ -x "$python" ] && new_enough "$python" && "$python" -m pip --version >/dev/null 2>&1 || return 1
    [ -z "${PYTHON:-}" ] || [ "$(version_of "$python")" = "$(version_of "$wanted_python")" ]
}

make_venv() {
    local found
    found="$(version_of "$wanted_python")"
    if [ -z "$found" ]; then
        say "cannot run '$wanted_python'; the book needs Python 3.11 or newer: install it, or point PYTHON=/path/to/python3.11 at one"
        exit 1
    fi
    if ! new_enough "$wanted_python"; then
        say "found Python $found ($(command -v "$wanted_python" || echo "$wanted_python")); the book needs 3.11 or newer (SQLAlchemy 2.1 does)."
        say "install one, then: PYTHON=/path/to/python3.11 bash run.sh ${command:-setup}"
        exit 1
    fi
    say "creating $venv with Python $found ($(command -v "$wanted_python" || echo "$wanted_python"))"
    rm -rf "$venv"
    if ! "$wanted_python" -m venv "$venv"; then
        rm -rf "$venv"
        say "Python $found cannot create a virtualenv. On Debian/Ubuntu: sudo apt install python3-venv"
        say "(or python3.X-venv for your version), then run this command again."
        exit 1
    fi
}

setup() {
    if ! venv_is_usable; then
        if [ -e "$venv" ]; then say "$venv is broken, has no pip, or is another Python than asked for: rebuilding it"; fi
        make_venv
    fi
    say "Python $(version_of "$python") in $venv"
    local stamp="$venv/.requirements.sha256"
    local wanted
    wanted="$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        say "installing the pinned packages from requirements.txt (first time: a minute or two, about 550 MB)"
        "$python" -m pip install --quiet --upgrade pip
        # One line per package as it comes, and pip's errors; its own exit status decides.
        # (pipefail: pip's failure fails the pipeline; the filter itself never does.)
        if ! "$python" -m pip install -r requirements.txt 2>&1 \
            | { grep --line-buffered -E '^(Collecting|Installing collected|Successfully installed|ERROR)' || true; }; then
            say "pip could not install requirements.txt (see above)"
            exit 1
        fi
        echo "$wanted" >"$stamp"
        say "packages installed"
    fi
}

command="${1:-}"
shift || true
case "$command" in
    lab)
        setup
        # In a container you are often root; JupyterLab refuses that unless told.
        if [ "$(id -u)" = 0 ]; then set -- --allow-root "$@"; fi
        exec "$venv/bin/jupyter" lab notebooks/ "$@"
        ;;
    book)
        setup
        "$venv/bin/jupyter-book" build -W -n --keep-going . "$@"
        echo "Open _build/html/index.html"
        ;;
    test)
        setup
        # The code first (configured in pyproject.toml): seconds, and clearer than a failing cell.
        "$venv/bin/ruff" check .
        "$venv/bin/mypy"
        "$python" -m pytest -n 2 --dist loadscope "$@"
        ;;
    stop)
        setup
        "$python" -m booktools stop
        ;;
    student)
        setup
        rm -rf _build/student
        "$python" -m booktools student-edition _build/student
        "$venv/bin/jupyter-book" build -W -n --keep-going _build/student "$@"
        echo "Open _build/student/_build/html/index.html"
        ;;
    setup)
        setup
        ;;
    *)
        sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
