#!/usr/bin/env bash
# The book's one entry point. Each command first sets up .venv (once, and
# again whenever requirements.txt changes).
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

setup() {
    if [ ! -x "$python" ]; then
        python3 -m venv "$venv"
    fi
    local stamp="$venv/.requirements.sha256"
    local wanted
    wanted="$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        "$python" -m pip install --quiet --upgrade pip
        "$python" -m pip install --quiet -r requirements.txt
        echo "$wanted" >"$stamp"
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
