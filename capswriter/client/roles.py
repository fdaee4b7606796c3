"""Roles: a dictation sent through a language model before it is typed, read from ``roles.toml``.

A role names the words that call it (its name and aliases, spoken at the start of a dictation;
see :mod:`capswriter.client.triggers`), an OpenAI-compatible endpoint (a preset or a base URL), a
model, where its key comes from (an environment variable or a keyring entry; never the key in the
file), the system prompt and where the rewritten text goes. The file is read again when it
changes, like the other rule files. No role is enabled until the user enables one.

The format, with every field and its default, is :data:`ROLES_TEMPLATE`, the file written when
the user first opens it from Settings.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from capswriter.client.output_rules import WatchedFile
from capswriter.config import config_dir, is_loopback
from capswriter.errors import CapsWriterError

# Where the usual servers listen; a role may name one of these instead of a base URL.
PRESETS: dict[str, str] = {
    "ollama": "http://127.0.0.1:11434/v1",
    "lmstudio": "http://127.0.0.1:1234/v1",
    "llamacpp": "http://127.0.0.1:8080/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "openai": "https://api.openai.com/v1",
}
ROLE_OUTPUTS = ("type", "panel", "clipboard")

DEFAULT_PROMPT = (
    "Rewrite the user's dictated text into clean written text in the same language: fix "
    "recognition errors, punctuation and grammar, keep the meaning and the wording where it is "
    "fine. Reply with the rewritten text only."
)

ROLES_TEMPLATE = '''\
# Roles: say a role's name at the start of a dictation ("polish, this is what i said") and the
# rest of it is sent to a language model; its answer is typed instead of what you said.
# Any OpenAI-compatible server works: Ollama, LM Studio, llama.cpp's server, DeepSeek, OpenAI.
# This file is read again whenever it changes. Each [[role]] has these fields:
#
#   name            the word that calls the role (also its name in Settings and History)
#   aliases         more words that call it, e.g. ["润色", "polish up"] or "润色 | polish up"
#   enabled         false keeps the role without using it
#   endpoint        a preset (ollama, lmstudio, llamacpp, deepseek, openai) or a base URL
#                   such as "http://127.0.0.1:11434/v1"
#   model           the model name the server knows ("qwen2.5:7b", "deepseek-chat", ...)
#   api_key_env     the environment variable holding the key ("" = no key, fine for local servers)
#   api_key_keyring the keyring entry holding it, as "service/user" (needs the keyring package)
#   prompt          the system prompt
#   temperature     0 to 2
#   max_tokens      the longest answer
#   hot_words       true: the words of hot_words.txt go to the model as spellings to keep
#   selection       true: the text selected in the focused window goes along (X11 only; read
#                   from the primary selection, the clipboard is never touched)
#   output          "type" (into the focused window as it streams), "panel" (shown in the
#                   recording panel and put on the clipboard) or "clipboard"
#   first_token_timeout_s  no answer by then: your own words are typed instead (default 4)
#   total_timeout_s        the whole answer must be in by then (default 60)
#
# A role whose endpoint is not on this machine sends your words off it; Settings marks it so.

[[role]]
name = "polish"
aliases = ["润色"]
enabled = false
endpoint = "ollama"
model = "qwen2.5:7b"
api_key_env = ""
prompt = """Rewrite the user's dictated text into clean written text in the same language: fix \\
recognition errors, punctuation and grammar, keep the meaning and the wording where it is fine. \\
Reply with the rewritten text only."""
temperature = 0.3
max_tokens = 1024
hot_words = true
output = "type"
'''


class RoleError(CapsWriterError):
    """A role cannot be used as written (bad field, missing key)."""


@dataclass(frozen=True)
class Role:
    name: str
    model: str
    endpoint: str = "ollama"
    aliases: tuple[str, ...] = ()
    enabled: bool = False
    api_key_env: str = ""
    api_key_keyring: str = ""
    prompt: str = DEFAULT_PROMPT
    temperature: float = 0.3
    max_tokens: int = 1024
    hot_words: bool = True
    selection: bool = False
    output: str = "type"
    first_token_timeout_s: float = 4.0
    total_timeout_s: float = 60.0

    @property
    def base_url(self) -> str:
        """The endpoint as a URL, presets resolved, without a trailing slash."""
        return PRESETS.get(self.endpoint.lower(), self.endpoint).rstrip("/")

    @property
    def triggers(self) -> tuple[str, ...]:
        """Every word that calls this role: its name, then its aliases."""
        return (self.name, *self.aliases)

    @property
    def off_machine(self) -> bool:
        """True when the endpoint is not this machine: the dictation leaves it."""
        return not is_local_url(self.base_url)

    def api_key(self) -> str:
        """The key from the environment or the keyring; "" when the role names none."""
        if self.api_key_env:
            key = os.environ.get(self.api_key_env, "")
            if not key:
                raise RoleError(f"role '{self.name}': the environment variable "
                                f"{self.api_key_env} holding its key is not set")
            return key
        if self.api_key_keyring:
            service, _, user = self.api_key_keyring.partition("/")
            try:
                import keyring
            except ImportError:
                raise RoleError(f"role '{self.name}': reading its key from the keyring needs "
                                "the keyring package (pip install keyring)") from None
            key = keyring.get_password(service, user) or ""
            if not key:
                raise RoleError(f"role '{self.name}': no key in the keyring under "
                                f"{self.api_key_keyring!r}")
            return key
        return ""


def is_local_url(url: str) -> bool:
    """True for URLs whose host is this machine (loopback addresses, localhost)."""
    host = urlsplit(url).hostname or ""
    if host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return is_loopback(host)


DEFAULT_ROLES: tuple[Role, ...] = (
    Role(name="polish", aliases=("润色",), model="qwen2.5:7b", endpoint="ollama"),
)

_FIELDS = {
    "name": str, "model": str, "endpoint": str, "aliases": tuple, "enabled": bool,
    "api_key_env": str, "api_key_keyring": str, "prompt": str, "temperature": float,
    "max_tokens": int, "hot_words": bool, "selection": bool, "output": str,
    "first_token_timeout_s": float, "total_timeout_s": float,
}


def _aliases(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        items = value.split("|")
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = value
    else:
        raise RoleError(f"{where}: aliases must be a list of words or 'a | b'")
    return tuple(item.strip() for item in items if item.strip())


def parse_role(table: dict[str, object], where: str) -> Role:
    """One ``[[role]]`` table as a Role; RoleError names the field that is wrong."""
    values: dict[str, object] = {}
    for key, value in table.items():
        kind = _FIELDS.get(key)
        if kind is None:
            raise RoleError(f"{where}: unknown field '{key}'")
        if kind is tuple:
            values[key] = _aliases(value, where)
        elif kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            values[key] = float(value)
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise RoleError(f"{where}: {key} must be {kind.__name__}, not {value!r}")
        else:
            values[key] = value.strip() if isinstance(value, str) and key != "prompt" else value
    for required in ("name", "model"):
        if not values.get(required):
            raise RoleError(f"{where}: '{required}' is missing")
    role = Role(**values)  # type: ignore[arg-type]
    if role.output not in ROLE_OUTPUTS:
        raise RoleError(f"{where}: output must be one of {', '.join(ROLE_OUTPUTS)}")
    if urlsplit(role.base_url).scheme not in ("http", "https"):
        raise RoleError(f"{where}: endpoint {role.endpoint!r} is neither a preset "
                        f"({', '.join(PRESETS)}) nor an http(s) URL")
    if not 0 <= role.temperature <= 2:
        raise RoleError(f"{where}: temperature must be 0 to 2")
    if role.max_tokens < 1 or role.first_token_timeout_s <= 0 or role.total_timeout_s <= 0:
        raise RoleError(f"{where}: max_tokens and the timeouts must be more than 0")
    return role


def parse_roles(text: str) -> tuple[Role, ...]:
    """The roles of a ``roles.toml``; ValueError (RoleError) names the first problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RoleError(f"not valid TOML: {exc}") from exc
    tables = data.pop("role", [])
    if data:
        raise RoleError(f"unknown table or key {sorted(data)[0]!r} (roles are [[role]] tables)")
    if not isinstance(tables, list):
        raise RoleError("roles are written as [[role]] tables")
    roles = tuple(parse_role(t, f"role {i + 1}") for i, t in enumerate(tables))
    seen: set[str] = set()
    for role in roles:
        for word in role.triggers:
            key = normalise(word)
            if key in seen:
                raise RoleError(f"'{word}' calls more than one role")
            seen.add(key)
    return roles


