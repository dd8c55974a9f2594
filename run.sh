#!/usr/bin/env bash
# The book's one entry point. Each command first sets up .venv (once, and again when the pins
# change or .venv is broken): lab, workshop, stop from requirements-learner.txt, others all of requirements.txt.
# PYTHON=/path/to/python3.X picks the interpreter (default: python3, 3.11 or newer).
#
#   bash run.sh lab     open the notebooks in JupyterLab (embedded PostgreSQL starts on first use)
#   bash run.sh book    build the HTML book into _build/html
#   bash run.sh test    run every test: each notebook re-executed by nbval, then tests/
#   bash run.sh stop    stop the embedded PostgreSQL that notebooks share
#   bash run.sh student build a student edition (no solutions) into _build/student/_build/html
#   bash run.sh workshop  write the learner notebooks (exercises, no solutions) into _build/learner
#                       and open JupyterLab on them; --build-only: only write them; --no-browser
#   bash run.sh doctor  print one line about this machine (sets nothing up), to paste to a helper
#   bash run.sh bench   measure, each goal pass/fail: setup, clone → chapter 1, chapters, .ci/run (--quick)
#   bash run.sh setup   only set up .venv (with uv when it can), or put back its pins if packages left them
set -euo pipefail
cd "$(dirname "$0")"

# uv, unlike pip, compiles no bytecode as it installs: Python writes it as each module is first
# imported, unless PYTHONDONTWRITEBYTECODE (often set in containers) forbids that; then every
# process compiles all it imports again (SQLAlchemy and Alembic: 2.2 s instead of 0.7 s, chapter
# 12: 21 s instead of 10). Compiling all of .venv as it is set up (uv --compile-bytecode) took
# 9 to 30 s here; the book's own commands caching what they import costs nothing.
unset PYTHONDONTWRITEBYTECODE

venv="${VENV:-.venv}"
python="$venv/bin/python"
# PYTHON=/path/to/python picks the interpreter; otherwise python3 from PATH.
wanted_python="${PYTHON:-python3}"

say() { echo "run.sh: $*" >&2; }

