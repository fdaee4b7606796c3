"""One typed settings object, read from the TOML file, then the environment, then flags.

The file lives in the user config dir (platformdirs); environment variables are named
``CAPSWRITER_<SECTION>_<KEY>`` (e.g. ``CAPSWRITER_SERVER_PORT=6017``); command-line flags are
applied last by the CLI through :func:`Settings.override`.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import ipaddress
import os
import sys
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

import platformdirs

from capswriter.asr.text import CHINESE_SCRIPTS
from capswriter.errors import ConfigError
from capswriter.keys import KEY_LABELS, is_hotkey

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

APP_NAME = "capswriter"
FROZEN = bool(getattr(sys, "frozen", False))
# The source checkout, or the folder of the executables in a PyInstaller build; models/ beside
# it is used when it exists (see default_models_dir). An installed wheel has none.
PROJECT_ROOT = (
    Path(sys.executable).resolve().parent if FROZEN else Path(__file__).resolve().parent.parent
)
# The desktop build's two programs share one folder: the windowed tray app and the console
# CLI (server, workers, transcribe). Windows file names ignore case, so there the console one
# cannot be `capswriter` next to `CapsWriter.exe`.
DESKTOP_PROGRAM = "CapsWriter.exe" if sys.platform == "win32" else "CapsWriter"
CONSOLE_PROGRAM = "capswriter-cli.exe" if sys.platform == "win32" else "capswriter"
# Read-only files shipped inside the package (the wheel and the frozen build carry them as
# package data); installed packages are plain folders, so the resource is a real path.
ASSETS_DIR = Path(str(importlib.resources.files("capswriter") / "assets"))
SAMPLE_SPEECH = ASSETS_DIR / "samples" / "en_jfk.wav"


def is_loopback(host: str) -> bool:
    """True for addresses of this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """``host`` as it goes into a URL: an IPv6 address in brackets."""
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host  # a name (or a mistyped value, which the connection attempt reports)


def config_dir() -> Path:
    return Path(os.environ.get("CAPSWRITER_CONFIG_DIR") or platformdirs.user_config_dir(APP_NAME))


def data_dir() -> Path:
    return Path(os.environ.get("CAPSWRITER_DATA_DIR") or platformdirs.user_data_dir(APP_NAME))


def cache_dir() -> Path:
    return Path(os.environ.get("CAPSWRITER_CACHE_DIR") or platformdirs.user_cache_dir(APP_NAME))


def log_dir() -> Path:
    """Where the desktop client and the servers it or the CLI start write their logs."""
    return cache_dir() / "logs"


def default_models_dir() -> Path:
    """`models/` of a source checkout or beside the desktop app's programs, else the data dir."""
    if os.environ.get("CAPSWRITER_MODELS_DIR"):
        return Path(os.environ["CAPSWRITER_MODELS_DIR"])
    # An installed wheel's PROJECT_ROOT is site-packages, whose models/ is nobody's.
    if FROZEN or (PROJECT_ROOT / "pyproject.toml").is_file():
        beside = usable_models_dir(PROJECT_ROOT / "models")
        if beside is not None:
            return beside
    return data_dir() / "models"


# Locale words that mean Traditional Chinese, and the script each region writes.
_TRADITIONAL_LOCALES = (
    (("zh_tw", "zh-tw", "zh_hant_tw", "taiwan"), "taiwan"),
    (("zh_hk", "zh-hk", "zh_mo", "zh-mo", "hong kong", "hong_kong", "macao", "macau"), "hongkong"),
    (("zh_hant", "zh-hant", "traditional"), "traditional"),
)


