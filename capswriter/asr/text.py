"""Text clean-up of recognizer output: script conversion and spacing for Chinese."""

from __future__ import annotations

import functools
import re

from capswriter.errors import ConfigError

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{_CJK}]")
# Whisper puts spaces between Chinese phrases; they do not belong in Chinese text.
_SPACE_BETWEEN_CJK = re.compile(
    f"(?<=[{_CJK}\u3000-\u303f\uff00-\uffef])\\s+(?=[{_CJK}\u3000-\u303f\uff00-\uffef])"
)


@functools.lru_cache(maxsize=4)
def _converter(config: str):
    import opencc

    return opencc.OpenCC(config)


def has_cjk(text: str) -> bool:
    return bool(_CJK_CHAR.search(text))


# How Chinese may be written out, and the OpenCC conversions that get any input there. Whisper
# mixes scripts (often Traditional for Mandarin), so every target goes through Simplified first.
CHINESE_SCRIPTS: dict[str, tuple[str, ...]] = {
    "simplified": ("t2s",),  # zh-CN
    "traditional": ("t2s", "s2t"),  # OpenCC's standard Traditional characters
    "taiwan": ("t2s", "s2twp"),  # zh-TW, with Taiwan's words (軟體, 滑鼠)
    "hongkong": ("t2s", "s2hk"),  # zh-HK
    "as_heard": (),  # whatever the model wrote
}


def check_chinese_script(script: str) -> None:
    if script not in CHINESE_SCRIPTS:
        raise ConfigError(
            f"chinese_script must be one of {', '.join(CHINESE_SCRIPTS)}, not {script!r}"
        )


def to_simplified(text: str) -> str:
    """Traditional → Simplified Chinese (OpenCC t2s); text without Han characters is unchanged."""
    return to_script(text, "simplified")


def to_script(text: str, script: str) -> str:
    """Chinese in ``text`` written in ``script`` (see CHINESE_SCRIPTS); the rest unchanged."""
    check_chinese_script(script)
    if not has_cjk(text):
        return text
    for config in CHINESE_SCRIPTS[script]:
        text = _converter(config).convert(text)
    return text


def tidy(text: str, chinese_script: str = "simplified") -> str:
    """Recognizer text trimmed, Chinese without inner spaces and in the chosen script."""
    text = text.strip()
    if has_cjk(text):
        text = _SPACE_BETWEEN_CJK.sub("", text)
        text = to_script(text, chinese_script)
    return text


# Speech carries at least this many text units (letters, digits; a CJK character counts 3)
# per second; real speech gives 8-15, so only output that stops early falls below.
_MIN_UNITS_PER_SPEECH_SECOND = 2.5
# Short pieces are left alone: a few words of slow speech can be legitimately sparse.
_MIN_SPEECH_SECONDS_TO_CHECK = 4.0


def looks_cut_short(text: str, speech_seconds: float) -> bool:
    """True when ``text`` is far too short for ``speech_seconds`` of detected speech."""
    if speech_seconds < _MIN_SPEECH_SECONDS_TO_CHECK:
        return False
    return text_units(text) < _MIN_UNITS_PER_SPEECH_SECOND * speech_seconds


def text_units(text: str) -> int:
    """Letters and digits, with a CJK character worth 3 (one carries about a syllable)."""
    units = 0
    for char in text:
        if _is_wide(char):
            units += 3
        elif char.isalnum():
            units += 1
    return units


def _is_wide(char: str) -> bool:
    code = ord(char)
    return 0x3040 <= code <= 0x30FF or 0x3400 <= code <= 0x9FFF or 0xAC00 <= code <= 0xD7AF


# Even fast speech stays under about 20 units per second (a CJK character counts 3); text far
# denser than that for the speech heard was invented, usually by a loop.
_MAX_UNITS_PER_SPEECH_SECOND = 30.0
_MAX_UNITS_SLACK = 20


def looks_too_long(text: str, speech_seconds: float) -> bool:
    """True when ``text`` holds far more than ``speech_seconds`` of speech can carry."""
    return text_units(text) > _MAX_UNITS_PER_SPEECH_SECOND * speech_seconds + _MAX_UNITS_SLACK


def join_texts(parts: list[str]) -> str:
    """Join pieces of text: no space between Chinese pieces, one space between others."""
    out = ""
    for part in parts:
        part = part.strip()
        if not part:
            continue
        if out and not (_is_cjk_edge(out[-1]) and _is_cjk_edge(part[0])):
            out += " "
        out += part
    return out


def _is_cjk_edge(char: str) -> bool:
    code = ord(char)
    return (
        0x2E80 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF
        or 0x3000 <= code <= 0x303F
    )