# "3.12.1" from an interpreter that starts, or nothing.
version_of() { "$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null || true; }
new_enough() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

# A .venv is reused only if it runs, is Python 3.11+, and (when PYTHON is given) is that
# interpreter's version; anything else is removed and built again. It needs no pip: uv
# installs into it from outside, and so do the side environments (booktools/installer.py).
venv_is_usable() {
    [ -x "$python" ] && new_enough "$python" || return 1
    [ -z "${PYTHON:-}" ] || [ "$(version_of "$python")" = "$(version_of "$wanted_python")" ]
}

# Which requirements a command needs. "learner": what the chapters import and run, and
# JupyterLab (requirements-learner.txt: about half the size of the whole); "all":
# requirements.txt, which includes it and adds the tools of the code checks, the version matrix
# and the book build. A .venv set up with all of them serves every command.
requirements_file() { if [ "$1" = learner ]; then echo requirements-learner.txt; else echo requirements.txt; fi; }

# What the installed .venv must match, per set; "setup 3": a .venv set up before the learner
# set existed is set up anew once.
requirements_digest() {
    { echo "setup 3 $1"; cat requirements-learner.txt pyproject.toml; [ "$1" = learner ] || cat requirements.txt; } \
        | sha256sum | cut -d' ' -f1
}

# "all", "learner", or nothing: the set the .venv's stamp says is installed.
installed_set() {
    local stamp
    stamp="$(cat "$venv/.requirements.sha256" 2>/dev/null)" || return 0
    if [ "$stamp" = "$(requirements_digest all)" ]; then echo all
    elif [ "$stamp" = "$(requirements_digest learner)" ]; then echo learner; fi
}

# When an install failed because the package index could not be reached, say so in one line
# and what to do (pip alone ends in a "from versions: none" that reads like a missing release,
# after minutes of retries). Succeeds only if the log shows such a failure. A proxy is named by
# its variable, never its address, which may hold a password.
explain_unreachable_index() {
    local log="$1" proxies="" name
    for name in HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy; do
        if [ -n "${!name:-}" ]; then proxies="${proxies:+$proxies }$name"; fi
    done
    if grep -qE 'CERTIFICATE_VERIFY_FAILED|invalid peer certificate|UnknownIssuer' "$log"; then
        say "the package index's HTTPS certificate is not trusted here: a proxy or security product re-signs"
        say "HTTPS with its own CA. Ask IT for that CA's .pem file, then: PIP_CERT=/path/to/ca.pem bash run.sh ${command:-setup}"
    elif ! grep -qE 'ProxyError|tunnel error|Retrying \(Retry\(total=0|NewConnectionError|NameResolutionError|ConnectTimeoutError|ReadTimeoutError|Failed to fetch' "$log"; then
        return 1
    elif [ -n "$proxies" ] || grep -qE 'ProxyError|tunnel error' "$log"; then
        # (A proxy that does not answer at all looks like no network to uv: it names no proxy.)
        say "cannot reach the package index through the proxy ${proxies:+set in ${proxies// /, } }(it refuses or does not answer)."
        say "set the proxy this network needs (export HTTPS_PROXY=http://host:port, from IT or the browser's settings)${proxies:+, or, if it needs none: unset $proxies}; then run the same command again"
    else
        say "cannot reach the package index (pypi.org, or the one PIP_INDEX_URL names): no network, or one that needs a proxy."
        say "connect (a phone hotspot will do), or set the proxy (export HTTPS_PROXY=http://host:port); then run the same command again"
    fi
}

# Before the first download with pip: can it reach the index at all? One request, one retry,
# 10 s each, instead of pip's five retries of 15 s (minutes behind a proxy that does not
# answer) before it says "from versions: none". Stops run.sh with the reason when it cannot;
# any other failure is left to the install itself, which reports it.
check_index() {
    local log
    log="$(mktemp)"
    if ! "$1" -m pip index versions pip --retries 1 --timeout 10 --disable-pip-version-check >"$log" 2>&1 \
        && explain_unreachable_index "$log"; then
        rm -f "$log"
        exit 1
    fi
    rm -f "$log"
}

# uv installs the same pins as pip in seconds instead of a minute. Taken from PATH, else
# installed once with pip into a small environment of its own, kept per user and reused by
# every clone; BOOKTOOLS_INSTALLER=pip skips it. Sets $uv, or fails (then pip does the work).
uv_version=0.13.9
find_uv() {
    uv=""
    [ "${BOOKTOOLS_INSTALLER:-}" != pip ] || return 1
    # The real file: an activated .venv's own link to it goes when the .venv is rebuilt.
    if command -v uv >/dev/null 2>&1; then uv="$(readlink -f "$(command -v uv)")"; return 0; fi
    local tools="${XDG_CACHE_HOME:-$HOME/.cache}/booktools/uv-$uv_version"
    if ! "$tools/bin/uv" --version >/dev/null 2>&1; then
        say "installing uv $uv_version with pip into $tools (once for every clone; a few seconds)"
        rm -rf "$tools"
        if ! "$wanted_python" -m venv "$tools" >/dev/null 2>&1; then rm -rf "$tools"; return 1; fi
        check_index "$tools/bin/python"
        if ! "$tools/bin/python" -m pip install --quiet "uv==$uv_version" >/dev/null 2>&1; then
            rm -rf "$tools"
            return 1
        fi
    fi
    uv="$tools/bin/uv"
}

# uv reads no pip.conf: hand it what pip is told through the environment (a mirror, a CA),
# and never let it download a Python of its own.
uv_run() (
    if [ -z "${UV_DEFAULT_INDEX:-}" ] && [ -n "${PIP_INDEX_URL:-}" ]; then export UV_DEFAULT_INDEX="$PIP_INDEX_URL"; fi
    if [ -z "${UV_INDEX:-}" ] && [ -n "${PIP_EXTRA_INDEX_URL:-}" ]; then export UV_INDEX="$PIP_EXTRA_INDEX_URL"; fi
    if [ -z "${SSL_CERT_FILE:-}" ] && [ -n "${PIP_CERT:-}" ]; then export SSL_CERT_FILE="$PIP_CERT"; fi
    UV_PYTHON_DOWNLOADS=never exec "$uv" "$@"
)

# The interpreter PYTHON names, checked: it runs and is 3.11 or newer.
check_wanted_python() {
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
}

# A new, empty .venv: with uv when $uv is set (no pip inside), else with venv (pip inside).
make_venv() {
    local found
    found="$(version_of "$wanted_python")"
    say "creating $venv with Python $found ($(command -v "$wanted_python" || echo "$wanted_python"))"
    rm -rf "$venv"
    if [ -n "$uv" ]; then
        uv_run venv --quiet --python "$("$wanted_python" -c 'import sys; print(sys.executable)')" "$venv" && return 0
        say "uv could not create $venv (above): using venv and pip instead"
        uv=""
        rm -rf "$venv"
    fi
    if ! "$wanted_python" -m venv "$venv"; then
        rm -rf "$venv"
        say "Python $found cannot create a virtualenv. On Debian/Ubuntu: sudo apt install python3-venv"
        say "(or python3.X-venv for your version), then run this command again."
        exit 1
    fi
}

install_with_uv() {
    local file log
    file="$(requirements_file "$1")"
    log="$(mktemp)"
    say "installing the pinned packages from $file with uv ($("$uv" --version | cut -d' ' -f2), $uv)"
    # Its summary lines and errors, not one line per package.
    if ! uv_run pip install --python "$python" -r "$file" 2>&1 | tee "$log" | { grep -vE '^ [-+~] ' || true; }; then
        # No network is no better for pip: say why, rather than fail again, slower.
        if explain_unreachable_index "$log"; then rm -f "$log"; exit 1; fi
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
    # The side environments (booktools/installer.py) find it here: the .venv has no pip.
    ln -sfn "$uv" "$venv/bin/uv"
}

install_with_pip() {
    local file log
    file="$(requirements_file "$1")"
    if [ "$1" = learner ]; then
        say "installing the pinned packages from $file with pip (first time: about a minute, 420 MB)"
    else
        say "installing the pinned packages from $file with pip (first time: a minute or two, about 750 MB)"
    fi
    check_index "$python"
    "$python" -m pip install --quiet --upgrade pip
    # venv seeds an old setuptools on Python 3.11, which pip would keep: the pins resolve to a
    # newer one (sphinx-togglebutton needs it), as uv installs them.
    "$python" -m pip uninstall --quiet --yes setuptools 2>/dev/null || true
    # One line per package as it comes, and pip's errors (a build step's are indented); its own
    # exit status decides. (pipefail: pip's failure fails the pipeline; the filter never does.)
    log="$(mktemp)"
    if ! "$python" -m pip install -r "$file" 2>&1 | tee "$log" \
        | { grep --line-buffered -E '^ *(Collecting|Installing collected|Successfully installed|ERROR|WARNING: Retrying)' || true; }; then
        explain_unreachable_index "$log" || say "pip could not install $file (see above)"
        rm -f "$log"
        exit 1
    fi
    rm -f "$log"
}

# A set-up .venv whose packages left their pins (a `%pip install -U` in a kernel, a package
# removed by hand): install the pins of the set it holds ("$1") again, into the same .venv, so
# that a JupyterLab running from it keeps running (a restarted kernel then has the pins).
repin() {
    local file differing
    file="$(requirements_file "$1")"
    differing="$("$python" -m booktools.requirements "$file" 2>&1)" && return 0
    say "$venv differs from $file: ${differing:-booktools cannot be imported}"
    if [ -x "$venv/bin/uv" ]; then
        uv="$(readlink -f "$venv/bin/uv")"
        install_with_uv "$1" || { say "uv could not install the pins again (above)"; exit 1; }
    else
        install_with_pip "$1"
    fi
    say "the pins are installed again: restart any kernel that imported the others (Kernel → Restart Kernel)"
}

# Sets .venv up with the set "$1" names ("all" or "learner"), unless it holds that set or all.
setup() {
    local set="$1" stamp="$venv/.requirements.sha256" have
    have="$(installed_set)"
    # Installed, and able to install more (the side environments): a linked uv, or pip.
    if venv_is_usable && { [ "$have" = all ] || [ "$have" = "$set" ]; } \
        && { [ -x "$venv/bin/uv" ] || "$python" -m pip --version >/dev/null 2>&1; }; then
        say "Python $(version_of "$python") in $venv"
        repin "$have"
        return 0
    fi
    check_wanted_python
    if ! find_uv; then
        [ "${BOOKTOOLS_INSTALLER:-}" = pip ] \
            || say "no uv on PATH and pip could not install it: setting up with pip instead (a minute or two)"
    fi
    # Always a new .venv (seconds with uv): installing over an old one would keep what the
    # pins no longer name, and the older versions of unpinned dependencies that still fit.
    if ! venv_is_usable; then
        if [ -e "$venv" ]; then say "$venv is broken or another Python than asked for: rebuilding it"; fi
    elif [ "$have" = learner ]; then
        say "$venv holds what the chapters need; this command needs all of requirements.txt: setting $venv up anew"
    elif [ -e "$stamp" ]; then
        say "the requirements, pyproject.toml or run.sh's setup changed: setting $venv up anew"
    fi
    make_venv
    say "Python $(version_of "$python") in $venv"
    rm -f "$stamp"
    if [ -n "$uv" ] && install_with_uv "$set"; then
        :
    else
        if [ -n "$uv" ]; then say "uv could not install $(requirements_file "$set") (above): using pip instead"; fi
        # A .venv that uv made has no pip: make it again with venv, which brings one.
        if ! "$python" -m pip --version >/dev/null 2>&1; then uv=""; make_venv; fi
        install_with_pip "$set"
    fi
    requirements_digest "$set" >"$stamp"
    if [ "$set" = learner ]; then
        say "packages installed: what the chapters need ($(du -sh "$venv" | cut -f1)); test, book and student install the rest"
    else
        say "packages installed"
    fi
}

# One line for a helper: nothing is installed or started, nothing secret is printed
# (a proxy is reported as set, never its address, which may hold a password).
doctor() {
    local os python_line venv_line packages port proxy
    os="$(uname -srm)"
    if grep -qi microsoft /proc/version 2>/dev/null; then os="$os WSL"; fi
    if [ "$(uname -s)" = Darwin ] && [ "$(sysctl -n sysctl.proc_translated 2>/dev/null)" = 1 ]; then os="$os (Rosetta)"; fi
    python_line="$(version_of "$wanted_python")"
    if [ -z "$python_line" ]; then
        python_line="none ('$wanted_python' does not run)"
    else
        python_line="$python_line $("$wanted_python" -c 'import platform; print(platform.machine())') at $(command -v "$wanted_python" || echo "$wanted_python")"
        "$wanted_python" -c 'import ensurepip, venv; ensurepip.version()' 2>/dev/null || python_line="$python_line, NO ensurepip (python3-venv)"
    fi
    if venv_is_usable; then venv_line="ok ($(version_of "$python"))"; elif [ -e "$venv" ]; then venv_line="unusable (broken, or not PYTHON's version)"; else venv_line=none; fi
    case "$(installed_set)" in
        all) packages=installed ;;
        learner) packages="installed: the learner set (workshop, lab)" ;;
        *) packages="not installed (bash run.sh setup)" ;;
    esac
    if (exec 3<>/dev/tcp/127.0.0.1/8888) 2>/dev/null; then port="8888 busy"; else port="8888 free"; fi
    proxy=none
    if [ -n "${HTTPS_PROXY:-}${https_proxy:-}${HTTP_PROXY:-}${http_proxy:-}" ]; then proxy=set; fi
    if [ -n "${PIP_CERT:-}${REQUESTS_CA_BUNDLE:-}${SSL_CERT_FILE:-}" ]; then proxy="$proxy, custom CA"; fi
    # Which installer setup would use (nothing is installed to find out).
    local installer=pip tools="${XDG_CACHE_HOME:-$HOME/.cache}/booktools/uv-$uv_version"
    if [ "${BOOKTOOLS_INSTALLER:-}" = pip ]; then installer="pip (BOOKTOOLS_INSTALLER=pip)"
    elif command -v uv >/dev/null 2>&1; then installer="uv on PATH"
    elif "$tools/bin/uv" --version >/dev/null 2>&1; then installer="uv $uv_version, cached"
    else installer="uv $uv_version, to be installed with pip"; fi
    echo "doctor: $os | bash ${BASH_VERSION%%(*} | python $python_line | .venv $venv_line, packages $packages, installer $installer" \
        "| conda ${CONDA_DEFAULT_ENV:-no} | proxy $proxy | git autocrlf $(git config core.autocrlf 2>/dev/null || echo unset)" \
        "| DATABASE_URL $([ -n "${DATABASE_URL:-}" ] && echo set || echo unset) | port $port"
}

