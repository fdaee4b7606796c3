"""Model paths sherpa-onnx cannot open as they are (Windows' ANSI code page) get a form it can."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from capswriter.asr.native_path import native_path, spellable
from capswriter.asr.vad import SpeechDetector


@pytest.fixture()
def chinese_model(tmp_path: Path, vad_model_path: Path) -> Path:
    """The VAD model in a folder named as a Chinese user's download folder would be."""
    folder = tmp_path / "张三 的下载" / "CapsWriter 模型" / "silero-vad"
    folder.mkdir(parents=True)
    return Path(shutil.copy(vad_model_path, folder / "silero_vad.onnx"))


def test_a_path_the_code_page_spells_is_passed_as_it_is(chinese_model: Path) -> None:
    # A Chinese system (cp936) spells these letters; nothing needs copying.
    assert native_path(chinese_model, codec="cp936") == str(chinese_model)
    assert spellable(str(chinese_model), None)


def test_an_unspellable_path_becomes_an_ascii_copy_that_sherpa_onnx_loads(
    chinese_model: Path, tmp_path: Path, real_clips
) -> None:
    # cp1252 (a Western system) cannot spell the folder; no short names on this volume.
    staging = tmp_path / "copies"
    path = native_path(chinese_model, codec="cp1252", staging=staging, use_short_names=False)
    assert path.isascii() and Path(path).parent.parent == staging
    assert Path(path).read_bytes() == chinese_model.read_bytes()
    # The same model again: the same copy, not a second one.
    assert native_path(chinese_model, codec="cp1252", staging=staging,
                       use_short_names=False) == path
    assert len(list(staging.iterdir())) == 1
    samples = real_clips["zh_sr_chinese.wav"].samples()
    assert SpeechDetector(Path(path)).speech_spans(samples)


def test_the_detector_loads_from_a_folder_with_chinese_letters_and_spaces(
    chinese_model: Path, real_clips
) -> None:
    samples = real_clips["zh_aishell_BAC009S0724W0121.wav"].samples()
    spans = SpeechDetector(chinese_model).speech_spans(samples)
    assert spans and spans[0].end > spans[0].start
