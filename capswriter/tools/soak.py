"""A day of dictation in minutes: the real tray app, used the way a person uses it, many times.

The app runs as ``capswriter client`` on a private X server (Xvfb) and records from a private
PulseAudio whose microphone plays real recordings. For each dictation the harness focuses a text
field in another program, puts a known text on the clipboard, holds CapsLock (xdotool), plays a
recording into the microphone, releases the key and waits for the words to appear in the field.
It then checks the words against the recording's reference, that CapsLock is as it was and
that the user's clipboard is back. Some dictations are several recordings with pauses between
them (pieces decoded while the key is held); files are dropped on the app mid-way, and the
server is killed once, as a crash would, and must come back by itself.

    capswriter bench soak --dictations 300 --clips path/to/clips   # a folder with manifest.tsv

What it reports: dictations done, app crashes, dictations lost (no text), garbled (over the
error limit), CapsLock or clipboard wrong afterwards, release-to-text p50/p95 (key up to the
first change of the field), and the RSS of the app and of the server with its workers.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import psutil

from capswriter.config import PROJECT_ROOT, Settings
from capswriter.tools.desktop_session import FocusTarget, PulseServer, XServer, wait_until
from capswriter.tools.local_server import free_port

# Errors per reference unit above which a dictation counts as garbled: words for English,
# characters for Chinese (Whisper base writes many sound-alike characters).
MAX_WER = 0.25
MAX_CER = 0.6
# Near-silence between the recordings of a dictation with pauses: a room, not digital zero.
PAUSE_NOISE_DBFS = -60.0


@dataclass
class SoakClip:
    name: str
    language: str
    reference: str
    pcm: np.ndarray  # int16, 16 kHz

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 16000


@dataclass
class SoakConfig:
    dictations: int = 20
    clips: Path = PROJECT_ROOT / "tests" / "data" / "real"
    workers: int = 1  # the app's server: general workers (a dictation worker comes on top)
    pause_share: float = 0.3  # dictations made of 2-3 recordings with pauses between them
    files: int = 2  # recordings dropped on the app as files, mid-way
    restart_server: bool = True  # kill the app's server once, mid-way
    max_clip_seconds: float = 30.0
    seed: int = 1
    workdir: Path | None = None  # kept when given; a temporary folder otherwise


@dataclass
class DictationRecord:
    index: int
    clip: str
    language: str
    seconds: float
    reference: str
    text: str = ""
    errors: int = 0
    length: int = 0
    release_to_text_s: float | None = None
    caps_lock_ok: bool = True
    clipboard_ok: bool = True
    app_crashed: bool = False
    app_rss_mb: float = 0.0  # after this dictation: the curve shows growth or a plateau

    @property
    def lost(self) -> bool:
        return not self.text.strip()

    @property
    def error_rate(self) -> float:
        return self.errors / max(1, self.length)

    @property
    def garbled(self) -> bool:
        limit = MAX_CER if self.language.startswith("zh") else MAX_WER
        return not self.lost and self.error_rate > limit


@dataclass
class SoakSummary:
    dictations: list[DictationRecord] = field(default_factory=list)
    crashes: int = 0
    files_sent: int = 0
    files_written: int = 0
    server_restarts: int = 0
    client_rss_mb: tuple[float, float] = (0.0, 0.0)
    server_rss_mb: tuple[float, float] = (0.0, 0.0)
    seconds: float = 0.0

    @property
    def lost(self) -> list[DictationRecord]:
        return [d for d in self.dictations if d.lost]

    @property
    def garbled(self) -> list[DictationRecord]:
        return [d for d in self.dictations if d.garbled]

    def latencies(self) -> list[float]:
        return [d.release_to_text_s for d in self.dictations if d.release_to_text_s is not None]

    def percentile(self, q: float) -> float:
        values = sorted(self.latencies())
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]

    @property
    def passed(self) -> bool:
        return (self.crashes == 0 and not self.lost and not self.garbled
                and all(d.caps_lock_ok and d.clipboard_ok for d in self.dictations)
                and self.files_written == self.files_sent)

    def table(self) -> str:
        done = len(self.dictations)
        lines = [
            f"dictations            {done} in {self.seconds / 60:.1f} min",
            f"app crashes           {self.crashes}",
            f"lost (no text)        {len(self.lost)}",
            f"garbled               {len(self.garbled)} (WER > {MAX_WER} / CER > {MAX_CER})",
            f"CapsLock wrong after  {sum(not d.caps_lock_ok for d in self.dictations)}",
            f"clipboard wrong after {sum(not d.clipboard_ok for d in self.dictations)}",
            f"release-to-text       p50 {self.percentile(0.5) * 1000:.0f} ms, "
            f"p95 {self.percentile(0.95) * 1000:.0f} ms, max "
            f"{max(self.latencies(), default=float('nan')) * 1000:.0f} ms",
            f"files dropped         {self.files_sent}, transcribed {self.files_written}",
            f"server restarts       {self.server_restarts}",
            f"app RSS               {self.client_rss_mb[0]:.0f} → {self.client_rss_mb[1]:.0f} MB",
            f"server+workers RSS    {self.server_rss_mb[0]:.0f} → {self.server_rss_mb[1]:.0f} MB",
        ]
        for d in (self.lost + self.garbled)[:10]:
            lines.append(f"  #{d.index} {d.clip}: {d.text!r} (reference {d.reference!r})")
        return "\n".join(lines)


def load_clips(folder: Path, max_seconds: float) -> list[SoakClip]:
    """The recordings listed in ``folder/manifest.tsv`` (file, language, reference_text)."""
    from capswriter.tools.bench_accuracy import load_clips as load_manifest

    clips = []
    for clip in load_manifest(folder):
        if clip.seconds <= max_seconds:
            pcm = np.clip(np.round(clip.samples * 32767), -32768, 32767).astype(np.int16)
            clips.append(SoakClip(clip.file, clip.language, clip.reference, pcm))
    if not clips:
        raise ValueError(f"no recording of at most {max_seconds:g} s in {folder}")
    return clips


def with_pauses(parts: list[SoakClip], rng: random.Random) -> SoakClip:
    """Recordings of one language spoken one after another with pauses of 0.8-1.6 s."""
    noise_level = 32767 * 10 ** (PAUSE_NOISE_DBFS / 20)
    pieces: list[np.ndarray] = []
    for k, part in enumerate(parts):
        if k:
            gap = int(rng.uniform(0.8, 1.6) * 16000)
            pieces.append(np.round(np.random.default_rng(k).normal(0, noise_level, gap))
                          .astype(np.int16))
        pieces.append(part.pcm)
    joiner = "" if parts[0].language.startswith("zh") else " "
    return SoakClip(" + ".join(p.name for p in parts), parts[0].language,
                    joiner.join(p.reference for p in parts), np.concatenate(pieces))


def plan(clips: list[SoakClip], config: SoakConfig) -> list[SoakClip]:
    """The dictations of the run: every clip in turn, some joined with pauses."""
    rng = random.Random(config.seed)
    by_language: dict[str, list[SoakClip]] = {}
    for clip in clips:
        by_language.setdefault(clip.language, []).append(clip)
    order = list(clips)
    rng.shuffle(order)
    dictations = []
    for i in range(config.dictations):
        clip = order[i % len(order)]
        same = by_language[clip.language]
        if rng.random() < config.pause_share and len(same) > 1:
            parts = [clip] + rng.sample([c for c in same if c is not clip],
                                        min(len(same) - 1, rng.choice((1, 2))))
            if sum(p.seconds for p in parts) + 3.2 <= config.max_clip_seconds:
                clip = with_pauses(parts, rng)
        dictations.append(clip)
    return dictations


class AppUnderTest:
    """``capswriter client`` in a process of its own on the private desktop."""

    def __init__(self, workdir: Path, x: XServer, pulse: PulseServer, settings: Settings):
        self.dir = workdir
        self.config = workdir / "config.toml"
        settings.save(self.config)
        self.port = settings.server.port
        self.log = workdir / "cache" / "logs" / "client.log"
        self.env = {
            **os.environ, **pulse.env,
            "CAPSWRITER_CONFIG": str(self.config),
            "CAPSWRITER_CONFIG_DIR": str(workdir / "config"),
            "CAPSWRITER_DATA_DIR": str(workdir / "data"),
            "CAPSWRITER_CACHE_DIR": str(workdir / "cache"),
            "CAPSWRITER_MODELS_DIR": str(settings.models_path),
            "QT_QPA_PLATFORM": "xcb",
            "DISPLAY": x.display,
            "XDG_RUNTIME_DIR": str(workdir),  # its own single-instance socket
            "TMPDIR": str(workdir),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self._read = 0

    def start(self) -> None:
        self._read = len(self._text())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "capswriter", "client"], env=self.env, cwd=self.dir,
            stdout=subprocess.DEVNULL, stderr=(self.dir / "client.stderr").open("ab"),
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _text(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def wait_for_log(self, text: str, timeout: float) -> bool:
        """Whether the app logs ``text`` (after what the previous wait found) in time."""
        def found() -> int:
            return self._text().find(text, self._read) + 1

        at = wait_until(lambda: found() or not self.alive(), timeout, interval=0.02)
        position = found()
        if position:
            self._read = position - 1 + len(text)
        return bool(position) and bool(at)

    def server_processes(self) -> list[psutil.Process]:
        if self.proc is None:
            return []
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            return []

    def rss_mb(self) -> tuple[float, float]:
        """(app, server with its workers) resident memory in MB."""
        def rss(process: psutil.Process) -> float:
            try:
                return process.memory_info().rss / 2**20
            except psutil.Error:
                return 0.0

        app = rss(psutil.Process(self.proc.pid)) if self.alive() and self.proc else 0.0
        return app, sum(rss(p) for p in self.server_processes())

    def hand_over(self, files: list[Path]) -> None:
        """Drop files on the running app, as a second launch with files does."""
        subprocess.run([sys.executable, "-m", "capswriter", "client", *map(str, files)],
                       env=self.env, cwd=self.dir, timeout=60, capture_output=True)

    def stop(self) -> None:
        if self.alive() and self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def server_ready(port: int) -> bool:
    from capswriter.wire.launch import fetch_health

    try:
        return fetch_health(f"http://127.0.0.1:{port}", timeout=1.0).ready
    except Exception:  # noqa: BLE001 - not up yet
        return False


def app_settings(config: SoakConfig, port: int) -> Settings:
    settings = Settings()
    settings.server.port = port
    settings.server.workers = config.workers
    settings.client.keep_stream_open = True
    settings.client.recording_overlay = True
    settings.client.sound_cues = True
    return settings


class Soak:
    def __init__(self, config: SoakConfig, on_dictation=None) -> None:  # type: ignore[no-untyped-def]
        self.config = config
        self.on_dictation = on_dictation or (lambda record: None)
        self.summary = SoakSummary()

    def run(self) -> SoakSummary:
        from capswriter.tools.accuracy import score

        config = self.config
        clips = load_clips(config.clips, config.max_clip_seconds)
        dictations = plan(clips, config)
        workdir = config.workdir or Path(tempfile.mkdtemp(prefix="capswriter-soak-"))
        workdir.mkdir(parents=True, exist_ok=True)
        x, pulse = XServer(), PulseServer(workdir / "pulse")
        x.start()
        target: FocusTarget | None = None
        app: AppUnderTest | None = None
        started = time.monotonic()
        try:
            pulse.start()
            target = FocusTarget(x, workdir)
            app = AppUnderTest(workdir, x, pulse, app_settings(config, free_port()))
            self._start_app(app)
            self.summary.client_rss_mb = (app.rss_mb()[0], 0.0)
            self.summary.server_rss_mb = (app.rss_mb()[1], 0.0)
            file_at = config.dictations // 3
            restart_at = 2 * config.dictations // 3
            dropped: list[Path] = []
            for index, clip in enumerate(dictations):
                if index == file_at and config.files:
                    dropped = self._drop_files(app, clips, workdir)
                if index == restart_at and config.restart_server and index:
                    self._restart_server(app)
                record = self._dictate(index, clip, app, x, pulse, target)
                record.errors, record.length = score(clip.reference, record.text, clip.language)
                self.summary.dictations.append(record)
                self.on_dictation(record)
            self.summary.files_written = sum(
                wait_until(lambda p=p: p.with_suffix(".txt").exists(), 300) is True
                for p in dropped)
            end_rss = app.rss_mb()
            self.summary.client_rss_mb = (self.summary.client_rss_mb[0], end_rss[0])
            self.summary.server_rss_mb = (self.summary.server_rss_mb[0], end_rss[1])
        finally:
            self.summary.seconds = time.monotonic() - started
            if app is not None:
                app.stop()
            if target is not None:
                target.close()
            pulse.stop()
            x.stop()
            if config.workdir is None:
                shutil.rmtree(workdir, ignore_errors=True)
        return self.summary

    def _start_app(self, app: AppUnderTest) -> None:
        app.start()
        if not app.wait_for_log("push-to-talk ready", 60):
            raise RuntimeError(f"the app did not start; see {app.log}")
        if not wait_until(lambda: server_ready(app.port), 180, interval=0.2):
            raise RuntimeError(f"the app's server never became ready; see {app.dir}")
        app.wait_for_log("microphone open", 30)
        app.wait_for_log("state: ready", 30)

    def _dictate(self, index: int, clip: SoakClip, app: AppUnderTest, x: XServer,
                 pulse: PulseServer, target: FocusTarget) -> DictationRecord:
        record = DictationRecord(index, clip.name, clip.language, round(clip.seconds, 2),
                                 clip.reference)
        if not app.alive():
            record.app_crashed = True
            self.summary.crashes += 1
            self._start_app(app)
        target.focus()
        if target.text():
            x.xdotool("key", "ctrl+a", "BackSpace")
            wait_until(lambda: target.text() == "", 2)
        sentinel = f"the user's clipboard #{index}"
        x.set_clipboard(sentinel)
        caps_before = x.caps_lock_on()
        x.xdotool("keydown", "Caps_Lock")
        app.wait_for_log("state: recording", 3)
        time.sleep(pulse.play(clip.pcm) + 0.4)  # the speech, then a moment before letting go
        x.xdotool("keyup", "Caps_Lock")
        released = time.monotonic()
        deadline = 30.0 + 2 * clip.seconds
        if wait_until(lambda: target.text() != "", deadline, interval=0.005):
            record.release_to_text_s = round(time.monotonic() - released, 4)
            # Pasted at once or typed over a moment: the text is whole once it stops changing.
            last, since = target.text(), time.monotonic()
            while time.monotonic() - since < 0.5:
                time.sleep(0.05)
                now = target.text()
                if now != last:
                    last, since = now, time.monotonic()
            record.text = last.strip()
        if not app.alive():
            record.app_crashed = True
        record.caps_lock_ok = bool(wait_until(lambda: x.caps_lock_on() == caps_before, 3))
        record.clipboard_ok = bool(wait_until(lambda: x.clipboard() == sentinel, 3,
                                              interval=0.1))
        if not record.caps_lock_ok:  # put it right so one failure is counted once
            x.xdotool("key", "Caps_Lock")
        record.app_rss_mb = round(app.rss_mb()[0], 1)
        return record

    def _drop_files(self, app: AppUnderTest, clips: list[SoakClip], workdir: Path) -> list[Path]:
        import soundfile as sf

        folder = workdir / "dropped"
        folder.mkdir(exist_ok=True)
        files = []
        for k, clip in enumerate(sorted(clips, key=lambda c: -c.seconds)[: self.config.files]):
            path = folder / f"file{k}.wav"
            sf.write(path, clip.pcm, 16000)
            files.append(path)
        app.hand_over(files)
        self.summary.files_sent = len(files)
        return files

    def _restart_server(self, app: AppUnderTest) -> None:
        """Kill the app's server as a crash would; the app must start it again by itself."""
        for process in app.server_processes():
            if "server" in " ".join(process.cmdline()):
                process.kill()
                break
        wait_until(lambda: not server_ready(app.port), 10, interval=0.05)
        if not wait_until(lambda: server_ready(app.port), 180, interval=0.2):
            raise RuntimeError("the app did not bring its server back")
        self.summary.server_restarts += 1


def write_jsonl(summary: SoakSummary, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for record in summary.dictations:
            out.write(json.dumps({**asdict(record), "lost": record.lost,
                                  "garbled": record.garbled}, ensure_ascii=False) + "\n")
        out.write(json.dumps({
            "summary": True, "dictations": len(summary.dictations), "crashes": summary.crashes,
            "lost": len(summary.lost), "garbled": len(summary.garbled),
            "p50_s": summary.percentile(0.5), "p95_s": summary.percentile(0.95),
            "client_rss_mb": summary.client_rss_mb, "server_rss_mb": summary.server_rss_mb,
            "files_sent": summary.files_sent, "files_written": summary.files_written,
            "server_restarts": summary.server_restarts, "seconds": summary.seconds,
        }) + "\n")
    return path

