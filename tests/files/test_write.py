"""Transcript writers: subtitle formats read back to what was written, and files replaced whole."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from capswriter.asr.result import Segment
from capswriter.errors import ConfigError
from capswriter.files.pipeline import FileTranscript
from capswriter.files.write import sharing_a_name, srt_text, vtt_text, write_transcript

SEGMENTS = [
    Segment(0.0, 2.5, "And so my fellow Americans,"),
    Segment(2.5, 5.04, "ask not what your country can do for you."),
    Segment(61.2, 63.9994, "广州市房地产中介协会分析"),
    Segment(3725.5, 3731.25, "An hour later: fish & chips <cheap> --> gone."),
]

_TIME = r"(\d{2}):(\d{2}):(\d{2})[,.](\d{3})"
_TIMING = re.compile(rf"^{_TIME} --> {_TIME}$")


def seconds(groups: tuple[str, ...]) -> float:
    hours, minutes, secs, millis = (int(g) for g in groups)
    return hours * 3600 + minutes * 60 + secs + millis / 1000


def read_cues(text: str) -> list[tuple[float, float, str]]:
    """A strict reader of SRT or WebVTT: every block must be [number], timing, text lines."""
    cues = []
    for block in text.strip("\n").split("\n\n"):
        lines = block.split("\n")
        if lines[0] == "WEBVTT":
            continue
        if lines[0].isdigit():
            assert int(lines[0]) == len(cues) + 1, "cue numbers must count up from 1"
            lines = lines[1:]
        match = _TIMING.match(lines[0])
        assert match, f"bad timing line {lines[0]!r}"
        text_lines = lines[1:]
        assert text_lines and all(line.strip() for line in text_lines)
        groups = match.groups()
        cues.append((seconds(groups[:4]), seconds(groups[4:]), "\n".join(text_lines)))
    return cues


def unescape_vtt(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def transcript(path: Path, segments: list[Segment] = SEGMENTS) -> FileTranscript:
    return FileTranscript(
        path=path,
        segments=segments,
        text=" ".join(s.text for s in segments),
        audio_seconds=3732.0,
        wall_seconds=410.5,
        model="whisper-base",
        decode_seconds=395.25,
        language="en",
    )


def test_srt_reads_back_to_the_segments():
    text = srt_text(SEGMENTS)
    assert text.startswith("1\n00:00:00,000 --> 00:00:02,500\nAnd so my fellow Americans,\n")
    assert "01:02:05,500 --> 01:02:11,250" in text
    cues = read_cues(text)
    assert [c[2] for c in cues] == [s.text for s in SEGMENTS]
    for (start, end, _), segment in zip(cues, SEGMENTS, strict=True):
        assert start == pytest.approx(segment.start, abs=5e-4)
        assert end == pytest.approx(segment.end, abs=5e-4)


def test_vtt_reads_back_and_escapes_markup():
    text = vtt_text(SEGMENTS)
    assert text.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\n")
    # A literal "-->" in cue text would start a new timing line for a player.
    assert "-->" not in text.split("\n")[-2]
    assert "fish &amp; chips &lt;cheap&gt; --&gt; gone." in text
    cues = read_cues(text)
    assert [unescape_vtt(c[2]) for c in cues] == [s.text for s in SEGMENTS]
    assert cues[2][:2] == pytest.approx((61.2, 63.999), abs=5e-4)


def test_blank_lines_and_empty_segments_cannot_break_cues():
    segments = [
        Segment(0.0, 1.0, "first line\n\n\nsecond line"),
        Segment(1.0, 2.0, "   "),
        Segment(2.0, 3.0, "after the gap"),
    ]
    for render in (srt_text, vtt_text):
        cues = read_cues(render(segments))
        assert [c[2] for c in cues] == ["first line\nsecond line", "after the gap"]


def test_write_puts_each_format_beside_the_input(tmp_path):
    source = tmp_path / "interview.m4a"
    source.write_bytes(b"audio stands here")
    written = write_transcript(transcript(source), ["txt", "srt", "vtt", "json"])
    assert [p.name for p in written] == [
        "interview.txt", "interview.srt", "interview.vtt", "interview.json"
    ]
    assert (tmp_path / "interview.txt").read_text(encoding="utf-8") == (
        transcript(source).text + "\n"
    )
    assert read_cues((tmp_path / "interview.srt").read_text(encoding="utf-8"))[0][2] == (
        "And so my fellow Americans,"
    )
    # Only the outputs and the input: no temporary files left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["interview.m4a", *[p.name for p in written]]
    )


def test_json_round_trips_to_the_same_transcript(tmp_path):
    source = tmp_path / "lecture.mp4"
    original = transcript(source)
    (path,) = write_transcript(original, ["json"])
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["model"] == "whisper-base"
    assert data["language"] == "en"
    assert data["audio_seconds"] == 3732.0
    assert data["wall_seconds"] == 410.5 and data["decode_seconds"] == 395.25
    assert data["segments"][2] == {"start": 61.2, "end": 63.9994, "text": SEGMENTS[2].text}
    # Chinese stays readable in the file rather than \\u escapes.
    assert "广州市" in path.read_text(encoding="utf-8")
    assert FileTranscript.from_dict(data) == original


def test_rewriting_replaces_the_old_output(tmp_path):
    source = tmp_path / "memo.wav"
    write_transcript(transcript(source, SEGMENTS), ["txt"])
    write_transcript(transcript(source, SEGMENTS[:1]), ["txt"])
    assert (tmp_path / "memo.txt").read_text(encoding="utf-8") == "And so my fellow Americans,\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memo.txt"]


def test_a_file_capswriter_did_not_write_is_never_replaced(tmp_path):
    source = tmp_path / "memo.wav"
    (tmp_path / "memo.txt").write_text("my own notes\n", encoding="utf-8")
    (tmp_path / "memo (2).txt").write_text("more notes\n", encoding="utf-8")
    written = write_transcript(transcript(source, SEGMENTS[:1]), ["txt"])
    assert written == [tmp_path / "memo (3).txt"]
    assert (tmp_path / "memo.txt").read_text(encoding="utf-8") == "my own notes\n"
    assert (tmp_path / "memo (2).txt").read_text(encoding="utf-8") == "more notes\n"
    # Ours from now on: the next run replaces it rather than adding a fourth file.
    assert write_transcript(transcript(source, SEGMENTS), ["txt"]) == written


def test_transcripts_are_readable_as_the_umask_allows(tmp_path):
    """Not private like the temporary file they are written through (0600)."""
    import os

    mask = os.umask(0)
    os.umask(mask)
    [path] = write_transcript(transcript(tmp_path / "memo.wav", SEGMENTS), ["srt"])
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_failed_write_keeps_the_previous_file_whole(tmp_path):
    source = tmp_path / "memo.wav"
    (tmp_path / "memo.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nkept\n", "utf-8")
    # A lone surrogate cannot be encoded as UTF-8, so the write fails half-way.
    broken = [Segment(0.0, 1.0, "fine"), Segment(1.0, 2.0, "bad \ud800 text")]
    with pytest.raises(UnicodeEncodeError):
        write_transcript(transcript(source, broken), ["srt"])
    assert read_cues((tmp_path / "memo.srt").read_text(encoding="utf-8"))[0][2] == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memo.srt"]


def test_unknown_format_is_refused_before_anything_is_written(tmp_path):
    source = tmp_path / "memo.wav"
    with pytest.raises(ConfigError, match="Unknown output format docx"):
        write_transcript(transcript(source), ["txt", "docx"])
    assert list(tmp_path.iterdir()) == []


def test_output_never_overwrites_its_own_input(tmp_path):
    source = tmp_path / "captions.srt"
    source.write_text("not audio, but someone asked", encoding="utf-8")
    with pytest.raises(ConfigError, match="overwrite the input"):
        write_transcript(transcript(source), ["srt"])
    assert source.read_text(encoding="utf-8") == "not audio, but someone asked"


def test_files_sharing_a_name_keep_their_extension_in_the_outputs(tmp_path):
    mp3, mp4, other = tmp_path / "talk.mp3", tmp_path / "talk.mp4", tmp_path / "notes.wav"
    assert sharing_a_name([mp3, mp4, other]) == {mp3, mp4}
    for source in (mp3, mp4):
        transcript = FileTranscript(source, [Segment(0.0, 1.0, source.suffix)], source.suffix,
                                    1.0, 0.1, "whisper-base")
        write_transcript(transcript, ["txt"], keep_suffix=True)
    assert (tmp_path / "talk.mp3.txt").read_text().strip() == ".mp3"
    assert (tmp_path / "talk.mp4.txt").read_text().strip() == ".mp4"
    assert not (tmp_path / "talk.txt").exists()


def _as_ordinary_user() -> list[str]:
    import shutil

    if os.geteuid() != 0:
        pytest.skip("needs root to make a folder another user may not write, then allow it")
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (util-linux)")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_a_replace_refused_for_a_moment_succeeds_and_one_refused_for_good_names_the_file():
    """Windows refuses to replace a file an antivirus or a player holds open; here a folder
    the writer may not change stands in for that refusal, lifted after a moment or not at all."""
    import subprocess
    import sys
    import tempfile
    import time

    from capswriter.config import PROJECT_ROOT

    prefix = _as_ordinary_user()
    base = Path(tempfile.mkdtemp())
    base.chmod(0o777)
    source_dir, target_dir = base / "new", base / "out"
    source_dir.mkdir(mode=0o777)
    source_dir.chmod(0o777)
    target_dir.mkdir()
    target_dir.chmod(0o755)  # root's: the ordinary user may not replace files in it
    code = ("import sys; from pathlib import Path; from capswriter.files.write import "
            "replace_when_free as r; s = Path(sys.argv[1]); s.write_text('new');"
            "r(s, Path(sys.argv[2]), wait_s=float(sys.argv[3])); print('replaced')")

    def start(name: str, wait_s: float) -> subprocess.Popen:
        return subprocess.Popen(
            [*prefix, sys.executable, "-c", code, str(source_dir / name),
             str(target_dir / "talk.srt"), str(wait_s)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT,
            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})

    try:
        refused = start("a.tmp", 0.5)
        out, err = refused.communicate(timeout=60)
        assert refused.returncode == 1
        assert "talk.srt is open in another program" in err
        lifted = start("b.tmp", 20.0)
        time.sleep(3.0)  # it is retrying now
        target_dir.chmod(0o777)
        out, err = lifted.communicate(timeout=60)
        assert lifted.returncode == 0 and out.strip() == "replaced", err
        assert (target_dir / "talk.srt").read_text() == "new"
    finally:
        import shutil

        shutil.rmtree(base, ignore_errors=True)
