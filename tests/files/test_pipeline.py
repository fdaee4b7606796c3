"""Whole files through the real recognizer: nothing lost at segment boundaries, times in source."""

from __future__ import annotations

import json
import re
from collections import Counter

import jiwer
import numpy as np
import pytest
import soundfile as sf

from capswriter.asr.result import Segment
from capswriter.asr.text import looks_cut_short, text_units
from capswriter.audio import SAMPLE_RATE
from capswriter.errors import UnsupportedAudio
from capswriter.files.assemble import assemble
from capswriter.files.pipeline import FileTranscript, transcribe_file
from capswriter.files.write import srt_text, write_transcript

# Spelled-out numbers in the references, so "ten meters" and "10 meters" compare equal.
_NUMBER_WORDS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eighteen": "18", "thirteen": "13",
}  # fmt: skip


def words(text: str) -> list[str]:
    tokens = re.findall(r"[a-z0-9']+", text.lower())
    return [_NUMBER_WORDS.get(token, token) for token in tokens]


@pytest.fixture(scope="module")
def long_transcript(long_recording, engine, segmenter) -> tuple[FileTranscript, list]:
    calls: list[tuple[int, int, float]] = []
    result = transcribe_file(
        long_recording.path, engine, segmenter, lambda *args: calls.append(args)
    )
    return result, calls


def test_long_recording_keeps_every_clip(long_transcript, long_recording):
    result, _ = long_transcript
    heard = Counter(words(result.text))
    # Each clip's longest word must appear once for every time the clip was placed.
    expected: Counter[str] = Counter()
    for placed in long_recording.clips:
        candidates = [w for w in words(placed.text) if w.isalpha()]
        if candidates:
            expected[max(candidates, key=len)] += 1
    assert expected, "the long recording should contain clips with words"
    for word, count in expected.items():
        assert heard[word] == count, f"'{word}' heard {heard[word]} times, placed {count} times"


def test_long_recording_word_error_rate_is_low(long_transcript, long_recording):
    result, _ = long_transcript
    reference = " ".join(words(long_recording.text))
    hypothesis = " ".join(words(result.text))
    # "in eighteen thirteen" read as "in 1813" costs two words per placement; the rest is exact.
    assert jiwer.wer(reference, hypothesis) < 0.1


def test_long_recording_segments_are_in_source_time(long_transcript, long_recording):
    result, _ = long_transcript
    assert result.audio_seconds == pytest.approx(long_recording.duration_s, abs=1e-3)
    assert result.model == "whisper-base" and result.language == "en"
    assert 0 < result.decode_seconds <= result.wall_seconds
    starts = [s.start for s in result.segments]
    assert starts == sorted(starts)
    for segment in result.segments:
        assert 0.0 <= segment.start < segment.end <= long_recording.duration_s
        assert segment.text
    # Every JFK placement is transcribed by a segment that overlaps where it was placed.
    for placed in long_recording.clips:
        if placed.name != "en_jfk.wav":
            continue
        overlapping = [
            s for s in result.segments if s.start < placed.end and s.end > placed.start
        ]
        assert any("americans" in s.text.lower() for s in overlapping), placed


def test_progress_counts_every_segment_in_order(long_transcript, long_recording):
    _, calls = long_transcript
    total = calls[0][1]
    assert calls[0] == (0, total, 0.0)
    assert [c[0] for c in calls] == list(range(total + 1))
    assert all(c[1] == total for c in calls)
    seconds = [c[2] for c in calls]
    assert seconds == sorted(seconds)
    assert seconds[-1] <= long_recording.duration_s


def test_transcript_writes_subtitles_matching_the_audio(long_transcript, tmp_path):
    result, _ = long_transcript
    moved = FileTranscript(**{**result.__dict__, "path": tmp_path / "long_recording.wav"})
    paths = write_transcript(moved, ["txt", "srt", "json"])
    assert [p.suffix for p in paths] == [".txt", ".srt", ".json"]
    srt = (tmp_path / "long_recording.srt").read_text(encoding="utf-8")
    assert srt == srt_text(result.segments, None, result.audio_seconds)
    # Every segment gives at least one cue; long ones are split into readable cues.
    assert srt.count(" --> ") >= len(result.segments)
    texts = [block.split("\n", 2)[2] for block in srt.strip().split("\n\n")]
    assert all(len(text) <= 84 for text in texts)
    assert " ".join(texts).split() == result.text.split()


