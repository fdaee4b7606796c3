"""`capswriter bench accuracy`: several recognizers on the same clips, scored side by side.

The clips come from a folder with a ``manifest.tsv`` (``file``, ``language``,
``reference_text``; other columns are ignored). Each system (see accuracy_systems.py)
transcribes every clip; each transcript is scored (WER for English, CER for Chinese), checked
for looping and emptiness, and kept with a word-level diff against its reference.

In long mode the clips of each language are joined, in manifest order and repeated from the
start when there are too few, into one recording of about the length asked for, with pauses
(0.8 s and 2 s by turns, or as asked) filled with a -60 dBFS noise floor as a real recording
has, or with digital silence (muted stretches, joined files); each system then transcribes that
as one file and is scored against the joined references.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from capswriter.audio import SAMPLE_RATE
from capswriter.config import Settings
from capswriter.errors import ConfigError, UnsupportedAudio
from capswriter.tools import accuracy_systems as systems
from capswriter.tools.accuracy import CJK_LANGUAGES, ITN_LANGUAGES, AccuracyReport, score_clip
from capswriter.tools.runlog import StatusLine

LONG_PAUSES_S = (0.8, 2.0)
# What fills the pauses of a long recording: a noise floor, or exact zeros.
GAPS = ("noise", "zero")
LONG_LEAD_S = 1.0
NOISE_RMS = 0.001  # -60 dBFS
SERVER_LOG = Path(tempfile.gettempdir()) / "capswriter-bench-accuracy-server.log"
# A clip gets this long plus this much per second of audio before it counts as failed.
CLIP_TIMEOUT_S = 60.0
CLIP_TIMEOUT_PER_AUDIO_S = 2.0


@dataclass
class SystemRun:
    """One system's transcripts of every clip, or why it did not run."""

    name: str
    description: str = ""
    skipped: str = ""  # the reason, when the system is not available here
    load_seconds: float = 0.0
    wall_seconds: float = 0.0  # transcribing all clips, loading excluded
    report: AccuracyReport = field(default_factory=AccuracyReport)

    def to_dict(self) -> dict[str, Any]:
        return {"description": self.description, "skipped": self.skipped,
                "load_seconds": round(self.load_seconds, 3),
                "wall_seconds": round(self.wall_seconds, 3), **self.report.to_dict()}