def normalise(word: str) -> str:
    """A trigger as compared: case folded, runs of spaces as one."""
    return re.sub(r"\s+", " ", word.strip()).casefold()


# RoleError is a ValueError to WatchedFile: a half-saved file keeps the last good roles.
class _ParseFailed(ValueError):
    pass


def _parse_for_watch(text: str) -> tuple[Role, ...]:
    try:
        return parse_roles(text)
    except RoleError as exc:
        raise _ParseFailed(str(exc)) from exc


@dataclass
class RoleBook:
    """The roles of ``roles.toml`` in the config directory, read again when the file changes;
    without the file, the shipped roles (all disabled)."""

    path: Path = field(default_factory=lambda: config_dir() / "roles.toml")

    def __post_init__(self) -> None:
        self._file = WatchedFile(self.path, _parse_for_watch, DEFAULT_ROLES)

    def roles(self) -> tuple[Role, ...]:
        return self._file.current()  # type: ignore[return-value]

    def enabled(self) -> tuple[Role, ...]:
        return tuple(role for role in self.roles() if role.enabled)

    def problem(self) -> str:
        """Why the file on disk is not what is in use ("" when it is)."""
        try:
            parse_roles(self.path.read_text(encoding="utf-8"))
        except OSError:
            return ""
        except RoleError as exc:
            return f"{self.path}: {exc}"
        return ""

    def ensure_file(self) -> Path:
        """Write the commented template when there is no file yet; returns the path."""
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(ROLES_TEMPLATE, encoding="utf-8")
        return self.path

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Switch one role on or off in the file, keeping the rest of it as written."""
        text = self.ensure_file().read_text(encoding="utf-8")
        blocks = re.split(r"(?m)^(?=\[\[role\]\])", text)
        for i, block in enumerate(blocks):
            if not block.startswith("[[role]]"):
                continue
            table = tomllib.loads(block)["role"][0]
            if table.get("name") != name:
                continue
            value = "true" if enabled else "false"
            if re.search(r"(?m)^enabled\s*=", block):
                block = re.sub(r"(?m)^enabled\s*=.*$", f"enabled = {value}", block, count=1)
            else:
                block = block.replace("[[role]]\n", f"[[role]]\nenabled = {value}\n", 1)
            blocks[i] = block
            break
        else:
            raise RoleError(f"no role named {name!r} in {self.path}")
        new = "".join(blocks)
        parse_roles(new)
        self.path.write_text(new, encoding="utf-8")