def written_outputs(transcript: FileTranscript) -> tuple[str, list[str], dict]:
    """The txt text, the srt cue texts and the json written for ``transcript``."""
    write_transcript(transcript, ["txt", "srt", "json"])
    txt = transcript.path.with_suffix(".txt").read_text(encoding="utf-8").strip()
    srt = transcript.path.with_suffix(".srt").read_text(encoding="utf-8")
    cues = [block.split("\n", 2)[2].strip() for block in srt.strip().split("\n\n")]
    data = json.loads(transcript.path.with_suffix(".json").read_text(encoding="utf-8"))
    return txt, cues, data


def test_every_output_shows_the_same_sentence_capitals(tmp_path):
    pieces = [
        Segment(0.0, 2.0, "but when I had approached,"),
        Segment(2.5, 4.0, "The door was open."),
        Segment(5.0, 6.0, "then it shut."),
        Segment(7.0, 8.0, "1, 2, 3."),
        Segment(9.0, 10.0, "go forward 10 meters."),
    ]
    segments, text = assemble(pieces)
    transcript = FileTranscript(tmp_path / "talk.wav", segments, text, 10.0, 1.0, "whisper-base")
    txt, cues, data = written_outputs(transcript)
    assert txt == ("But when I had approached, the door was open. Then it shut. 1, 2, 3. "
                   "Go forward 10 meters.")
    assert cues == ["But when I had approached,", "the door was open.", "Then it shut.",
                    "1, 2, 3.", "Go forward 10 meters."]
    assert data["text"] == txt
    assert [s["text"] for s in data["segments"]] == cues
    assert [(s.start, s.end) for s in segments] == [(p.start, p.end) for p in pieces]


def test_a_file_heard_starting_in_lower_case_starts_with_a_capital_everywhere(
    tmp_path, real_clips, engine, segmenter
):
    # Whisper writes this clip, cut from the middle of a sentence, as "in 1813."
    path = tmp_path / "mid_sentence.wav"
    sf.write(path, real_clips["en_ljspeech_LJ002-0020.wav"].samples(), SAMPLE_RATE)
    transcript = transcribe_file(path, engine, segmenter)
    txt, cues, data = written_outputs(transcript)
    assert words(txt) == ["in", "1813"], txt
    assert txt[0] == "I" and cues[0][0] == "I" and data["text"][0] == "I", (txt, cues)
    assert data["segments"][0]["text"][0] == "I"


def test_short_sentence_then_a_long_one_is_not_cut_short(tmp_path, real_clips, engine, segmenter):
    # Whisper tends to stop after a short first sentence; the pipeline must notice and recover.
    first = real_clips["en_ljspeech_LJ002-0035.wav"].samples()
    second = real_clips["en_jfk.wav"].samples()
    pause = np.zeros(SAMPLE_RATE, np.float32)
    path = tmp_path / "two_speakers.wav"
    sf.write(path, np.concatenate([pause, first, pause, second, pause]), SAMPLE_RATE)

    assert len(segmenter.split(sf.read(path, dtype="float32")[0])) == 1
    text = transcribe_file(path, engine, segmenter).text
    assert words(text)[:4] == ["8", "the", "press", "yard"]
    assert "ask not what your country can do for you" in text.lower()


def test_video_file_is_transcribed(tmp_path, real_clips, engine, segmenter, encode_audio):
    clip = real_clips["en_jfk.wav"]
    path = encode_audio(clip.samples(), SAMPLE_RATE, tmp_path / "speech.mp4", codec="aac",
                        with_video=True)  # fmt: skip
    result = transcribe_file(path, engine, segmenter)
    assert jiwer.wer(" ".join(words(clip.text)), " ".join(words(result.text))) < 0.1


def test_chinese_clip_at_48k_flac_and_16k_wav(real_clips, original_flac_48k, engine, segmenter):
    clip = real_clips["zh_aishell_BAC009S0724W0121.wav"]
    result = transcribe_file(clip.path, engine, segmenter)
    assert result.language == "zh"
    assert jiwer.cer(clip.text, result.text.replace(" ", "")) < 0.25
    short = transcribe_file(original_flac_48k, engine, segmenter)
    assert jiwer.cer(real_clips["zh_sr_chinese.wav"].text, short.text) < 0.5


