"""Model file paths in a form sherpa-onnx can open.

sherpa-onnx opens its model files through narrow-character APIs, and on Windows those read a path
in the ANSI code page: a model under ``C:\\Users\\张三\\Downloads\\`` on a cp1252 system (or one
named with letters a cp936 system lacks) is "not found", and every dictation and file fails. A
path the code page can spell is passed as it is. Otherwise its short (8.3) name, which is ASCII,
and where the volume keeps no short names, a copy in a folder whose whole path is ASCII.
onnxruntime, which runs Whisper, takes wide paths and needs none of this.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def ansi_codec() -> str | None:
    """The codec narrow paths are read in: ``mbcs`` (the ANSI code page) on Windows, None where
    paths are bytes in the file system's encoding and any name works."""
    return "mbcs" if sys.platform == "win32" else None


def spellable(path: str, codec: str | None) -> bool:
    """Whether ``codec`` can spell ``path`` without replacing a character."""
    if codec is None:
        return True
    try:
        path.encode(codec, "strict")
    except UnicodeEncodeError:
        return False
    return True


def short_path(path: Path) -> str | None:  # pragma: no cover - Windows only
    """Windows' 8.3 name of an existing ``path``; None where the volume keeps none."""
    if sys.platform != "win32":
        return None
    import ctypes

    get_short = ctypes.windll.kernel32.GetShortPathNameW  # type: ignore[attr-defined]
    size = get_short(str(path), None, 0)
    if not size:
        return None
    buffer = ctypes.create_unicode_buffer(size)
    if not get_short(str(path), buffer, size):
        return None
    return buffer.value


def staging_folder() -> Path:
    """Where copies of unspellable model files go: a folder whose path is ASCII. On Windows
    ProgramData (the user's own folders sit under the user name, which may not be ASCII)."""
    if sys.platform == "win32":  # pragma: no cover - Windows only
        program_data = os.environ.get("ProgramData", r"C:\ProgramData")
        return Path(program_data) / "CapsWriter" / "model-copies"
    import tempfile

    return Path(tempfile.gettempdir()) / "capswriter-model-copies"


def native_path(path: Path, *, codec: str | None = None, staging: Path | None = None,
                use_short_names: bool = True) -> str:
    """``path`` as a string sherpa-onnx can open on this system.

    ``codec`` defaults to ``ansi_codec()``; ``staging`` to ``staging_folder()``.
    """
    codec = ansi_codec() if codec is None else codec
    text = str(path)
    if spellable(text, codec):
        return text
    if use_short_names:
        short = short_path(path)
        if short and spellable(short, codec):
            return short
    return str(_staged_copy(Path(path), staging or staging_folder(), codec))


def _staged_copy(path: Path, staging: Path, codec: str | None) -> Path:
    """A copy of ``path`` under ``staging``, named for the source's path, size and time, so a
    changed model gets a fresh copy and two models never share one."""
    st = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()
    name = path.name if spellable(path.name, "ascii") else f"model{path.suffix}"
    if not spellable(name, "ascii"):
        name = "model"
    target = staging / key[:16] / name
    if not spellable(str(target), codec):
        raise OSError(f"no folder this system can name holds a copy of {path}; move the "
                      f"models to a folder whose name has only ASCII letters")
    if target.is_file() and target.stat().st_size == st.st_size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(path, partial)
    os.replace(partial, target)
    log.info("%s copied to %s: sherpa-onnx cannot open its path on this system", path, target)
    return target
