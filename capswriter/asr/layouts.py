"""Manifests for the folders of sherpa-onnx's own model releases, read from their file names.

sherpa-onnx publishes each model as `sherpa-onnx-<name>.tar.bz2` holding one folder; the files
in it follow a few fixed namings per model kind (e.g. `base-encoder.int8.onnx` for Whisper,
`model.int8.onnx` + `tokens.txt` for SenseVoice). Where a layout is recognised, the installer
writes the manifest.toml the engine needs, so a downloaded archive works without editing.
"""

from __future__ import annotations

import re
from pathlib import Path

from capswriter.asr.manifest import ModelManifest

# Single-file kinds share the `model.onnx` + `tokens.txt` layout; the folder name tells them
# apart. Checked in order, so the more specific words come first.
_SINGLE_FILE_KINDS = (
    ("sense-voice", "sense_voice", "model"),
    ("sense_voice", "sense_voice", "model"),
    ("paraformer", "paraformer", "paraformer"),
    ("nemo", "nemo_ctc", "model"),
    ("dolphin", "dolphin_ctc", "model"),
    ("zipformer-ctc", "zipformer_ctc", "model"),
    ("wenet", "wenet_ctc", "model"),
)
_LANGUAGE_WORDS = ("zh", "en", "ja", "ko", "yue", "de", "fr", "es", "ru", "multi")


def _pick(folder: Path, stem: str) -> tuple[str | None, str | None]:
    """(int8 file, float32 file) named `stem.int8.onnx` / `stem.onnx`, where present."""
    int8 = folder / f"{stem}.int8.onnx"
    fp32 = folder / f"{stem}.onnx"
    return (int8.name if int8.is_file() else None, fp32.name if fp32.is_file() else None)


def _files_and_fp32(
    folder: Path, stems: dict[str, str], prefer_fp32: frozenset[str] = frozenset()
) -> tuple[dict[str, str], dict[str, str]] | None:
    """Default files (int8 where there is one) and the fp32 variant's overrides; None if a
    stem has neither file."""
    files: dict[str, str] = {}
    fp32: dict[str, str] = {}
    for arg, stem in stems.items():
        int8, full = _pick(folder, stem)
        if int8 is None and full is None:
            return None
        chosen = full if (arg in prefer_fp32 and full) else (int8 or full)
        files[arg] = chosen  # type: ignore[assignment]
        if full and full != chosen:
            fp32[arg] = full
    return files, fp32


def _languages(name: str) -> str:
    words = re.split(r"[-_.]", name.lower())
    return ",".join(w for w in _LANGUAGE_WORDS if w in words)


def _manifest(name: str, kind: str, files: dict[str, str], fp32: dict[str, str],
              language: str, source: str) -> ModelManifest:  # fmt: skip
    return ModelManifest(
        name=name,
        kind=kind,
        files=files,
        language=language,
        variants={"fp32": fp32} if fp32 else {},
        description=f"sherpa-onnx model {source}, manifest written from its file names",
    )


def _whisper(folder: Path, name: str, source: str) -> ModelManifest | None:
    # Whisper files carry the size as a prefix: tiny.en-encoder.int8.onnx, base-tokens.txt …
    for tokens in sorted(folder.glob("*-tokens.txt")):
        prefix = tokens.name[: -len("-tokens.txt")]
        stems = {"encoder": f"{prefix}-encoder", "decoder": f"{prefix}-decoder"}
        found = _files_and_fp32(folder, stems)
        if found:
            files, fp32 = found
            files["tokens"] = tokens.name
            language = "en" if prefix.endswith(".en") else "multi"
            return _manifest(name, "whisper", files, fp32, language, source)
    return None