command="${1:-}"
shift || true
case "$command" in
    lab)
        setup learner
        # In a container you are often root; JupyterLab refuses that unless told.
        if [ "$(id -u)" = 0 ]; then set -- --allow-root "$@"; fi
        exec "$venv/bin/jupyter" lab notebooks/ "$@"
        ;;
    book)
        setup all
        "$venv/bin/jupyter-book" build -W -n --keep-going . "$@"
        echo "Open _build/html/index.html"
        ;;
    test)
        setup all
        # The code first (configured in pyproject.toml): seconds, and clearer than a failing cell.
        "$venv/bin/ruff" check .
        "$venv/bin/mypy"
        # Three workers even on two cores: about a tenth of a two-worker run is spent waiting
        # (on PostgreSQL, the browser, the processes a chapter starts), and a third fills it.
        # loadscope keeps each notebook on one worker: its cells share one kernel.
        "$python" -m pytest -n 3 --dist loadscope "$@"
        ;;
    stop)
        setup learner
        "$python" -m booktools stop
        ;;
    student)
        setup all
        rm -rf _build/student
        "$python" -m booktools student-edition _build/student
        "$venv/bin/jupyter-book" build -W -n --keep-going _build/student "$@"
        echo "Open _build/student/_build/html/index.html"
        ;;
    workshop)
        setup learner
        # Learners work here: each chapter without its solutions, and (BOOKTOOLS_SCRATCH) the
        # chapters' scratch projects inside the folder JupyterLab serves, so that a learner
        # opens and edits a project's env.py from the file browser.
        learner=_build/learner
        say "writing the learner notebooks into $learner (notebooks already there hold your work: kept)"
        "$python" -m booktools.student_edition "$learner"
        if [ "${1:-}" = "--build-only" ]; then exit 0; fi
        if [ "$(id -u)" = 0 ]; then set -- --allow-root "$@"; fi
        say "starting JupyterLab on $learner; if no browser opens, open the http://127.0.0.1:... link it prints"
        BOOKTOOLS_SCRATCH="$PWD/$learner/scratch" exec "$venv/bin/jupyter" lab "$learner" "$@"
        ;;
    bench)
        setup all
        "$python" -m benchmarks "$@"
        ;;
    doctor)
        doctor
        ;;
    setup)
        # A learner's .venv (workshop) stays one: its pins are checked and put back if they left.
        if [ "$(installed_set)" = learner ]; then setup learner; else setup all; fi
        ;;
    *)
        sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
