"""Text clean-up of recognizer output: script conversion and spacing for Chinese."""

from __future__ import annotations

import functools
import re

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


def to_simplified(text: str) -> str:
    """Traditional → Simplified Chinese (OpenCC t2s); text without Han characters is unchanged."""
    if not has_cjk(text):
        return text
    return _converter("t2s").convert(text)


def tidy(text: str, simplified_chinese: bool = True) -> str:
    """Recognizer text trimmed, Chinese without inner spaces and optionally Simplified."""
    text = text.strip()
    if has_cjk(text):
        text = _SPACE_BETWEEN_CJK.sub("", text)
        if simplified_chinese:
            text = to_simplified(text)
    return text