def _moonshine(folder: Path, name: str, source: str) -> ModelManifest | None:
    stems = {"preprocessor": "preprocess", "encoder": "encode",
             "uncached_decoder": "uncached_decode", "cached_decoder": "cached_decode"}  # fmt: skip
    found = _files_and_fp32(folder, stems)
    if not found or not (folder / "tokens.txt").is_file():
        return None
    files, fp32 = found
    files["tokens"] = "tokens.txt"
    return _manifest(name, "moonshine", files, fp32, _languages(source) or "en", source)


def _streaming_paraformer(folder: Path, name: str, source: str) -> ModelManifest | None:
    words = source.lower()
    if "streaming" not in words or "paraformer" not in words:
        return None
    if not (folder / "tokens.txt").is_file():
        return None
    found = _files_and_fp32(folder, {"encoder": "encoder", "decoder": "decoder"})
    if not found:
        return None
    files, fp32 = found
    files["tokens"] = "tokens.txt"
    return _manifest(name, "streaming_paraformer", files, fp32, _languages(source) or "zh,en",
                     source)  # fmt: skip


def _transducer(folder: Path, name: str, source: str) -> ModelManifest | None:
    # icefall exports name them encoder-epoch-99-avg-1.onnx etc.; the stem is whatever follows.
    joiners = sorted(p for p in folder.glob("joiner*.onnx") if not p.name.endswith(".int8.onnx"))
    joiners = joiners or sorted(folder.glob("joiner*.int8.onnx"))
    if not joiners or not (folder / "tokens.txt").is_file():
        return None
    suffix = joiners[0].name.removeprefix("joiner").removesuffix(".onnx").removesuffix(".int8")
    stems = {part: f"{part}{suffix}" for part in ("encoder", "decoder", "joiner")}
    # The int8 decoder of these models is known to lose accuracy; sherpa-onnx's own examples
    # pair the int8 encoder and joiner with the float32 decoder.
    found = _files_and_fp32(folder, stems, prefer_fp32=frozenset({"decoder"}))
    if not found:
        return None
    files, fp32 = found
    files["tokens"] = "tokens.txt"
    # Streaming releases have the same three files; their encoder reads chunks and caches.
    kind = "streaming_transducer" if "streaming" in source.lower() else "transducer"
    return _manifest(name, kind, files, fp32, _languages(source), source)


def _encoder_decoder(folder: Path, name: str, source: str) -> ModelManifest | None:
    # FireRedASR: plain encoder / decoder and tokens, no joiner.
    if not (folder / "tokens.txt").is_file() or any(folder.glob("joiner*.onnx")):
        return None
    found = _files_and_fp32(folder, {"encoder": "encoder", "decoder": "decoder"})
    if not found:
        return None
    files, fp32 = found
    files["tokens"] = "tokens.txt"
    return _manifest(name, "fire_red_asr", files, fp32, _languages(source) or "zh,en", source)


def _single_file(folder: Path, name: str, source: str) -> ModelManifest | None:
    if not (folder / "tokens.txt").is_file():
        return None
    lowered = source.lower()
    for word, kind, arg in _SINGLE_FILE_KINDS:
        if word in lowered:
            found = _files_and_fp32(folder, {arg: "model"})
            if not found:
                return None
            files, fp32 = found
            files["tokens"] = "tokens.txt"
            language = _languages(source)
            if kind == "sense_voice":
                language = "zh,en,ja,ko,yue"
            return _manifest(name, kind, files, fp32, language, source)
    return None


def manifest_for_layout(folder: Path, name: str, source: str = "") -> ModelManifest | None:
    """A manifest for a sherpa-onnx release folder, or None when its layout is not known.

    `source` is the release's own name (e.g. sherpa-onnx-whisper-base), whose words tell
    single-file kinds apart and give the languages; it defaults to the folder's name.
    """
    source = source or folder.name
    for detect in (_whisper, _moonshine, _streaming_paraformer, _transducer, _encoder_decoder,
                   _single_file):  # fmt: skip
        manifest = detect(folder, name, source)
        if manifest is not None:
            return manifest
    return None
