"""The one wire and storage format: 16-bit PCM, converted exactly as libsndfile does."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from capswriter.audio import from_pcm16, to_pcm16


def test_pcm16_frames_convert_like_libsndfile(real_clips):
    path = real_clips["en_sr_one_two_three.wav"].path
    as_int16, _ = sf.read(path, dtype="int16")
    as_float, _ = sf.read(path, dtype="float32")
    np.testing.assert_array_equal(from_pcm16(as_int16.tobytes()), as_float)
    # Back again without loss, from float and from int16 alike.
    assert to_pcm16(as_float) == as_int16.astype("<i2").tobytes()
    assert to_pcm16(as_int16) == as_int16.astype("<i2").tobytes()


def test_samples_outside_full_scale_are_clipped_not_wrapped():
    pcm = np.frombuffer(to_pcm16(np.array([1.5, -1.5, 1.0], dtype=np.float32)), dtype="<i2")
    assert pcm.tolist() == [32767, -32768, 32767]
