"""The engine on real speech: accuracy bounds, silence, long input, Chinese script."""

from __future__ import annotations

import numpy as np
import pytest

from capswriter.asr.engine import SAMPLE_RATE, Engine, join_texts, split_long
from capswriter.asr.text import tidy
from capswriter.files.decode import load_audio
from capswriter.tools.accuracy import AccuracyReport, ClipScore, score


@pytest.fixture(scope="module")
def real_report(engine: Engine, real_clips) -> AccuracyReport:
    report = AccuracyReport()
    for clip in real_clips.values():
        text = engine.transcribe(clip.samples()).text
        errors, length = score(clip.text, text, clip.language)
        report.clips.append(ClipScore(clip.name, clip.language, clip.text, text, errors, length))
    return report


def test_english_word_error_rate_on_real_speech(real_report: AccuracyReport) -> None:
    assert real_report.rate("en") <= 0.15, real_report.to_dict()


def test_chinese_character_error_rate_on_real_speech(real_report: AccuracyReport) -> None:
    assert real_report.rate("zh") <= 0.45, real_report.to_dict()


def test_chinese_comes_out_simplified_without_inner_spaces(real_report: AccuracyReport) -> None:
    for clip in real_report.clips:
        if clip.language == "zh":
            assert " " not in clip.hypothesis
            assert tidy(clip.hypothesis) == clip.hypothesis  # already Simplified
            assert "廣" not in clip.hypothesis and "產" not in clip.hypothesis


def test_synthetic_speech(engine: Engine, tts) -> None:
    sentence = "Please send the report to the team before the meeting on Monday morning."
    text = engine.transcribe(load_audio(tts(sentence, voice="en-us", words_per_minute=140))).text
    errors, length = score(sentence, text, "en")
    assert errors / length <= 0.2, text


def test_silence_and_noise_give_empty_text(engine: Engine) -> None:
    rng = np.random.default_rng(0)
    for audio in (
        np.zeros(5 * SAMPLE_RATE, np.float32),
        (rng.normal(0, 0.02, 5 * SAMPLE_RATE)).astype(np.float32),
        np.zeros(100, np.float32),
    ):
        result = engine.transcribe(audio)
        assert result.text == "" and result.segments == []


def test_a_voice_the_vad_does_not_hear_is_read_when_it_is_clearly_loud(
    engine: Engine, tts
) -> None:
    """Silero hears no speech at all in this whispered synthetic voice; it is plainly loud,
    and a dictation or piece of it must not come back empty (or lose its first part)."""
    from capswriter.asr.engine import SpeechGate, vad_model_path
    from capswriter.config import default_models_dir

    sentence = "ask not what your country can do for you, ask what you can do for your country"
    audio = load_audio(tts(sentence, voice="cmn+whisper", words_per_minute=150))
    assert SpeechGate(vad_model_path(default_models_dir())).speech_spans(audio) == []
    text = engine.transcribe(audio, dictation=True).text
    errors, length = score(sentence, text, "en")
    assert errors / length <= 0.2, text


def test_audio_past_thirty_seconds_is_not_dropped(engine: Engine, real_clips) -> None:
    jfk = real_clips["en_jfk.wav"].samples()
    pause = np.zeros(SAMPLE_RATE // 2, np.float32)
    audio = np.concatenate([jfk, pause, jfk, pause, jfk, pause, jfk])  # ~45 s
    result = engine.transcribe(audio)
    assert result.text.lower().count("country") >= 7
    assert len(result.segments) >= 2
    assert result.segments[-1].end > 40.0  # the fourth reading, past the first window
    pairs = zip(result.segments, result.segments[1:], strict=False)
    assert all(a.end <= b.start + 0.01 for a, b in pairs)


def test_split_long_keeps_every_sample_in_bounded_pieces() -> None:
    audio = np.random.default_rng(1).normal(0, 0.1, 70 * SAMPLE_RATE).astype(np.float32)
    audio[40 * SAMPLE_RATE : 40 * SAMPLE_RATE + 800] = 0  # a pause the cut should find
    pieces = split_long(audio)
    assert pieces[0][0] == 0 and pieces[-1][1] == len(audio)
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:], strict=False))
    assert all(end - start <= 28 * SAMPLE_RATE for start, end in pieces)


def test_join_texts_spacing() -> None:
    assert join_texts(["Hello there.", "General Kenobi."]) == "Hello there. General Kenobi."
    assert join_texts(["广州市", "房地产"]) == "广州市房地产"
    assert join_texts(["", "  a ", ""]) == "a"


def test_an_unknown_language_is_refused_with_the_choices(engine: Engine, real_clips) -> None:
    from capswriter.asr.languages import UnsupportedLanguage

    # sherpa-onnx would end the whole process on this; the engine must refuse it first.
    with pytest.raises(UnsupportedLanguage, match="'xx' is not one whisper-base knows"):
        engine.transcribe(real_clips["en_goforward.wav"].samples(), language="xx")
    chinese = engine.transcribe(real_clips["zh_sr_chinese.wav"].samples(), language="zh")
    assert chinese.language == "zh" and chinese.text


def test_speech_the_caller_already_found_is_trusted_instead_of_listening_again(
    engine: Engine, real_clips
) -> None:
    # The file segmenter has run the VAD over the whole file; its spans travel with each
    # segment, and the engine reads them instead of running the VAD a second time.
    samples = real_clips["en_goforward.wav"].samples()
    listened = engine.transcribe(samples)
    told = engine.transcribe(samples, speech=engine._gate.speech_spans(samples))
    assert told.text == listened.text and "forward" in told.text.lower()
    # Told there is no speech, it reads nothing: the spans really stand in for the VAD.
    assert engine.transcribe(samples, speech=[]).text == ""
