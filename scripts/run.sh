#!/usr/bin/env bash
# `make run`: start the stack on embedded defaults, wait until each part answers, print the URLs, and stop
# everything on Ctrl-C. Parts join this script as they are built (backend now; Rasa, actions, devices later).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
[ -f .env ] && set -a && . ./.env && set +a
export BACKEND_HOST="${BACKEND_HOST:-127.0.0.1}" BACKEND_PORT="${BACKEND_PORT:-8000}"
export ACTION_PORT="${ACTION_PORT:-5055}" RASA_PORT="${RASA_PORT:-5005}"
export BACKEND_URL="${BACKEND_URL:-http://$BACKEND_HOST:$BACKEND_PORT}"
export ACTION_SERVER_URL="${ACTION_SERVER_URL:-http://127.0.0.1:$ACTION_PORT/webhook}"
export SQLALCHEMY_SILENCE_UBER_WARNING=1 TF_CPP_MIN_LOG_LEVEL=2
mkdir -p var/log
pids=()
stop() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop EXIT INT TERM

wait_for() {  # wait_for NAME URL SECONDS PID: poll until the URL answers 200, the process dies, or time runs out
  local name=$1 url=$2 limit=$3 pid=$4 waited=0
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then echo "$name failed to start; see var/log/$name.log" >&2; tail -20 "var/log/$name.log" >&2; exit 1; fi
    if [ "$waited" -ge "$limit" ]; then echo "$name did not answer $url within ${limit}s" >&2; exit 1; fi
    sleep 1; waited=$((waited + 1))
  done
}

.venv/bin/python -m backend >var/log/backend.log 2>&1 &
pids+=($!)
wait_for backend "http://$BACKEND_HOST:$BACKEND_PORT/api/v1/health" 60 "${pids[-1]}"

.venv/bin/python -m rasa_sdk --actions actions --port "$ACTION_PORT" >var/log/actions.log 2>&1 &
pids+=($!)
wait_for actions "http://127.0.0.1:$ACTION_PORT/health" 60 "${pids[-1]}"

# Rasa imports TensorFlow and loads the model (about a minute on 2 cores): wait for readiness, not a fixed time.
.venv-rasa/bin/rasa run --enable-api --model models/jiujin.tar.gz --port "$RASA_PORT" \
  --endpoints endpoints.yml --credentials credentials.yml >var/log/rasa.log 2>&1 &
pids+=($!)
wait_for rasa "http://127.0.0.1:$RASA_PORT/status" 240 "${pids[-1]}"

cat <<MSG
jiujin is running (logs in var/log/, data in var/). Ctrl-C stops everything.
  chat (REST)     POST http://127.0.0.1:$RASA_PORT/webhooks/rest/webhook   ({"sender": "me", "message": "我想办居住证"})
  chat (terminal) make chat
  backend API     http://$BACKEND_HOST:$BACKEND_PORT/api/v1/items
  OpenAPI         http://$BACKEND_HOST:$BACKEND_PORT/api/v1/openapi.json
  action server   http://127.0.0.1:$ACTION_PORT/health
MSG
wait -n "${pids[@]}"
echo "a part of the stack stopped; see var/log/" >&2
exit 1
