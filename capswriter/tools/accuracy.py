"""Word and character error rates of the engine on recordings with reference text.

English is compared after Whisper's English text normalizer (case, punctuation, spelled-out
numbers); Chinese by characters after Traditional→Simplified conversion and punctuation removal.
"""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path

from capswriter.asr.text import to_simplified

_CJK_LANGS = {"zh", "yue", "ja"}


@dataclass
class ClipScore:
    file: str
    language: str
    reference: str
    hypothesis: str
    errors: int
    length: int


@dataclass
class AccuracyReport:
    clips: list[ClipScore] = field(default_factory=list)

    def rate(self, language: str) -> float:
        """Corpus-level error rate: total edits over total reference units."""
        chosen = [c for c in self.clips if c.language == language]
        length = sum(c.length for c in chosen)
        return sum(c.errors for c in chosen) / length if length else 0.0

    def languages(self) -> list[str]:
        return sorted({c.language for c in self.clips})

    def to_dict(self) -> dict:
        return {
            "clips": [asdict(c) for c in self.clips],
            "rates": {lang: self.rate(lang) for lang in self.languages()},
        }


_SMALL_NUMBERS = {
    w: str(i)
    for i, w in enumerate("zero one two three four five six seven eight nine ten".split())
}


def _english_words(text: str) -> list[str]:
    from whisper_normalizer.english import EnglishTextNormalizer

    words: list[str] = []
    for word in EnglishTextNormalizer()(text).split():
        # ...and leaves a lone "1" spelled out, so compare small numbers as digits.
        word = _SMALL_NUMBERS.get(word, word)
        # The normalizer turns "one two three" into "123" but keeps "1, 2, 3" as three words.
        if words and word.isdigit() and words[-1].isdigit():
            words[-1] += word
        else:
            words.append(word)
    return words


def _chinese_chars(text: str) -> list[str]:
    text = to_simplified(text)
    return [ch for ch in text if not unicodedata.category(ch).startswith(("P", "Z", "S"))]


def _edit_distance(ref: list[str], hyp: list[str]) -> int:
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


def score(reference: str, hypothesis: str, language: str) -> tuple[int, int]:
    """(edits, reference length) in words, or characters for Chinese and Japanese."""
    if language in _CJK_LANGS:
        ref, hyp = _chinese_chars(reference), _chinese_chars(hypothesis)
    else:
        ref, hyp = _english_words(reference), _english_words(hypothesis)
    return _edit_distance(ref, hyp), len(ref)


def read_manifest(path: Path) -> list[dict[str, str]]:
    """Rows of a manifest.tsv with at least `file`, `language` and `reference_text` columns."""
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def evaluate(engine, folder: Path) -> AccuracyReport:
    """Transcribe every clip listed in `folder/manifest.tsv` and score it."""
    from capswriter.files.decode import load_audio

    report = AccuracyReport()
    for row in read_manifest(folder / "manifest.tsv"):
        language = row["language"]
        text = engine.transcribe(load_audio(folder / row["file"])).text
        errors, length = score(row["reference_text"], text, language)
        report.clips.append(
            ClipScore(row["file"], language, row["reference_text"], text, errors, length)
        )
    return report
