"""Decoding real recordings from every container users bring, and refusing what is not audio."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
import soxr

from capswriter.errors import AudioTooLarge, UnsupportedAudio
from capswriter.files.decode import SAMPLE_RATE, load_audio, probe


def best_correlation(decoded: np.ndarray, reference: np.ndarray, max_lag: int = 160) -> float:
    """Normalised correlation at the best lag within ±10 ms (codecs may shift a few samples)."""
    n = min(len(decoded), len(reference)) - 2 * max_lag
    ref = reference[max_lag : max_lag + n]
    best = 0.0
    for lag in range(-max_lag, max_lag + 1, 4):
        part = decoded[max_lag + lag : max_lag + lag + n]
        value = float(np.dot(part, ref) / (np.linalg.norm(part) * np.linalg.norm(ref) + 1e-12))
        best = max(best, value)
    return best


def dominant_frequency(samples: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def tone(frequency: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


# --- real recordings ---------------------------------------------------------------------------


def test_real_wav_clips_decode_unchanged_at_16k(real_clips):
    for clip in real_clips.values():
        samples = load_audio(clip.path)
        assert samples.dtype == np.float32 and samples.ndim == 1
        assert len(samples) / SAMPLE_RATE == pytest.approx(clip.duration_s, abs=1e-3)
        # Already 16 kHz mono: decoding must not alter a single sample.
        np.testing.assert_array_equal(samples, clip.samples())


def test_bytes_and_str_paths_decode_exactly_like_the_path(real_clips, original_flac_48k):
    for path in (real_clips["en_jfk.wav"].path, original_flac_48k):
        from_path = load_audio(path)
        from_bytes = load_audio(path.read_bytes(), name=path.name)
        np.testing.assert_array_equal(from_bytes, from_path)
        np.testing.assert_array_equal(load_audio(str(path)), from_path)


def test_original_48k_flac_resamples_to_its_16k_copy(real_clips, original_flac_48k):
    info = probe(original_flac_48k)
    assert (info.decoder, info.container, info.sample_rate) == ("libsndfile", "FLAC", 48000)
    decoded = load_audio(original_flac_48k)
    published = real_clips["zh_sr_chinese.wav"].samples()
    assert abs(len(decoded) - len(published)) <= 1
    assert best_correlation(decoded, published) > 0.99


@pytest.mark.parametrize(
    ("name", "codec", "rate", "channels", "with_video"),
    [
        ("speech.mp3", "libmp3lame", 16000, 1, False),
        ("speech.m4a", "aac", 16000, 1, False),
        ("speech.mp4", "aac", 44100, 2, True),
        ("speech.mkv", "aac", 16000, 1, True),
        ("speech.webm", "libopus", 48000, 2, True),
        ("speech.opus.ogg", "libopus", 48000, 1, False),
    ],
)
def test_compressed_and_video_files_decode_to_the_same_speech(
    tmp_path, real_clips, encode_audio, name, codec, rate, channels, with_video
):
    original = real_clips["en_jfk.wav"].samples()
    signal = original if rate == SAMPLE_RATE else soxr.resample(original, SAMPLE_RATE, rate)
    if channels == 2:
        signal = np.stack([signal, signal], axis=1)
    path = encode_audio(signal, rate, tmp_path / name, codec=codec, with_video=with_video)

    info = probe(path)
    assert info.sample_rate == rate and info.channels == channels
    assert info.duration_s == pytest.approx(11.0, abs=0.1)
    decoded = load_audio(path)
    assert len(decoded) / SAMPLE_RATE == pytest.approx(11.0, abs=0.03)
    assert best_correlation(decoded, original) > 0.9


def test_ogg_vorbis_written_by_libsndfile_decodes(tmp_path, real_clips):
    original = real_clips["en_goforward.wav"].samples()
    path = tmp_path / "speech.ogg"
    sf.write(path, original, SAMPLE_RATE, format="OGG", subtype="VORBIS")
    decoded = load_audio(path)
    assert len(decoded) == len(original)
    assert best_correlation(decoded, original) > 0.9


# --- resampling and channel mixing ------------------------------------------------------------


def test_8khz_mono_is_upsampled_keeping_duration_and_pitch(tmp_path):
    path = tmp_path / "tone_8k.wav"
    sf.write(path, tone(440.0, 2.0, 8000), 8000, subtype="PCM_16")
    decoded = load_audio(path)
    assert abs(len(decoded) - 2 * SAMPLE_RATE) <= 1
    assert dominant_frequency(decoded) == pytest.approx(440.0, abs=1.0)


def test_48khz_stereo_is_averaged_to_mono_and_filtered_before_downsampling(tmp_path):
    rate = 48000
    left = tone(440.0, 2.0, rate, amplitude=0.4)
    # 12 kHz cannot exist at 16 kHz; decimating without a filter would fold it onto 4 kHz.
    right = tone(1000.0, 2.0, rate, amplitude=0.4) + tone(12000.0, 2.0, rate, amplitude=0.4)
    path = tmp_path / "stereo_48k.flac"
    sf.write(path, np.stack([left, right], axis=1), rate, subtype="PCM_24")

    decoded = load_audio(path)
    assert abs(len(decoded) - 2 * SAMPLE_RATE) <= 1
    spectrum = np.abs(np.fft.rfft(decoded[1000:-1000]))
    freqs = np.fft.rfftfreq(len(decoded) - 2000, 1 / SAMPLE_RATE)

    def level(hz: float) -> float:
        return float(spectrum[np.abs(freqs - hz) < 5].max())

    # Averaging halves each channel's tone: both survive at the same level.
    assert level(440.0) == pytest.approx(level(1000.0), rel=0.05)
    peak_amplitude = 2 * level(440.0) / (len(decoded) - 2000)
    assert peak_amplitude == pytest.approx(0.2, rel=0.05)
    assert level(4000.0) < level(440.0) * 1e-3


# --- refusals --------------------------------------------------------------------------------


def test_truncated_wav_is_refused_by_path_and_by_bytes(tmp_path, real_clips):
    whole = real_clips["en_jfk.wav"].path.read_bytes()
    path = tmp_path / "cut_short.wav"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(UnsupportedAudio, match=r"cut_short\.wav is truncated"):
        load_audio(path)
    with pytest.raises(UnsupportedAudio, match=r"upload\.wav is truncated"):
        load_audio(path.read_bytes(), name="upload.wav")


def test_wav_cut_inside_its_header_is_refused(tmp_path, real_clips):
    path = tmp_path / "header_only.wav"
    path.write_bytes(real_clips["en_jfk.wav"].path.read_bytes()[:30])
    with pytest.raises(UnsupportedAudio, match=r"header_only\.wav"):
        load_audio(path)


@pytest.mark.parametrize(
    ("name", "codec", "damage"),
    [
        # Muxers write the MP4 index last, so a copy cut short has none.
        ("cut_short.m4a", "aac", "truncate"),
        ("scrambled.mkv", "aac", "overwrite"),
        ("scrambled.mp3", "libmp3lame", "overwrite"),
    ],
)
def test_damaged_compressed_files_are_refused(
    tmp_path, real_clips, encode_audio, name, codec, damage
):
    path = encode_audio(real_clips["en_jfk.wav"].samples(), SAMPLE_RATE, tmp_path / name,
                        codec=codec)  # fmt: skip
    data = path.read_bytes()
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        third = len(data) // 3
        data = data[:third] + bytes(range(256)) * 40 + data[third + 10240 :]
    path.write_bytes(data)
    with pytest.raises(UnsupportedAudio, match=rf"{re.escape(name)} is .*(damaged|incomplete)"):
        load_audio(path)


def test_text_file_named_wav_is_refused(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("Meeting notes\nThis is not a recording.\n" * 20, encoding="utf-8")
    with pytest.raises(UnsupportedAudio, match=r"notes\.wav is not a recognised audio"):
        load_audio(path)


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(UnsupportedAudio, match=r"empty\.wav is empty"):
        load_audio(path)
    with pytest.raises(UnsupportedAudio, match="is empty"):
        load_audio(b"")


def test_missing_file_is_refused_with_its_path(tmp_path):
    with pytest.raises(UnsupportedAudio, match=r"absent\.mp3 cannot be read"):
        load_audio(tmp_path / "absent.mp3")


def test_video_without_sound_is_refused(tmp_path):
    path = tmp_path / "silent_film.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(10):
            picture = np.full((48, 64, 3), index * 20, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(stream.encode(None))
    with pytest.raises(UnsupportedAudio, match=r"silent_film\.mp4 has no audio track"):
        load_audio(path)


def test_size_limit_is_checked_before_the_content_is_read(tmp_path):
    # Not audio at all: if the content were examined first this would be UnsupportedAudio.
    path = tmp_path / "huge.wav"
    path.write_bytes(b"x" * 5000)
    with pytest.raises(AudioTooLarge, match=r"huge\.wav is 5\.0 kB, over the 4\.1 kB limit"):
        load_audio(path, max_bytes=4096)


def test_duration_limit_is_read_from_the_header(real_clips):
    clip = real_clips["en_jfk.wav"]
    with pytest.raises(AudioTooLarge, match=r"en_jfk\.wav is 11\.0 s long, over the 10\.0 s"):
        load_audio(clip.path, max_seconds=10.0)
    assert len(load_audio(clip.path, max_seconds=11.0)) == 11 * SAMPLE_RATE


def test_duration_limit_holds_when_the_container_does_not_know(tmp_path, real_clips, encode_audio):
    original = real_clips["en_jfk.wav"].samples()
    path = encode_audio(
        soxr.resample(original, SAMPLE_RATE, 48000),
        48000,
        tmp_path / "recorded_in_browser.webm",
        codec="libopus",
        seekable=False,
    )
    assert probe(path).duration_s is None
    with pytest.raises(
        AudioTooLarge, match=r"recorded_in_browser\.webm is longer than the 5\.0 s limit"
    ):
        load_audio(path, max_seconds=5.0)
    assert len(load_audio(path, max_seconds=12.0)) / SAMPLE_RATE == pytest.approx(11.0, abs=0.03)


def test_probe_reports_container_facts(tmp_path, real_clips, encode_audio):
    samples = real_clips["en_goforward.wav"].samples()
    path = encode_audio(samples, SAMPLE_RATE, tmp_path / "a.mp3", codec="libmp3lame")
    info = probe(path)
    assert (info.decoder, info.container, info.channels) == ("ffmpeg", "mp3", 1)
    assert info.duration_s == pytest.approx(2.786, abs=0.1)


def test_decoding_a_path_never_looks_at_its_name(tmp_path, real_clips):
    # A FLAC called .wav must decode by content (and the reverse would too).
    source = Path(real_clips["en_goforward.wav"].path)
    misnamed = tmp_path / "actually_flac.wav"
    sf.write(misnamed, sf.read(source, dtype="float32")[0], SAMPLE_RATE, format="FLAC")
    assert probe(misnamed).container == "FLAC"
    np.testing.assert_allclose(load_audio(misnamed), load_audio(source), atol=1 / 32768)


def test_data_naming_other_files_is_refused_not_followed(tmp_path, real_clips, monkeypatch):
    # An FFmpeg concat list is "audio" that tells the decoder to open other files: a client's
    # upload must never make the server read a file of its choosing.
    (tmp_path / "private").mkdir()
    shutil.copy(real_clips["en_jfk.wav"].path, tmp_path / "private" / "secret.wav")
    monkeypatch.chdir(tmp_path)
    playlist = b"ffconcat version 1.0\nfile 'private/secret.wav'\n"
    with pytest.raises(UnsupportedAudio, match="not a recognised audio or video file"):
        load_audio(playlist, name="upload")
    hls = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nprivate/secret.wav\n#EXT-X-ENDLIST\n"
    with pytest.raises(UnsupportedAudio):
        load_audio(hls, name="upload")


def test_flac_written_to_a_pipe_without_its_length_decodes_within_the_limit(
    tmp_path, real_clips, encode_audio
):
    original = real_clips["en_jfk.wav"].samples()
    path = encode_audio(original, SAMPLE_RATE, tmp_path / "piped.flac", codec="flac",
                        seekable=False)
    # FFmpeg writing to a pipe cannot go back to fill in the length: total_samples = 0.
    head = path.read_bytes()
    assert head[:4] == b"fLaC" and int.from_bytes(head[18:26], "big") & (2**36 - 1) == 0
    assert probe(path).duration_s is None
    charged: list[float] = []
    samples = load_audio(path, max_seconds=12.0, before_decode=charged.append)
    np.testing.assert_allclose(samples, original, atol=1e-4)
    assert sum(charged) < 12.0 * 2  # charged step by step as it decoded, not 10^11 hours
    with pytest.raises(AudioTooLarge, match=r"piped\.flac is longer than the 5\.0 s limit"):
        load_audio(path, max_seconds=5.0)