def default_chinese_script(environ: dict[str, str] | None = None) -> str:
    """The Chinese script a user of this system's locale reads: Taiwan's or Hong Kong's
    Traditional where the locale says so, Simplified everywhere else."""
    import locale

    environ = os.environ if environ is None else environ
    names = [environ.get(k, "") for k in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")]
    if not any(names) and environ is os.environ:
        names.append(locale.getlocale()[0] or "")  # Windows: "Chinese (Traditional)_Taiwan"
    for name in names:
        lowered = name.lower().split(".")[0]
        for words, script in _TRADITIONAL_LOCALES:
            if any(word in lowered for word in words):
                return script
        if lowered:
            return "simplified"  # the first locale variable that is set decides
    return "simplified"


def usable_models_dir(folder: Path) -> Path | None:
    """``folder`` if models are there or can be installed there; None for an empty folder this
    user cannot write, such as the app's own under Program Files."""
    if not folder.is_dir():
        return None
    if any(entry.is_dir() for entry in folder.iterdir()):
        return folder
    try:
        # A real write: on Windows os.access ignores the folder's ACL.
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        return None
    return folder


@dataclass
class AsrSettings:
    model: str = "whisper-base"
    # Empty means auto-detect; Whisper needs it (see asr/engine.py).
    language: str = ""
    num_threads: int = 0  # 0 = derived from cores and workers
    # Whisper: candidates kept by beam search at temperature 0; 1 decodes greedily (faster,
    # a few more errors; see models/README.md).
    beam_size: int = 5
    # A dictation is read in a window this many seconds longer than itself (at least 10 s)
    # instead of Whisper's full 30 s; negative reads every dictation in the full window.
    dictation_window_pad_s: float = 3.0
    # The same for a file's pieces and uploads of at most file_sized_window_max_s (a 1 s upload
    # then costs a quarter of the full window); negative reads them all in Whisper's full 30 s
    # window. Sizing longer audio too cost accuracy (models/README.md).
    file_window_pad_s: float = 3.0
    file_sized_window_max_s: float = 5.0
    # How Chinese is written: "simplified" (zh-CN), "traditional", "taiwan" (zh-TW, with
    # Taiwan's words), "hongkong" (zh-HK) or "as_heard" (as the model wrote it; Whisper often
    # writes Traditional for Mandarin). Unset, it follows the system's locale.
    chinese_script: str = field(default_factory=default_chinese_script)
    # "auto": Whisper's float32 encoder with the int8 decoder (the most accurate for its
    # size); "int8" is smallest and fastest; "fp32" is both in float32 (see models/README.md).
    precision: str = "auto"


@dataclass
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 6016
    token: str = ""
    workers: int = 0  # 0 = one per core
    # One more worker kept for dictations: someone waiting for their words never queues
    # behind file segments, and the other workers run at a lower CPU priority, so a dictation
    # decodes almost as fast on a machine busy with files as on an idle one.
    dictation_worker: bool = True
    max_connections: int = 256
    max_message_bytes: int = 4 * 1024 * 1024
    max_upload_bytes: int = 512 * 1024 * 1024
    # File bytes held at once over all connections (uploads in progress and being decoded);
    # past it an upload gets `busy` instead of the server running out of memory.
    max_buffered_upload_bytes: int = 1024 * 1024 * 1024
    # An open stream that sends nothing (no audio, no `end`) for this long is closed with
    # `stream_timeout`, so a stuck client cannot hold a dictation worker forever.
    stream_idle_timeout_s: float = 60.0
    max_dictation_queue: int = 32
    max_file_segments_queued: int = 2000
    max_pending_audio_seconds: float = 4 * 3600.0
    job_retry_limit: int = 1
    # A job running longer than job_timeout_s + job_timeout_per_audio_s × its audio seconds
    # means a hung worker: it is killed and the job retried elsewhere.
    job_timeout_s: float = 30.0
    job_timeout_per_audio_s: float = 3.0
    # How long a request may wait for its result before its client would give up. Work whose
    # expected wait is longer is refused at once with `busy` and a retry time; work still queued
    # past it is answered with `queue_timeout`. A client may ask for another value (HTTP header
    # X-CapsWriter-Max-Wait, WebSocket start option max_wait_s), up to max_wait_limit_s.
    max_wait_s: float = 60.0
    max_wait_limit_s: float = 3600.0
    # A connection must finish its request headers within header_timeout_s, and an upload may
    # pause at most body_timeout_s between chunks; slow senders would otherwise hold sockets.
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    # HTTP uploads being received at once, and their bytes spooled to temporary files.
    max_concurrent_uploads: int = 32
    # Slow clients: uploads one client address may send at once; the rate an upload must keep
    # on average after its grace period (when the slots are full, one below it gives its place
    # to a new upload); connections still sending their request (or idle between requests)
    # per client address and in total, past which the oldest is closed.
    max_uploads_per_client: int = 16
    min_body_rate_bytes_s: float = 4096.0
    body_rate_grace_s: float = 5.0
    max_waiting_connections_per_client: int = 256
    max_waiting_connections: int = 1024
    max_upload_temp_bytes: int = 2 * 1024 * 1024 * 1024
    # Files decoded at once (decoding is CPU and memory; more at once only makes each slower).
    decode_threads: int = 2
    # A WebSocket with no open stream and no task for this long is closed; when every
    # connection is taken, the one idle longest makes room for a new client.
    connection_idle_timeout_s: float = 900.0
    # Replies waiting for a client that does not read them; past this the connection is closed.
    max_pending_replies: int = 1000
    # A microphone stream that carries no speech for this long stops holding a worker back for
    # dictation (and is closed after stream_idle_timeout_s without speech).
    mic_silence_release_s: float = 20.0
    # Scale-out: a Redis URL (redis://[:PASSWORD@]HOST:PORT/DB, rediss:// for TLS) through
    # which remote workers (`capswriter worker --broker URL`) take jobs; empty = local only.
    broker: str = ""
    # A job entry a remote worker has held this long without a heartbeat touching it is taken
    # over by another worker (the holder died or hung).
    broker_reclaim_idle_s: float = 10.0
    # The broker must ask for a password (requirepass or an ACL user); true waives that, for a
    # Redis that no other process or machine can reach.
    broker_allow_open: bool = False


@dataclass
class ClientSettings:
    hotkey: str = "caps_lock"
    input_device: str = ""  # empty = the system's default microphone
    hold_threshold_s: float = 0.3
    output_mode: str = "paste"  # paste | type
    trailing_punctuation: bool = True
    trailing_space: bool = False
    keep_stream_open: bool = True
    stream_idle_minutes: float = 10.0
    save_audio: bool = False
    # History entries older than this many days, or beyond the newest this many, are deleted;
    # 0 keeps them all. Dictations still waiting for the server are never deleted.
    history_keep_days: int = 0
    history_keep_entries: int = 0
    # The language of the windows and menus: "auto" follows the system, or "en", "zh_CN".
    ui_language: str = "auto"
    # A small always-on-top panel near the bottom of the screen while dictating: recording with
    # a level meter, transcribing, then done / failed / nothing heard. It never takes focus.
    recording_overlay: bool = True
    # A short tone when recording starts and stops. Off by default: the overlay already shows
    # it, the start tone can be picked up by the microphone at the start of the dictation on
    # speakers, and a desktop app should not make sounds nobody asked for (shared offices).
    sound_cues: bool = False


@dataclass
class FilesSettings:
    formats: list[str] = field(default_factory=lambda: ["txt", "srt", "json"])
    max_segment_s: float = 28.0
    # The longest subtitle cue (SRT, VTT): characters and seconds; longer segments are split
    # between words.
    subtitle_max_chars: int = 84
    subtitle_max_seconds: float = 7.0


@dataclass
class TextSettings:
    """What dictated text becomes (capswriter.text): numbers, hot words by sound, spacing."""

    itn: bool = True  # spoken Chinese numbers written in digits (二十 → 20)
    hot_words: bool = True  # hot_words.txt matched by sound as well as spelling
    hot_word_threshold: float = 0.85  # how closely a span must sound like a hot word (0–1]
    mixed_spacing: str = "keep"  # between Chinese and Latin/digits: keep | space | none


@dataclass
class DownloadSettings:
    # Where catalogue models are downloaded from instead of the sherpa-onnx release page on
    # GitHub: a base URL that holds the same archive names (e.g. a mirror or a local folder
    # served over HTTP), or a model hub holding the releases unpacked: "hf-mirror" or
    # "modelscope" (reachable from China), "huggingface", or a URL template with {repo} and
    # {file}. Empty means the catalogue's own URLs.
    mirror: str = ""


@dataclass
class Settings:
    asr: AsrSettings = field(default_factory=AsrSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    client: ClientSettings = field(default_factory=ClientSettings)
    files: FilesSettings = field(default_factory=FilesSettings)
    download: DownloadSettings = field(default_factory=DownloadSettings)
    text: TextSettings = field(default_factory=TextSettings)
    models_dir: str = ""
    log_level: str = "INFO"

    @property
    def models_path(self) -> Path:
        return Path(self.models_dir) if self.models_dir else default_models_dir()

    def override(self, section: str, **values: Any) -> None:
        """Apply command-line values (None means "not given"); InvalidSetting names a value
        that cannot work before anything starts with it."""
        target = getattr(self, section)
        given = {key: value for key, value in values.items() if value is not None}
        for key, value in given.items():
            setattr(target, key, value)
        if given:
            check_settings(self, "command line")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: Path | None = None) -> Path:
        import tomli_w

        path = path or config_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(tomli_w.dumps(self.to_dict()), encoding="utf-8")
        return path


def config_file() -> Path:
    return Path(os.environ.get("CAPSWRITER_CONFIG") or config_dir() / "config.toml")


def _coerce(value: Any, kind: Any, where: str) -> Any:
    try:
        if kind is bool:
            return _to_bool(value)
        if kind in (int, float, str):
            return kind(value)
        if isinstance(value, str):  # list[str] from the environment
            return [item.strip() for item in value.split(",") if item.strip()]
        return list(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"{where}: {value!r} is not a valid {getattr(kind, '__name__', kind)}"
        ) from exc


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in {"1", "true", "yes", "on"}:
            return True
        if word in {"0", "false", "no", "off", ""}:
            return False
    raise ValueError(f"{value!r} is not true or false")


# Settings of earlier versions that no longer do anything: accepted, so an old settings file
# still loads, and dropped.
_RETIRED = {"tail_paddings"}
# Settings of earlier versions that another one replaced: old name → (its type, the new name,
# the new value from the old), so an old settings file still means what it meant.
_REPLACED: dict[str, tuple[type, str, Any]] = {
    "simplified_chinese": (bool, "chinese_script", lambda on: "simplified" if on else "as_heard"),
}


def _apply(obj: Any, values: dict[str, Any], where: str) -> None:
    hints = get_type_hints(type(obj))
    names = {f.name for f in fields(obj)}
    values = dict(values)
    for old in [k for k in values if k in _REPLACED and k not in names]:
        kind, new, convert = _REPLACED[old]
        values.setdefault(new, convert(_coerce(values.pop(old), kind, f"{where} {old}")))
    for key, value in values.items():
        if key in _RETIRED and key not in names:
            continue
        if key not in names:
            raise ConfigError(f"{where}: unknown setting '{key}'")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: [{key}] must be a table")
            _apply(current, value, f"{where} [{key}]")
        else:
            setattr(obj, key, _coerce(value, hints[key], f"{where} {key}"))


OUTPUT_MODES = ("paste", "type")
UI_LANGUAGES = ("auto", "en", "zh_CN")
FILE_FORMATS = ("txt", "srt", "vtt", "json")
# Settings with a fixed set of values.
_CHOICES = {
    ("asr", "chinese_script"): tuple(CHINESE_SCRIPTS),
    ("client", "output_mode"): OUTPUT_MODES,
    ("client", "ui_language"): UI_LANGUAGES,
    ("text", "mixed_spacing"): ("keep", "space", "none"),
}
# Settings that must be more than 0, and those that may also be 0 (meaning "none" or "auto").
_POSITIVE = (("client", "hold_threshold_s"), ("client", "stream_idle_minutes"),
             ("server", "max_wait_s"), ("files", "max_segment_s"))
_NOT_NEGATIVE = (("client", "history_keep_days"), ("client", "history_keep_entries"),
                 ("server", "workers"), ("asr", "num_threads"))


class InvalidSetting(ConfigError):
    """One setting has a value that cannot work; ``section`` and ``key`` name it."""

    def __init__(self, where: str, section: str, key: str, problem: str) -> None:
        super().__init__(f"{where}: [{section}] {key} {problem}")
        self.section, self.key, self.problem = section, key, problem


def check_settings(settings: Settings, where: str = "settings") -> None:
    """Raise InvalidSetting naming the first value that cannot work.

    The settings file is checked with it when loaded, and the settings dialog before it saves.
    """
    for (section, key), allowed in _CHOICES.items():
        value = getattr(getattr(settings, section), key)
        if value not in allowed:
            raise InvalidSetting(
                where, section, key, f"= {value!r} is not one of {', '.join(allowed)}"
            )
    hotkey = settings.client.hotkey
    if not is_hotkey(hotkey):
        raise InvalidSetting(
            where, "client", "hotkey",
            f"= {hotkey[:24]!r} is not a key push-to-talk can use; use one of "
            f"{', '.join(list(KEY_LABELS)[:8])}, f1–f20, mouse_x1, mouse_x2",
        )
    for name in ("asr", "server", "client", "files", "text"):
        section = getattr(settings, name)
        for f in fields(section):
            value = getattr(section, f.name)
            if f.type in (bool, "bool") and not isinstance(value, bool):
                raise InvalidSetting(where, name, f.name, f"= {value!r} is not true or false")
    if not 1 <= settings.server.port <= 65535:
        raise InvalidSetting(where, "server", "port", f"= {settings.server.port} is not 1–65535")
    host = settings.server.host
    if not host or any(c.isspace() or c in "/@?#" for c in host):
        raise InvalidSetting(where, "server", "host", f"= {host!r} is not a host name or address")
    for section, key in _POSITIVE:
        if not getattr(getattr(settings, section), key) > 0:
            raise InvalidSetting(where, section, key, "must be more than 0")
    for section, key in _NOT_NEGATIVE:
        if getattr(getattr(settings, section), key) < 0:
            raise InvalidSetting(where, section, key, "must be 0 or more")
    if not 0 < settings.text.hot_word_threshold <= 1:
        raise InvalidSetting(where, "text", "hot_word_threshold", "must be above 0 and at most 1")
    formats = settings.files.formats
    unknown = [fmt for fmt in formats if fmt not in FILE_FORMATS]
    if unknown or not formats:
        raise InvalidSetting(
            where, "files", "formats",
            f"must name at least one of {', '.join(FILE_FORMATS)}"
            + (f" (not {', '.join(map(repr, unknown))})" if unknown else ""),
        )


def load_settings(path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Defaults, then the TOML file (if any), then CAPSWRITER_* environment variables."""
    settings = Settings()
    path = path or config_file()
    if path.is_file():
        try:
            # utf-8-sig: Notepad and other Windows editors may start the file with a BOM.
            data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
        _apply(settings, data, str(path))
    environ = os.environ if environ is None else environ
    for section in ("asr", "server", "client", "files", "download", "text"):
        obj = getattr(settings, section)
        prefix = f"CAPSWRITER_{section.upper()}_"
        values = {k[len(prefix) :].lower(): v for k, v in environ.items() if k.startswith(prefix)}
        if values:
            _apply(obj, values, f"environment {prefix}*")
    check_settings(settings, str(path) if path.is_file() else "settings")
    return settings
