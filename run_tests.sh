#!/usr/bin/env bash
# Installs everything the tests need, then runs them all: `bash run_tests.sh [pytest args]`.
# MNIST comes from $MNIST_DIR when set, else data/mnist/ (downloaded on first run).
set -euo pipefail
cd "$(dirname "$0")"

python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

if ! command -v chromium >/dev/null 2>&1; then
    # Browser tests use Debian's chromium; Playwright's own browser download is never used.
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi

if [ -z "${MNIST_DIR:-}" ]; then
    python -m nn_core download
fi

exec python -m pytest "$@"