@dataclass
class AccuracyRun:
    folder: str
    long_seconds: float | None  # None: clip by clip
    threads: int
    inputs: list[dict[str, Any]]  # what was transcribed: file, language, seconds (, parts)
    runs: list[SystemRun] = field(default_factory=list)

    @property
    def languages(self) -> list[str]:
        return sorted({str(i["language"]) for i in self.inputs},
                      key=lambda lang: (lang != "en", lang))  # fmt: skip

    def table(self) -> str:
        """Systems as rows: error rate per language, loops, empty outputs, wall time."""
        rate_columns = [f"{lang.upper()} {'CER' if lang in CJK_LANGUAGES else 'WER'}"
                        for lang in self.languages]  # fmt: skip
        itn = [lang for lang in self.languages if lang in ITN_LANGUAGES]
        rate_columns += [f"{lang.upper()} +ITN" for lang in itn]
        failed = any(r.report.failed for r in self.runs)
        long = self.long_seconds is not None
        header = f"{'system':<10}" + "".join(f"{c:>9}" for c in rate_columns)
        header += f"{'loops':>7}" + (f"{'repeats':>9}{'dropped':>9}" if long else "")
        header += f"{'empties':>9}"
        header += (f"{'failed':>8}" if failed else "") + f"{'wall s':>9}"
        what = (f"one ~{self.long_seconds:g} s recording per language" if long
                else f"{len(self.inputs)} clips")
        lines = [f"accuracy on {self.folder} ({what}, {self.threads} threads)", header]
        for run in self.runs:
            if run.skipped:
                lines.append(f"{run.name:<10} skipped: {run.skipped}")
                continue
            line = f"{run.name:<10}" + "".join(f"{run.report.rate(lang):>9.1%}"
                                               for lang in self.languages)  # fmt: skip
            line += "".join(f"{run.report.itn_rate(lang):>9.1%}" for lang in itn)
            line += f"{run.report.looping:>7}"
            if long:
                line += f"{run.report.repeats:>9}{run.report.longest_drop:>9}"
            line += f"{run.report.empty:>9}" + (f"{run.report.failed:>8}" if failed else "")
            lines.append(line + f"{run.wall_seconds:>9.1f}")
        judged = next((r for r in self.runs if not r.skipped), None)
        unjudged = [c.file for c in judged.report.clips if c.reference_repeats] if judged else []
        if unjudged:
            lines.append(f"not judged for loops, their references repeat themselves: "
                         f"{', '.join(unjudged)}")
        if long:
            lines.append("dropped: the most reference units in a row one transcript leaves out")
        if itn:
            lines.append("+ITN: the same clips with spoken numbers written in digits in the "
                         "reference and the transcript alike")
        lines.append("")
        for run in self.runs:
            if not run.skipped:
                lines.append(f"{run.name}: {run.description}; loaded in {run.load_seconds:.1f} s")
        return "\n".join(lines)

    def clip_lines(self) -> str:
        """Per clip: each system's errors over reference length and its diff to the reference."""
        lines = []
        done = [r for r in self.runs if not r.skipped]
        for k, item in enumerate(self.inputs):
            lines.append(f"{item['file']} ({item['language']}, {item['seconds']:.1f} s)")
            for run in done:
                clip = run.report.clips[k]
                flags = ("LOOP " if clip.looping else "") + ("EMPTY " if clip.empty else "")
                if clip.error:
                    flags += f"FAILED ({clip.error}) "
                line = f"  {run.name:<10}{clip.errors:>4}/{clip.length:<4} {flags}{clip.diff}"
                if clip.repeats:
                    line += f"  [repeats: {'; '.join(clip.repeats)}]"
                lines.append(line)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "mode": "clips" if self.long_seconds is None else "long",
            "long_seconds": self.long_seconds,
            "threads": self.threads,
            "inputs": self.inputs,
            "systems": {r.name: r.to_dict() for r in self.runs},
        }


# ---- clips ---------------------------------------------------------------------------------


