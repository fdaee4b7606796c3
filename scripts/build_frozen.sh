#!/usr/bin/env bash
# Builds the desktop app (dist/CapsWriter-<version>-<platform>.tar.gz, .zip on Windows) the way
# a release does: a fresh environment with only the client extra and PyInstaller, so nothing
# that is only for converting or comparing models (torch, faster-whisper …) can end up in it.
#   bash scripts/build_frozen.sh            # Linux, or Windows in Git Bash
# Environment: PYTHON (the interpreter to build with, default python3), BUILD_DIR (default
# build/frozen). The unpacked app is left in $BUILD_DIR/dist/CapsWriter.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
BUILD_DIR=${BUILD_DIR:-build/frozen}

started=$(date +%s)
rm -rf "$BUILD_DIR/dist" "$BUILD_DIR/work"
[ -d "$BUILD_DIR/venv" ] || "$PYTHON" -m venv "$BUILD_DIR/venv"
venv=$(cd "$BUILD_DIR/venv" && pwd)
if [ -x "$venv/Scripts/python.exe" ]; then
  py="$venv/Scripts/python.exe"; platform=windows-x86_64
else
  py="$venv/bin/python"; platform=linux-x86_64
fi
echo "· installing the package with the client extra and PyInstaller"
"$py" -m pip install -q --disable-pip-version-check --upgrade pip
"$py" -m pip install -q --disable-pip-version-check '.[client]' 'pyinstaller>=6.10'
if "$py" -c "import torch" 2>/dev/null || "$py" -c "import ctranslate2" 2>/dev/null; then
  echo "the build environment has torch or ctranslate2; use a fresh BUILD_DIR" >&2
  exit 1
fi
echo "· building with PyInstaller"
"$py" -m PyInstaller --noconfirm --log-level WARN --distpath "$BUILD_DIR/dist" \
  --workpath "$BUILD_DIR/work" build.spec
version=$("$py" -c "import capswriter; print(capswriter.__version__)")
mkdir -p dist
name="CapsWriter-$version-$platform"
if [ "$platform" = windows-x86_64 ]; then
  rm -f "dist/$name.zip"
  (cd "$BUILD_DIR/dist" && "$py" -m zipfile -c "$OLDPWD/dist/$name.zip" CapsWriter)
  out="dist/$name.zip"
else
  tar czf "dist/$name.tar.gz" -C "$BUILD_DIR/dist" CapsWriter
  out="dist/$name.tar.gz"
fi
echo "· built $BUILD_DIR/dist/CapsWriter ($(du -sh "$BUILD_DIR/dist/CapsWriter" | cut -f1)) and" \
  "$out ($(du -sh "$out" | cut -f1)) in $(( $(date +%s) - started )) s"
