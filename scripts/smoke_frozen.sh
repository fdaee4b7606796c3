#!/usr/bin/env bash
# Smoke test of a built desktop app, with nothing but the app and a model archive:
#   bash scripts/smoke_frozen.sh APP_DIR MODEL_ARCHIVE [CLIP]
# installs the archive with the app's own console program, transcribes a real recording,
# starts the server, waits until /health reports every worker ready (printing the time that
# took), sends the recording to the OpenAI-compatible endpoint and stops the server.
# Settings, data and cache go to a temporary folder, so the user's own are not touched.
set -euo pipefail
APP=${1:?usage: smoke_frozen.sh APP_DIR MODEL_ARCHIVE [CLIP]}
ARCHIVE=${2:?usage: smoke_frozen.sh APP_DIR MODEL_ARCHIVE [CLIP]}
CLIP=${3:-"$(dirname "$0")/../tests/data/real/en_jfk.wav"}
PORT=${SMOKE_PORT:-6199}
PYTHON=${PYTHON:-python3}
if [ -f "$APP/capswriter-cli.exe" ]; then cli="$APP/capswriter-cli.exe"; else cli="$APP/capswriter"; fi
[ -x "$cli" ] || { echo "no console program in $APP" >&2; exit 1; }

home=$(mktemp -d)
export CAPSWRITER_CONFIG_DIR="$home/config" CAPSWRITER_DATA_DIR="$home/data"
export CAPSWRITER_CACHE_DIR="$home/cache" CAPSWRITER_MODELS_DIR="$home/models"
server_pid=""
cleanup() {
  local status=$?
  # How the server ends (0, or 143 when SIGTERM lands before its handler) is not the verdict:
  # the checks above are, so the script exits with their status.
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$home"
  exit "$status"
}
trap cleanup EXIT
seconds() { "$PYTHON" -c "import time; print(f'{time.time():.2f}')"; }
elapsed() { "$PYTHON" -c "print(f'{$(seconds) - $1:.1f}')"; }

echo "· $("$cli" --version)"
t=$(seconds)
"$cli" models install "$ARCHIVE"
echo "· installed from the archive in $(elapsed "$t") s"

cp "$CLIP" "$home/clip.wav"
text=$("$cli" transcribe "$home/clip.wav" --in-process --print-text --formats txt 2>/dev/null)
echo "· transcribed in process: $text"
[ -s "$home/clip.txt" ] || { echo "no transcript was written" >&2; exit 1; }

t=$(seconds)
"$cli" server --port "$PORT" --workers 2 > "$home/server.log" 2>&1 &
server_pid=$!
ready=""
for _ in $(seq 1 240); do
  if health=$(curl -fsS "http://127.0.0.1:$PORT/health" 2>/dev/null); then
    ready=$(printf '%s' "$health" | "$PYTHON" -c \
      "import json,sys; h=json.load(sys.stdin); print(int(h['workers_ready'] == len(h['workers']) > 0))")
    [ "$ready" = 1 ] && break
  fi
  kill -0 "$server_pid" 2>/dev/null || { cat "$home/server.log"; echo "the server died" >&2; exit 1; }
  sleep 0.25
done
[ "$ready" = 1 ] || { cat "$home/server.log"; echo "the server never got ready" >&2; exit 1; }
echo "· server start to every worker ready: $(elapsed "$t") s"

# A relative name: Git Bash on Windows does not translate a path inside `file=@…`.
reply=$(cd "$home" && curl -fsS -F "file=@clip.wav" -F model=whisper-base \
  "http://127.0.0.1:$PORT/v1/audio/transcriptions")
echo "· HTTP transcription: $reply"
printf '%s' "$reply" | "$PYTHON" -c "import json,sys; assert json.load(sys.stdin)['text'].strip()"
"$cli" transcribe "$home/clip.wav" --port "$PORT" --no-start --formats json > /dev/null 2>&1
[ -s "$home/clip.json" ] || { echo "transcribing through the server wrote nothing" >&2; exit 1; }
echo "· transcribed through the server: $home/clip.json"
echo "smoke test passed: $APP"
