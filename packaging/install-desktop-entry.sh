#!/usr/bin/env bash
# Adds CapsWriter to the application menu of the current user (Linux desktops following the
# freedesktop.org menu specification): the .desktop entry points at this folder's CapsWriter.
# Run it again after moving the folder; `--remove` takes the entry away again.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/256x256/apps"
if [ "${1:-}" = "--remove" ]; then
  rm -f "$apps/capswriter.desktop" "$icons/capswriter.png"
  echo "removed the CapsWriter menu entry"
  exit 0
fi
mkdir -p "$apps" "$icons"
cp "$here/capswriter.png" "$icons/capswriter.png"
sed "s#^Exec=CapsWriter#Exec=\"$here/CapsWriter\"#" "$here/capswriter.desktop" > "$apps/capswriter.desktop"
chmod +x "$apps/capswriter.desktop"
echo "added CapsWriter to the application menu ($apps/capswriter.desktop)"