def load_clips(folder: Path) -> list[systems.Clip]:
    """The clips listed in ``folder/manifest.tsv``, decoded to 16 kHz."""
    from capswriter.files.decode import load_audio

    manifest = folder / "manifest.tsv"
    if not manifest.is_file():
        raise ConfigError(f"{folder} has no manifest.tsv (tab-separated: file, language, "
                          "reference_text)")
    with open(manifest, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    missing = {"file", "language", "reference_text"} - set(rows[0] if rows else {})
    if missing:
        raise ConfigError(f"{manifest} lacks the column(s) {', '.join(sorted(missing))}")
    clips = []
    for row in rows:
        path = folder / row["file"]
        if not path.is_file():
            raise UnsupportedAudio(f"{path} is listed in {manifest} but does not exist")
        clips.append(systems.Clip(row["file"], row["language"], row["reference_text"],
                                  load_audio(path), path))
    return clips


def long_recordings(
    clips: Sequence[systems.Clip], seconds: float, folder: Path, seed: int = 0, *,
    gap: str = "noise", pauses: Sequence[float] = LONG_PAUSES_S,
) -> tuple[list[systems.Clip], list[dict[str, Any]]]:
    """Per language, one WAV of about ``seconds`` joined from its clips, and where each sits.

    ``gap`` "noise" lays a -60 dBFS floor under the whole recording; "zero" leaves the pauses
    (and the lead) digital silence. ``pauses`` (seconds) are used by turns.
    """
    if gap not in GAPS:
        raise ConfigError(f"unknown gap {gap!r}; choose from {', '.join(GAPS)}")
    if not pauses or min(pauses) < 0:
        raise ConfigError("pauses must be one or more lengths of at least 0 s")
    rng = np.random.default_rng(seed)
    recordings, inputs = [], []
    for language in dict.fromkeys(c.language for c in clips):
        chosen = [c for c in clips if c.language == language]
        parts = [np.zeros(int(LONG_LEAD_S * SAMPLE_RATE), np.float32)]
        position = len(parts[0])
        placed: list[dict[str, Any]] = []
        while position < seconds * SAMPLE_RATE:
            clip = chosen[len(placed) % len(chosen)]
            pause = np.zeros(int(pauses[len(placed) % len(pauses)] * SAMPLE_RATE), np.float32)
            placed.append({"file": clip.file, "start": round(position / SAMPLE_RATE, 2),
                           "end": round((position + len(clip.samples)) / SAMPLE_RATE, 2)})
            parts += [clip.samples, pause]
            position += len(clip.samples) + len(pause)
        joined = np.concatenate(parts)
        if gap == "noise":
            joined += rng.normal(0.0, NOISE_RMS, len(joined)).astype(np.float32)
        path = folder / f"long_{language}.wav"
        sf.write(path, np.clip(joined, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16")
        samples, _ = sf.read(path, dtype="float32")  # exactly what the file holds
        by_name = {c.file: c for c in chosen}
        # A space between clips: nothing for Chinese scoring, a word boundary for the rest.
        reference = " ".join(by_name[p["file"]].reference for p in placed)
        recordings.append(systems.Clip(path.name, language, reference, samples, path))
        inputs.append({"file": path.name, "language": language,
                       "seconds": round(len(samples) / SAMPLE_RATE, 2), "parts": placed})
    return recordings, inputs


# ---- running -------------------------------------------------------------------------------


def parse_systems(text: str | None) -> list[str]:
    """``"ours,bare"`` → ["ours", "bare"]; None or empty means all of them."""
    if not text:
        return list(systems.SYSTEMS)
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in systems.SYSTEMS]
    if unknown:
        raise ConfigError(f"unknown system(s) {', '.join(unknown)}; choose from "
                          f"{', '.join(systems.SYSTEMS)}")
    return list(dict.fromkeys(names))


def server_environment(settings: Settings) -> dict[str, str]:
    """The recognition settings of this run, for a server started as a subprocess."""
    env = {f"CAPSWRITER_ASR_{key.upper()}": str(value)
           for key, value in asdict(settings.asr).items() if key != "num_threads"}
    env["CAPSWRITER_FILES_MAX_SEGMENT_S"] = str(settings.files.max_segment_s)
    return env


def clip_deadline(clip: systems.Clip) -> float:
    """Seconds a system may take for a clip before the clip counts as failed."""
    return CLIP_TIMEOUT_S + CLIP_TIMEOUT_PER_AUDIO_S * clip.seconds


class AccuracyBench:
    """Runs one system at a time over every clip, and frees it before the next."""

    def __init__(self, settings: Settings, names: list[str], threads: int,
                 bare_precision: str, dictation_speed: float, as_files: bool,
                 status: StatusLine | None = None) -> None:
        self.settings = settings
        self.names = names
        self.threads = threads
        self.bare_precision = bare_precision
        self.dictation_speed = dictation_speed
        self.as_files = as_files
        self.status = status or StatusLine()

    def run(self, clips: list[systems.Clip]) -> list[SystemRun]:
        runs = {name: SystemRun(name) for name in self.names}
        for name in self.names:
            if name in systems.SERVER_SYSTEMS:
                continue
            spec = systems.SystemSpec(name, self.settings, self.threads, self.bare_precision,
                                      self.as_files)
            isolated = systems.Isolated(spec, clip_deadline)
            try:
                self._measure(runs[name], isolated.start, isolated, clips)
            finally:
                isolated.stop()
        served = [n for n in self.names if n in systems.SERVER_SYSTEMS]
        if served:
            self._run_served(served, runs, clips)
        return [runs[name] for name in self.names]

    def _run_served(self, names: list[str], runs: dict[str, SystemRun],
                    clips: list[systems.Clip]) -> None:
        from capswriter.errors import ServerStartFailed
        from capswriter.tools.local_server import LocalServer

        server = LocalServer(1, self.threads, models_dir=self.settings.models_path,
                             log_path=SERVER_LOG, env=server_environment(self.settings))
        started = time.perf_counter()
        try:
            server.start()
        except ServerStartFailed as exc:
            for name in names:
                runs[name].skipped = str(exc)
            return
        load_seconds = time.perf_counter() - started
        language = self.settings.asr.language
        try:
            for name in names:
                system: systems.System = (
                    systems.Server(server.address, language, clip_deadline) if name == "server"
                    else systems.Dictation(server.address, self.dictation_speed, language,
                                           clip_deadline)
                )
                self._measure(runs[name], lambda: "", system, clips)
                runs[name].description += f"; 1 worker, {self.threads} threads"
                runs[name].load_seconds = load_seconds
        finally:
            server.stop()

    def _measure(self, run: SystemRun, start: Callable[[], str], system: systems.System,
                 clips: list[systems.Clip]) -> None:
        """``start`` readies the system and says why it cannot run, if it cannot."""
        self.status.update(f"{run.name}: loading", force=True)
        started = time.perf_counter()
        reason = start()
        run.load_seconds = time.perf_counter() - started
        if reason:
            run.skipped = reason
            self.status.done(f"{run.name}: skipped ({reason})")
            return
        run.description = system.description
        started = time.perf_counter()
        for k, clip in enumerate(clips):
            self.status.update(f"{run.name}: {k}/{len(clips)} clips, {clip.file}")
            clip_started = time.perf_counter()
            text, error = "", ""
            try:
                text = system.transcribe(clip)
            except Exception as exc:  # noqa: BLE001 - a failed clip is a result of its own
                error = str(exc) if isinstance(exc, systems.ClipFailed) \
                    else f"{type(exc).__name__}: {exc}"
            run.report.clips.append(score_clip(clip.file, clip.language, clip.reference, text,
                                               time.perf_counter() - clip_started, error))
        run.wall_seconds = time.perf_counter() - started
        self.status.done(f"{run.name}: {len(clips)} clips in {run.wall_seconds:.1f} s")


def run_accuracy(
    settings: Settings,
    folder: Path,
    names: list[str] | None = None,
    *,
    threads: int | None = None,
    long_seconds: float | None = None,
    bare_precision: str | None = None,
    dictation_speed: float = 8.0,
    gap: str = "noise",
    pauses: Sequence[float] = LONG_PAUSES_S,
) -> AccuracyRun:
    """Transcribe the folder's clips (or, with ``long_seconds``, long recordings joined from
    them) with each system and score every transcript."""
    threads = threads or settings.asr.num_threads or os.cpu_count() or 1
    clips = load_clips(folder)
    bench = AccuracyBench(settings, names or list(systems.SYSTEMS), threads,
                          bare_precision or settings.asr.precision, dictation_speed,
                          as_files=long_seconds is not None, status=StatusLine(sys.stderr))
    with tempfile.TemporaryDirectory(prefix="capswriter-accuracy-") as scratch:
        if long_seconds is None:
            inputs = [{"file": c.file, "language": c.language, "seconds": round(c.seconds, 2)}
                      for c in clips]  # fmt: skip
        else:
            clips, inputs = long_recordings(clips, long_seconds, Path(scratch), gap=gap,
                                            pauses=pauses)
        run = AccuracyRun(str(folder), long_seconds, threads, inputs)
        run.runs = bench.run(clips)
    return run


def write_json(run: AccuracyRun, path: Path) -> Path:
    """The run's figures and clips as JSON at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    return path
