"""Splitting long recordings into Whisper-sized pieces at pauses, on real and synthesized speech."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capswriter.asr.vad import Span, quietest_point
from capswriter.audio import SAMPLE_RATE
from capswriter.errors import ModelNotInstalled
from capswriter.files.decode import load_audio
from capswriter.files.segment import Segmenter, pad_spans

TOLERANCE_S = 0.5

# No punctuation, so espeak-ng reads it as one breathless run of about 43 s: longer than any
# segment may be, with only the short gaps between words to cut at.
RUN_ON_TEXT = (
    "the quick brown fox jumps over the lazy dog while the farmer walks along the river bank "
    "and counts the sheep that graze on the green hills near the old stone bridge where "
    "children play every summer afternoon until the sun goes down behind the tall pine trees "
    "and the birds return to their nests high above the quiet valley where the mill still "
    "turns slowly in the evening wind as it has done for more than a hundred years since the "
    "village was founded by travellers who came from the distant mountains looking for "
    "fertile land and clean water for their families and their animals and every spring the "
    "people gather in the square to sing old songs and share bread and honey with their "
    "neighbours while the musicians play until late at night and the lanterns glow along the "
    "narrow streets that wind between the houses down to the harbour where the fishing boats rest"
)


def frame_rms(samples: np.ndarray, centre: int, half: int = 160) -> float:
    piece = samples[max(0, centre - half) : centre + half]
    return float(np.sqrt(np.mean(piece.astype(np.float64) ** 2)))


def speech_extent(clip_samples: np.ndarray, frame: int = 800) -> tuple[float, float]:
    """First and last 50 ms of a clip at voiced-speech level, in seconds.

    The level sits above the applause that follows JFK's last word (peaking near 0.06 RMS),
    which is sound but not speech, and which the detector rightly leaves out.
    """
    rms = [
        frame_rms(clip_samples, i + frame // 2, frame // 2)
        for i in range(0, len(clip_samples), frame)
    ]
    loud = np.nonzero(np.array(rms) > 0.07)[0]
    return loud[0] * frame / SAMPLE_RATE, min(
        len(clip_samples), (loud[-1] + 1) * frame
    ) / SAMPLE_RATE


@pytest.fixture(scope="module")
def long_segments(segmenter, long_recording):
    return segmenter.split(long_recording.samples)


def test_long_recording_segments_fit_the_whisper_window(long_segments, long_recording):
    assert len(long_segments) >= long_recording.duration_s / 28.0
    for segment in long_segments:
        assert 0 < segment.duration <= 28.0
    starts = [segment.start for segment in long_segments]
    assert starts == sorted(starts)
    for before, after in zip(long_segments, long_segments[1:], strict=False):
        assert before.end <= after.start


def test_long_recording_is_cut_only_in_the_known_silences(long_segments, long_recording):
    # The lead-in before the first clip counts as silence too.
    quiet = [(0.0, long_recording.clips[0].start), *long_recording.silences]

    def in_silence(t: float) -> bool:
        return any(a - TOLERANCE_S <= t <= b + TOLERANCE_S for a, b in quiet)

    for segment in long_segments:
        assert in_silence(segment.start), f"segment starts at {segment.start:.2f} s, inside speech"
        assert in_silence(segment.end), f"segment ends at {segment.end:.2f} s, inside speech"


def test_every_spoken_moment_lands_in_a_segment(long_segments, long_recording, real_clips):
    for placed in long_recording.clips:
        first, last = speech_extent(real_clips[placed.name].samples())
        spoken = (placed.start + first, placed.start + last)
        holders = [s for s in long_segments if s.start <= spoken[0] and spoken[1] <= s.end]
        assert holders, f"{placed.name} at {spoken[0]:.2f}-{spoken[1]:.2f} s is not kept whole"


def test_segment_samples_are_the_source_samples(long_segments, long_recording):
    for segment in long_segments:
        start = round(segment.start * SAMPLE_RATE)
        np.testing.assert_array_equal(
            segment.samples, long_recording.samples[start : start + len(segment.samples)]
        )
        assert len(segment.samples) == pytest.approx(segment.duration * SAMPLE_RATE, abs=1)


@pytest.mark.parametrize("limit_s", [28.0, 10.0])
def test_streamed_segments_are_the_split_and_come_before_the_whole_file_is_heard(
    vad_model_path, long_recording, limit_s
):
    segmenter = Segmenter(vad_model_path, max_segment_s=limit_s)
    samples = long_recording.samples
    batches = list(segmenter.stream(samples))
    streamed = [segment for batch in batches for segment in batch]
    whole = segmenter.split(samples)
    assert [(s.start, s.end, s.speech) for s in streamed] == [
        (s.start, s.end, s.speech) for s in whole
    ]
    for got, expected in zip(streamed, whole, strict=True):
        np.testing.assert_array_equal(got.samples, expected.samples)
    # The detector listens in blocks of about 33 s: a 3-minute recording gives its first
    # segments long before its end.
    assert len(batches) >= 3
    assert batches[0][-1].end < long_recording.duration_s / 2


def test_a_lower_limit_cuts_inside_clips_only_at_their_pauses(vad_model_path, long_recording):
    minute = long_recording.samples[: 60 * SAMPLE_RATE]
    segments = Segmenter(vad_model_path, max_segment_s=10.0).split(minute)
    assert all(segment.duration <= 10.0 for segment in segments)
    # JFK's 11 s sentence must be cut; every cut still falls where the audio is quiet.
    # Segments reach into the pauses around their speech, so the level is taken mid-speech.
    speech_level = np.median([
        frame_rms(long_recording.samples, round((a + b) / 2 * SAMPLE_RATE))
        for s in segments for a, b in s.speech
    ])  # fmt: skip
    for before, after in zip(segments, segments[1:], strict=False):
        if after.start - before.end < 0.05:
            assert frame_rms(long_recording.samples, round(before.end * SAMPLE_RATE)) < speech_level


def test_speech_run_longer_than_the_limit_is_cut_between_words(segmenter, tts):
    samples = load_audio(tts(RUN_ON_TEXT))
    assert len(samples) / SAMPLE_RATE > 35.0
    spans = segmenter.speech_spans(samples)
    assert len(spans) == 1, "the synthesized run should be one stretch of speech to the detector"

    segments = segmenter.split(samples)
    assert len(segments) == 2
    assert all(segment.duration <= 28.0 for segment in segments)
    first, second = segments
    # Cut where the first ends and the second begins, near the limit, in a gap between words.
    assert first.end == second.start
    assert first.duration >= 28.0 - segmenter.search_s
    cut = round(first.end * SAMPLE_RATE)
    loud = np.abs(samples) > 0.01
    speech_level = float(np.sqrt(np.mean(samples[loud] ** 2)))
    assert frame_rms(samples, cut) < 0.05 * speech_level
    # Nothing of the run is lost between the two.
    assert first.start <= spans[0].start / SAMPLE_RATE
    assert second.end >= spans[0].end / SAMPLE_RATE


def test_minutes_of_unbroken_speech_split_fast_and_only_between_words(segmenter, tts):
    samples = load_audio(tts(" and ".join([RUN_ON_TEXT] * 4)))
    assert len(samples) / SAMPLE_RATE > 150.0
    started = time.perf_counter()
    segments = segmenter.split(samples)
    # Linear in the audio: well under a second per minute even on a busy machine. A detector
    # that re-copies the speech so far for every window took close to a minute here.
    assert time.perf_counter() - started < 20.0
    assert len(segments) >= len(samples) / SAMPLE_RATE / 28.0
    loud = np.abs(samples) > 0.01
    speech_level = float(np.sqrt(np.mean(samples[loud] ** 2)))
    for before, after in zip(segments, segments[1:], strict=False):
        assert before.duration <= 28.0
        assert before.end == after.start, "unbroken speech must be covered without holes"
        assert frame_rms(samples, round(before.end * SAMPLE_RATE)) < 0.05 * speech_level


def test_one_short_utterance_is_one_padded_segment(segmenter, real_clips):
    clip = real_clips["en_sr_one_two_three.wav"].samples()
    second = np.zeros(SAMPLE_RATE, np.float32)
    samples = np.concatenate([second, clip, second])
    segments = segmenter.split(samples)
    assert len(segments) == 1
    first, last = speech_extent(clip)
    assert segments[0].start <= 1.0 + first
    assert segments[0].end >= 1.0 + last
    assert segments[0].end <= len(samples) / SAMPLE_RATE


def test_word_right_after_digital_silence_is_kept(segmenter, real_clips):
    # LJ002-0035 starts with "Eight" in its first 50 ms; trimmed files often begin like this.
    clip = real_clips["en_ljspeech_LJ002-0035.wav"].samples()
    second = np.zeros(SAMPLE_RATE, np.float32)
    segments = segmenter.split(np.concatenate([second, clip, second]))
    assert len(segments) == 1
    assert segments[0].start <= 1.0
    assert segments[0].end >= 1.0 + speech_extent(clip)[1]


def test_silence_and_noise_give_no_segments(segmenter):
    assert segmenter.split(np.zeros(30 * SAMPLE_RATE, np.float32)) == []
    hiss = np.random.default_rng(7).normal(0.0, 0.003, 30 * SAMPLE_RATE).astype(np.float32)
    assert segmenter.split(hiss) == []
    assert segmenter.split(np.zeros(0, np.float32)) == []


def test_segmenter_can_be_reused_across_files(segmenter, real_clips):
    clip = real_clips["en_goforward.wav"].samples()
    first = segmenter.split(clip)
    segmenter.split(real_clips["en_jfk.wav"].samples())
    again = segmenter.split(clip)
    assert [(s.start, s.end) for s in first] == [(s.start, s.end) for s in again]


def test_missing_vad_model_names_the_install_command(tmp_path):
    with pytest.raises(ModelNotInstalled, match="capswriter models install whisper-base"):
        Segmenter(tmp_path / "silero_vad.onnx")


def test_quietest_point_finds_the_gap_between_two_tones():
    rate = SAMPLE_RATE
    t = np.arange(rate) / rate
    loud = (0.5 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    samples = np.concatenate([loud, np.zeros(800, np.float32), loud])
    cut = quietest_point(samples, 0, len(samples))
    assert rate <= cut <= rate + 800


def test_pack_prefers_the_longest_pause_in_the_second_half(vad_model_path):
    segmenter = Segmenter(vad_model_path, max_segment_s=10.0)
    s = SAMPLE_RATE
    # Pauses of 0.3 s at 6 s, 1.2 s at 7.3 s, 0.3 s at 9.0 s; the next word ends past 10 s.
    spans = [
        Span(0, 6 * s),
        Span(int(6.3 * s), int(7.3 * s)),
        Span(int(8.5 * s), 9 * s),
        Span(int(9.3 * s), int(10.5 * s)),
    ]
    packed = segmenter.pack(spans, 10 * s)
    assert packed[0] == Span(0, int(7.3 * s))
    assert packed[1].start == int(8.5 * s)


@st.composite
def speech_layouts(draw) -> list[Span]:
    """Sorted, disjoint speech spans of 0.1-12 s with pauses of 0-6 s, as the detector gives."""
    spans, position = [], draw(st.integers(0, 3 * SAMPLE_RATE))
    for _ in range(draw(st.integers(1, 40))):
        length = draw(st.integers(SAMPLE_RATE // 10, 12 * SAMPLE_RATE))
        spans.append(Span(position, position + length))
        position += length + draw(st.integers(1, 6 * SAMPLE_RATE))
    return spans


@settings(max_examples=200, deadline=None)
@given(spans=speech_layouts(), limit_s=st.sampled_from([12.0, 20.0, 28.0]))
def test_packing_keeps_every_span_whole_inside_the_limit(vad_model_path, spans, limit_s):
    segmenter = Segmenter(vad_model_path, max_segment_s=limit_s)
    limit = int(limit_s * SAMPLE_RATE)
    packed = segmenter.pack(spans, limit)
    assert all(0 < s.end - s.start <= limit for s in packed)
    assert all(a.end <= b.start for a, b in zip(packed, packed[1:], strict=False))
    for span in spans:
        holders = [s for s in packed if s.start <= span.start and span.end <= s.end]
        assert len(holders) == 1, f"{span} is not inside exactly one segment"
    # Padding widens segments but never makes neighbours overlap or leave the file.
    total = spans[-1].end + SAMPLE_RATE
    padded = pad_spans(packed, int(0.2 * SAMPLE_RATE), total)
    assert all(a.end <= b.start for a, b in zip(padded, padded[1:], strict=False))
    assert padded[0].start >= 0 and padded[-1].end <= total
    assert all(p.start <= s.start and s.end <= p.end for p, s in zip(padded, packed, strict=True))


def test_a_segments_speech_as_sample_offsets_into_its_own_samples() -> None:
    from capswriter.files.segment import AudioSegment

    piece = AudioSegment(10.0, 12.0, np.zeros(2 * 16000, np.float32),
                         speech=[(9.9, 10.5), (11.0, 11.5), (11.9, 12.3)])
    # Clipped to the piece: the first span starts before it, the last ends after it.
    assert piece.speech_samples() == [(0, 8000), (16000, 24000), (30400, 32000)]
