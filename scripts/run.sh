#!/usr/bin/env bash
# `make run`: start the stack on embedded defaults, wait until each part answers, print the URLs, and stop
# everything on Ctrl-C. Parts join this script as they are built.
set -euo pipefail
# Files the stack writes (the SQLite database, uploads, secrets, logs) are readable by their owner only.
umask 077
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
[ -f .env ] && set -a && . ./.env && set +a
export BACKEND_HOST="${BACKEND_HOST:-127.0.0.1}" BACKEND_PORT="${BACKEND_PORT:-8000}"
export ACTION_PORT="${ACTION_PORT:-5055}" RASA_PORT="${RASA_PORT:-5005}"
# Every listener binds to loopback unless its setting says otherwise (see README, Security).
export RASA_HOST="${RASA_HOST:-127.0.0.1}" ACTION_HOST="${ACTION_HOST:-127.0.0.1}"
export WECHAT_SIMULATOR_HOST="${WECHAT_SIMULATOR_HOST:-127.0.0.1}"
export BACKEND_URL="${BACKEND_URL:-http://$BACKEND_HOST:$BACKEND_PORT}"
export ACTION_SERVER_URL="${ACTION_SERVER_URL:-http://127.0.0.1:$ACTION_PORT/webhook}"
export RASA_URL="${RASA_URL:-http://127.0.0.1:$RASA_PORT}"
export SQLALCHEMY_SILENCE_UBER_WARNING=1 TF_CPP_MIN_LOG_LEVEL=2
# The speech model (make voice-model): the voice counter and the backend (WeChat voice notes) use it when it is there.
if [ -z "${VOSK_MODEL_PATH:-}" ] && [ -d var/voice/vosk-model-small-cn-0.22 ]; then
  export VOSK_MODEL_PATH="$root/var/voice/vosk-model-small-cn-0.22"
fi
# WeChat: without WECHAT_APPID this is a development machine. The stack then talks to the WeChat simulator
# (wechat/simulator) in safe (AES) mode, with development-only credentials, and `make run` starts the simulator.
export WECHAT_SIMULATOR_PORT="${WECHAT_SIMULATOR_PORT:-5070}"
if [ -z "${WECHAT_APPID:-}" ]; then
  wechat_simulator=1
  export WECHAT_APPID=wxjiujindevelop01 WECHAT_SECRET=jiujin-development-secret
  export WECHAT_TOKEN="${WECHAT_TOKEN:-jiujin-development-token}"
  export WECHAT_AES_KEY="${WECHAT_AES_KEY-jiujinDevelopmentOnlyAesKey0123456789abcdef}"
  export WECHAT_API_BASE_URL="http://127.0.0.1:$WECHAT_SIMULATOR_PORT/cgi-bin/"
