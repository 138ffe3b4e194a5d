#!/usr/bin/env bash
# `make run`: the web app (gunicorn) and the scheduler side by side on SQLite, until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-8000}"
export DEBUG="${DEBUG:-true}"
export SITE_URL="${SITE_URL:-http://127.0.0.1:${PORT}}"
BIN=.venv/bin

$BIN/python manage.py migrate --noinput
$BIN/python manage.py seed_synthetic
$BIN/python manage.py ensureadmin

$BIN/gunicorn cronicorn.wsgi --bind "127.0.0.1:${PORT}" --workers 2 --threads 4 \
    --access-logfile - --graceful-timeout 5 &
web=$!
$BIN/python manage.py runscheduler &
scheduler=$!

stop() {
    trap - INT TERM
    echo "Stopping the web app and the scheduler..."
    kill -TERM "$web" "$scheduler" 2>/dev/null || true
    wait "$web" "$scheduler" 2>/dev/null || true
    exit 0
}
trap stop INT TERM

echo "Cronicorn is starting on ${SITE_URL} (API: ${SITE_URL}/api/, docs: ${SITE_URL}/api/docs/). Ctrl-C stops it."
# If either one exits on its own, stop the other too.
wait -n "$web" "$scheduler" || true
stop
