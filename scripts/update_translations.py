"""Refresh the translation sources from the code and compile them for the app.

    python scripts/update_translations.py          # lupdate, then lrelease
    python scripts/update_translations.py --check  # exit 1 if a .ts misses strings of the
                                                   # code or a .qm is not its .ts compiled

``pyside6-lupdate`` collects every ``translate("Context", "text")``, ``self.tr("text")`` and
``QT_TRANSLATE_NOOP`` of the client into ``capswriter/assets/i18n/capswriter_<lang>.ts``
(translations already made are kept); translators fill those in (Qt Linguist:
``pyside6-linguist``); ``pyside6-lrelease`` compiles them to the ``.qm`` files the app loads.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
I18N = ROOT / "capswriter" / "assets" / "i18n"
LANGUAGES = ("zh_CN",)
SOURCES = sorted((ROOT / "capswriter" / "client").rglob("*.py")) + [ROOT / "capswriter" / "keys.py"]


def tool(name: str) -> str:
    """A PySide6 tool from the same environment as this Python."""
    beside = Path(sys.executable).parent / f"pyside6-{name}"
    return str(beside) if beside.exists() else f"pyside6-{name}"


def ts_path(language: str) -> Path:
    return I18N / f"capswriter_{language}.ts"


def release(ts: Path, qm: Path) -> None:
    subprocess.run([tool("lrelease"), "-silent", str(ts), "-qm", str(qm)], check=True)


def collect(ts: Path, language: str, quiet: bool = False) -> None:
    """Bring ``ts`` up to date with the strings of the code (its translations are kept)."""
    subprocess.run([tool("lupdate"), "-no-obsolete", "-locations", "none",
                    "-target-language", language, *map(str, SOURCES), "-ts", str(ts)],
                   check=True, capture_output=quiet)


def messages(ts: Path) -> set[tuple[str, str]]:
    """The (context, source text) pairs a .ts file holds."""
    return {(context.findtext("name"), message.findtext("source"))
            for context in ET.parse(ts).iter("context") for message in context.iter("message")}


def update() -> None:
    I18N.mkdir(parents=True, exist_ok=True)
    for language in LANGUAGES:
        ts = ts_path(language)
        collect(ts, language)
        release(ts, ts.with_suffix(".qm"))


def check() -> int:
    """1 when a .ts does not hold exactly the strings of the code, or a committed .qm is not
    what its .ts compiles to."""
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for language in LANGUAGES:
            ts = ts_path(language)
            current = Path(tmp) / ts.name
            shutil.copyfile(ts, current)
            collect(current, language, quiet=True)
            new, gone = messages(current) - messages(ts), messages(ts) - messages(current)
            for context, source in sorted(new):
                problems.append(f"{ts.name} lacks {context}: {source!r}")
            for context, source in sorted(gone):
                problems.append(f"{ts.name} holds {context}: {source!r}, no longer in the code")
            fresh = Path(tmp) / ts.with_suffix(".qm").name
            release(ts, fresh)
            if fresh.read_bytes() != ts.with_suffix(".qm").read_bytes():
                problems.append(f"{fresh.name} is not compiled from its .ts")
    for problem in problems:
        print(problem)
    if problems:
        print("run scripts/update_translations.py (then translate what is new)")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the .qm files")
    args = parser.parse_args()
    if args.check:
        return check()
    update()
    return 0


if __name__ == "__main__":
    sys.exit(main())