fi
mkdir -p var/log
chmod -R go-rwx var  # data written before umask 077 (an older checkout) is tightened too
pids=() extra_pids=()  # extra: parts whose stopping does not stop the stack
stop() { for pid in "${pids[@]}" "${extra_pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
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

# The action server answers only Rasa (its shared secret: ACTION_SERVER_TOKEN or var/secrets/action-server-token).
.venv/bin/python -m actions.serve --port "$ACTION_PORT" >var/log/actions.log 2>&1 &
pids+=($!)
wait_for actions "http://127.0.0.1:$ACTION_PORT/health" 60 "${pids[-1]}"

# Rasa imports TensorFlow and loads the model (about a minute on 2 cores): wait for readiness, not a fixed time.
# Its HTTP API (trackers, model) is on only with RASA_TOKEN or RASA_TOKEN_FILE (bot/serve.py); "/" answers once
# the model is loaded.
.venv-rasa/bin/python -m bot.serve --model models/jiujin.tar.gz --port "$RASA_PORT" \
  --endpoints endpoints.yml --credentials credentials.yml >var/log/rasa.log 2>&1 &
pids+=($!)
wait_for rasa "http://127.0.0.1:$RASA_PORT/" 240 "${pids[-1]}"

if [ -n "${wechat_simulator:-}" ]; then
  .venv/bin/python -m wechat.simulator --host "$WECHAT_SIMULATOR_HOST" --port "$WECHAT_SIMULATOR_PORT" \
    --webhook "http://127.0.0.1:$RASA_PORT/webhooks/wechat/webhook" --record var/wechat/outbound.jsonl \
    >var/log/wechat-simulator.log 2>&1 &
  pids+=($!)
  wait_for wechat-simulator "http://127.0.0.1:$WECHAT_SIMULATOR_PORT/health" 60 "${pids[-1]}"
  .venv/bin/python -m backend.cli wechat menu publish >>var/log/wechat-simulator.log 2>&1 || true
fi

# Devices: printer workers (and, without PRINTER_PORT_*, printer simulators on pseudo-terminals).
rm -f var/devices/ticket.tty var/devices/receipt.tty
.venv/bin/python -m devices --backend "$BACKEND_URL" >var/log/devices.log 2>&1 &
pids+=($!)
for _ in $(seq 30); do [ -e var/devices/receipt.tty ] && break; sleep 0.5; done

# The voice counter at the microphone: when a speech model is there (make voice-model). Without a microphone it
# says so in var/log/counter.log and stops, and the rest of the stack carries on (the screen still works).
# Counter counter-1 is a device with its own credential: `kiosk add` provisions it once (again: nothing changes) and
# leaves its key for the microphone side in var/secrets/counters/; its screen opens the URL `kiosk url` prints.
bin/jiujin kiosk add counter-1 >>var/log/backend.log 2>&1
kiosk_url="$(bin/jiujin kiosk url counter-1)"
counter_line="bin/jiujin counter --counter counter-1 (needs VOSK_MODEL_PATH: make voice-model), or --wav IN --reply-wav OUT"
if [ -n "${VOSK_MODEL_PATH:-}" ]; then
  bin/jiujin counter --counter counter-1 >var/log/counter.log 2>&1 &
  extra_pids+=($!)
  counter_line="listening at the microphone (var/log/counter.log)"
fi

wechat_mode="plaintext mode"; [ -n "${WECHAT_AES_KEY:-}" ] && wechat_mode="safe (AES) mode"
rasa_api="off (set RASA_TOKEN or RASA_TOKEN_FILE to turn it on)"
[ -n "${RASA_TOKEN:-}${RASA_TOKEN_FILE:-}" ] && rasa_api="on, with its token"
cat <<MSG
jiujin is running (logs in var/log/, data in var/). Ctrl-C stops everything.
  chat (REST)     POST http://127.0.0.1:$RASA_PORT/webhooks/rest/webhook   ({"sender": "me", "message": "我想办居住证"})
  chat (terminal) make chat
  WeChat webhook  http://127.0.0.1:$RASA_PORT/webhooks/wechat/webhook   ($wechat_mode)
  backend API     http://$BACKEND_HOST:$BACKEND_PORT/api/v1/items
  OpenAPI         http://$BACKEND_HOST:$BACKEND_PORT/api/v1/openapi.json
  action server   http://127.0.0.1:$ACTION_PORT/health   (its webhook wants the shared secret)
  Rasa HTTP API   $rasa_api
  display board   http://$BACKEND_HOST:$BACKEND_PORT/board
  voice counter   $kiosk_url   (counter-1's screen; $counter_line)
  API token       var/secrets/api-token   (send it as Authorization: Bearer …; every /api/v1 call but the public reads)
  printers        var/devices/printer/<job id>.txt and .png   (take a number: POST /api/v1/queue/tickets {"category": "A", "channel": "counter"} with the token)
  keypads         POST http://127.0.0.1:${DEVICES_CONTROL_PORT:-5080}/keypads/3/N   (下一位 at window 3; R 重呼, S 过号, P 暂停, T?to=5 转窗口)
MSG
if [ -n "${wechat_simulator:-}" ]; then
  echo "  chat as WeChat  http://127.0.0.1:$WECHAT_SIMULATOR_PORT/   (the simulator plays WeChat's servers and API)"
fi
wait -n "${pids[@]}"
echo "a part of the stack stopped; see var/log/" >&2
exit 1
