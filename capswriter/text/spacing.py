"""Chinese beside Latin letters and digits: the space between them, and letters spelled out.

Recognizers write ``用Claude写`` and ``用 Claude 写`` at random; :func:`space_mixed` makes it
one or the other (or leaves it). A spelled abbreviation comes back as ``A S R``;
:func:`join_spelled_letters` writes ``ASR``. Case is never changed.
"""

from __future__ import annotations

import re

SPACING = ("keep", "space", "none")

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_LATIN = "A-Za-z0-9"
_CJK_THEN_LATIN = re.compile(f"(?<=[{_CJK}])(?=[{_LATIN}])")
_LATIN_THEN_CJK = re.compile(f"(?<=[{_LATIN}%‰])(?=[{_CJK}])")
_SPACE_BETWEEN = re.compile(
    f"(?<=[{_CJK}])[ \t]+(?=[{_LATIN}])|(?<=[{_LATIN}%‰])[ \t]+(?=[{_CJK}])"
)
# Two or more capital letters standing alone, one space apart: A S R, C P U.
_SPELLED = re.compile(r"(?<![A-Za-z0-9])[A-Z](?: [A-Z])+(?![A-Za-z0-9])")


def join_spelled_letters(text: str) -> str:
    """``A S R`` → ``ASR``; single capitals separated by one space become one word."""
    return _SPELLED.sub(lambda m: m[0].replace(" ", ""), text)


def space_mixed(text: str, spacing: str) -> str:
    """One space between Chinese and Latin/digits (``space``), none (``none``), or as is."""
    if spacing not in SPACING:
        raise ValueError(f"spacing must be one of {', '.join(SPACING)}, not {spacing!r}")
    if spacing == "keep":
        return text
    text = _SPACE_BETWEEN.sub("", text)
    if spacing == "space":
        text = _LATIN_THEN_CJK.sub(" ", _CJK_THEN_LATIN.sub(" ", text))
    return text