def test_silent_file_gives_an_empty_transcript(tmp_path, engine, segmenter):
    path = tmp_path / "room_tone.wav"
    hiss = np.random.default_rng(3).normal(0.0, 0.002, 20 * SAMPLE_RATE).astype(np.float32)
    sf.write(path, hiss, SAMPLE_RATE)
    calls = []
    result = transcribe_file(path, engine, segmenter, lambda *args: calls.append(args))
    assert (result.text, result.segments) == ("", [])
    assert result.audio_seconds == pytest.approx(20.0)
    assert calls == [(0, 0, 0.0)]


def test_unreadable_file_is_refused_before_recognition(tmp_path, engine, segmenter):
    path = tmp_path / "slides.mp4"
    path.write_text("this is a text file with the wrong name", encoding="utf-8")
    with pytest.raises(UnsupportedAudio, match=r"slides\.mp4"):
        transcribe_file(path, engine, segmenter)


def test_text_units_weigh_cjk_characters_as_syllables():
    assert text_units("8. The Press Yard") == 13
    assert text_units("广州市房地产中介协会分析") == 36
    # A stop after the first short sentence of ten seconds of speech is flagged ...
    assert looks_cut_short("8. The Press Yard", speech_seconds=10.0)
    # ... a full sentence is not, nor is a short piece that really holds few words.
    jfk = "And so my fellow Americans, ask not what your country can do for you"
    assert not looks_cut_short(jfk, speech_seconds=5.0)
    assert not looks_cut_short("Yes.", speech_seconds=1.5)


def joined(parts: list[np.ndarray], pause_s: list[float], gap: str) -> np.ndarray:
    """``parts`` with the pauses between them (used by turns) and a 1 s lead: exact zeros, or
    with a -60 dBFS noise floor under everything."""
    out = [np.zeros(SAMPLE_RATE, np.float32)]
    for k, part in enumerate(parts):
        out += [part, np.zeros(int(pause_s[k % len(pause_s)] * SAMPLE_RATE), np.float32)]
    audio = np.concatenate(out)
    if gap == "noise":
        audio += np.random.default_rng(0).normal(0.0, 0.001, len(audio)).astype(np.float32)
    return audio


@pytest.mark.parametrize(
    ("gap", "pauses"),
    [("zero", [0.9]), ("noise", [0.9]), ("zero", [0.3, 2.0])],
    ids=["digital-silence-0.9s", "noise-floor-0.9s", "digital-silence-0.3s-and-2s"],
)
def test_no_sentence_is_left_unread_between_joined_clips(
    tmp_path, real_clips, engine, segmenter, gap, pauses
):
    # After digital silence Whisper gives one sentence the times of the speech after it; those
    # sentences must still be read, whatever the timestamps claim.
    long = real_clips["zh_aishell_BAC009S0724W0121.wav"].samples()
    short = real_clips["zh_sr_chinese.wav"].samples()
    path = tmp_path / "joined.wav"
    sf.write(path, joined([long, short, long, short, long], pauses, gap), SAMPLE_RATE)
    text = transcribe_file(path, engine, segmenter, language="zh").text
    assert text.count("协会分析") == 3 and text.count("自己的脚") == 2, text


def test_english_sentences_joined_by_digital_silence_are_all_read(
    tmp_path, real_clips, engine, segmenter
):
    names = ["en_goforward.wav", "en_jfk.wav", "en_ljspeech_LJ002-0035.wav",
             "en_sr_one_two_three.wav", "en_ljspeech_LJ002-0020.wav"]
    path = tmp_path / "joined.wav"
    parts = [real_clips[name].samples() for name in names]
    sf.write(path, joined(parts, [0.9, 0.3, 2.0], "zero"), SAMPLE_RATE)
    heard = " ".join(words(transcribe_file(path, engine, segmenter).text))
    for phrase in ["go forward 10 meters", "ask not what your country can do for you",
                   "press yard", "1 2 3", "in 1813"]:
        assert heard.count(phrase) == 1, (phrase, heard)


def test_hot_words_by_sound_put_back_the_terms_whisper_misheard(real_clips, engine, segmenter):
    from capswriter.text import TextOptions, TextStage

    clip = real_clips["zh_aishell_BAC009S0724W0121.wav"]
    heard = transcribe_file(clip.path, engine, segmenter)
    stage = TextStage.from_text(TextOptions(itn=True), "房地产\n中介协会\n")
    fixed = heard.rewritten(stage)
    assert jiwer.cer(clip.text, fixed.text) <= jiwer.cer(clip.text, heard.text)
    assert "房地产中介协会" in fixed.text
    assert all(s.text in fixed.text for s in fixed.segments)
    assert heard.rewritten(None) is heard
