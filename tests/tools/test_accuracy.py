"""The accuracy harness: scoring, diffs and the loop detector on real strings, the long
recordings it builds, and one run of `capswriter bench accuracy` on two real clips."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from capswriter.asr.text import to_simplified
from capswriter.audio import SAMPLE_RATE
from capswriter.cli import main
from capswriter.config import load_settings
from capswriter.errors import ConfigError
from capswriter.tools.accuracy import (
    COMPRESSION_RATIO_LIMIT,
    AccuracyReport,
    align,
    compression_ratio,
    find_repeats,
    looks_looping,
    score,
    score_clip,
    units,
)
from capswriter.tools.accuracy_systems import ClipFailed, Isolated, SystemSpec, cut_pieces
from capswriter.tools.bench_accuracy import load_clips, long_recordings, parse_systems

REAL = Path(__file__).parent.parent / "data" / "real"
JFK = ("And so my fellow Americans, ask not what your country can do for you, "
       "ask what you can do for your country.")
MANDARIN_LOOP = "我有的事我说不清楚你们知道吗我有的事我说不清楚你们"
MANDARIN_SENTENCE = "我有的事我说不清楚你们知道吗"


# ---- scoring and diffs -------------------------------------------------------------------


def test_english_is_scored_in_normalized_words() -> None:
    assert score(JFK, JFK.upper().replace(",", ""), "en") == (0, 22)
    assert score("one two three", "1, 2, 3.", "en") == (0, 1)
    # "asked" for "ask" and a dropped "not": two edits out of 22 words.
    hypothesis = JFK.replace("ask not", "asked")
    assert score(JFK, hypothesis, "en") == (2, 22)


def test_chinese_is_also_scored_with_numbers_in_digits_on_both_sides() -> None:
    clip = score_clip("a.wav", "zh", "我花了一百块钱", "我花了100块钱")
    assert clip.errors > 0
    assert (clip.itn_errors, clip.itn_length) == (0, 6)
    report = AccuracyReport([clip])
    assert report.itn_rate("zh") == 0.0 < report.rate("zh")
    assert report.to_dict()["itn_rates"] == {"zh": 0.0}
    english = score_clip("b.wav", "en", "one hundred", "100")
    assert (english.itn_errors, english.itn_length) == (0, 0)


def test_chinese_is_scored_in_simplified_characters_without_punctuation() -> None:
    assert score("广州市房地产中介协会分析", "廣州市 房地產 中介協會分析。", "zh") == (0, 12)
    assert score("广州市房地产中介协会分析", "廣州市佛地產中間協會分析", "zh") == (2, 12)


def test_the_diff_marks_substitutions_deletions_and_insertions_in_place() -> None:
    reference = units(JFK, "en")
    hypothesis = units("And so my follow Americans, ask what you country can do for you, "
                       "ask what you can do for your country for your country", "en")
    alignment = align(reference, hypothesis)
    assert (alignment.substitutions, alignment.deletions, alignment.insertions) == (2, 1, 3)
    assert alignment.errors == 6 and alignment.length == 22
    assert alignment.diff() == (
        "and so my [-fellow-]{+follow+} americans ask [-not-] what [-your-]{+you+} country "
        "can do for you ask what you can do for your country {+for your country+}"
    )
    # Nothing is lost: the chunks give back both sides.
    assert [u for ref, _ in alignment.chunks for u in ref] == reference
    assert [u for _, hyp in alignment.chunks for u in hyp] == hypothesis


def test_a_chinese_diff_has_no_spaces_and_an_empty_output_is_one_deletion() -> None:
    clip = score_clip("zh.wav", "zh", "广州市房地产中介协会分析", "廣州市佛地產中間協會分析了")
    assert clip.diff == "广州市[-房-]{+佛+}地产中[-介-]{+间+}协会分析{+了+}"
    assert (clip.errors, clip.substitutions, clip.insertions, clip.empty) == (3, 2, 1, False)
    silent = score_clip("en.wav", "en", "go forward ten meters", "")
    assert silent.empty and silent.errors == silent.length == 4
    assert silent.diff == "[-go forward 10 meters-]"
    assert not score_clip("noise.wav", "en", "", "").empty


def test_latin_words_in_chinese_count_as_one_unit_each_and_keep_their_spaces() -> None:
    reference = ("全民制作人大家好，我是练习时长两年半的个人练习生蔡徐坤，"
                 "喜欢唱、跳、rap、篮球、music。")
    assert units("唱、跳、Rap、篮球、Music", "zh") == ["唱", "跳", "rap", "篮", "球", "music"]
    clip = score_clip("zh.wav", "zh", reference,
                      "全民製作人們大家好我是練習時常兩年半的個人練習生蔡徐昆"
                      "喜歡唱、跳、燃球、 music")
    assert (clip.errors, clip.length) == (5, 34)
    assert clip.diff.endswith("蔡徐[-坤-]{+昆+}喜欢唱跳[-rap篮-]{+燃+}球music")
    # A hallucinated English sentence is a handful of word errors, readable as words.
    english = score_clip("zh.wav", "zh", "希望你以后能够做的比我还好呦",
                         "Let's wait, see when it's done.")
    assert english.diff.endswith("{+let's wait see when it's done+}")
    assert english.errors == 14


# ---- looping -----------------------------------------------------------------------------


def test_a_mandarin_sentence_said_again_is_a_loop_but_said_once_is_not() -> None:
    assert looks_looping(MANDARIN_LOOP)
    [repeat] = find_repeats(MANDARIN_LOOP)
    assert repeat.unit == MANDARIN_SENTENCE and repeat.times == pytest.approx(1.8)
    assert not looks_looping(MANDARIN_SENTENCE)
    assert find_repeats(MANDARIN_SENTENCE) == []


def test_a_stutter_is_not_a_loop() -> None:
    assert not looks_looping("She had a a a")
    assert not looks_looping("Thank you. Thank you.")
    assert not looks_looping(JFK)  # "ask ... ask", "your country ... your country"


def test_an_english_sentence_three_times_is_a_loop_by_repeat_and_by_compression() -> None:
    text = " ".join([JFK] * 3)
    assert compression_ratio(text) > COMPRESSION_RATIO_LIMIT
    assert compression_ratio(JFK) < COMPRESSION_RATIO_LIMIT
    [repeat] = find_repeats(text)
    assert repeat.times == 3.0 and repeat.unit.startswith("and so my fellow americans")
    assert looks_looping(text)


def test_a_word_repeated_many_times_is_a_loop() -> None:
    assert looks_looping("I think the the the the the the the the the the the the")
    assert looks_looping("哈" * 12)
    assert not looks_looping("哈哈哈")


def test_a_loop_inside_a_word_is_found_too() -> None:
    # Both seen from bare Whisper on real clips, amid otherwise fine text.
    text = "我是练习时长两年半的个人练习生蔡徐坤喜欢唱跳" + "rap" * 40 + "还有一个就是大家纠正一点"
    [repeat] = find_repeats(text)
    assert (repeat.unit, repeat.times) == ("rap", 40.0)
    assert looks_looping(text)
    assert find_repeats("Now in this one we're going to do a 9" + "20" * 30)[0].unit == "20"
    assert not looks_looping("hahaha, that was 1000000 dollars")


def test_long_natural_text_is_not_taken_for_a_loop() -> None:
    # The README's prose: thousands of bytes, which as a whole compress better than one
    # Whisper output of the same style would; judged window by window it is plain text.
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    readme = re.sub(r"```.*?```", "", readme, flags=re.S)
    prose = " ".join(line for line in readme.splitlines()
                     if line and not line.startswith(("#", "|", "-")))
    assert len(prose.encode()) > 3000
    assert not looks_looping(prose)
    references = " ".join(row["reference_text"] for row in _manifest_rows(REAL))
    assert not looks_looping(references)


def test_a_clip_whose_reference_repeats_is_not_judged_for_loops() -> None:
    reference = " ".join([JFK] * 3)
    clip = score_clip("long.wav", "en", reference, reference)
    assert clip.reference_repeats and not clip.looping and clip.repeats == []
    judged = score_clip("jfk.wav", "en", JFK, " ".join([JFK] * 3))
    assert judged.looping and not judged.reference_repeats and len(judged.repeats) == 1


# ---- audio the harness builds ------------------------------------------------------------


def test_long_recordings_join_each_languages_clips_with_pauses(tmp_path: Path) -> None:
    clips = load_clips(_two_clip_folder(tmp_path / "clips"))
    recordings, inputs = long_recordings(clips, 40.0, tmp_path)
    assert [r.language for r in recordings] == ["en", "zh"]
    english = recordings[0]
    assert english.path.is_file() and 40.0 <= english.seconds <= 40.0 + 11.0 + 2.0
    parts = inputs[0]["parts"]
    assert [p["file"] for p in parts] == ["en_jfk.wav"] * len(parts)
    assert english.reference == " ".join([JFK] * len(parts))
    # The pauses alternate 0.8 s and 2 s, after a 1 s lead-in.
    gaps = [round(b["start"] - a["end"], 1) for a, b in zip(parts, parts[1:], strict=False)]
    assert parts[0]["start"] == 1.0 and gaps[:2] == [0.8, 2.0]
    # A noise floor, never digital silence.
    lead = english.samples[: SAMPLE_RATE // 2]
    assert 0.0005 < float(np.sqrt(np.mean(lead * lead))) < 0.002
    assert recordings[1].reference.startswith("广州市房地产中介协会分析 广州市")


def test_long_recordings_can_have_digital_silence_and_chosen_pauses(tmp_path: Path) -> None:
    clips = load_clips(_two_clip_folder(tmp_path / "clips"))
    recordings, inputs = long_recordings(clips, 40.0, tmp_path, gap="zero", pauses=(0.3, 0.9, 2.0))
    parts = inputs[0]["parts"]
    gaps = [round(b["start"] - a["end"], 1) for a, b in zip(parts, parts[1:], strict=False)]
    assert gaps[:3] == [0.3, 0.9, 2.0]
    english = recordings[0].samples
    assert not english[: SAMPLE_RATE // 2].any()
    pause = english[int(parts[0]["end"] * SAMPLE_RATE) + 80 : int(parts[1]["start"] * SAMPLE_RATE)]
    assert len(pause) > 0 and not pause.any()
    with pytest.raises(ConfigError):
        long_recordings(clips, 40.0, tmp_path, gap="hum")


def test_a_skipped_sentence_shows_as_the_longest_drop() -> None:
    reference = "ask not what your country can do for you ask what you can do for your country"
    skipped = score_clip("a.wav", "en", reference, "ask not what your country can do for you")
    assert skipped.longest_drop == 8
    # Words standing in for many still leave the rest unsaid.
    stand_in = score_clip("a.wav", "en", reference, "ask not what your country can do for you ok")
    assert stand_in.longest_drop == 7
    assert score_clip("a.wav", "en", reference, reference.replace("ask", "asked")).longest_drop == 0
    assert score_clip("a.wav", "zh", "砸自己的脚广州市", "广州市").longest_drop == 5


def test_the_bare_cutter_keeps_every_sample_in_pieces_under_28_seconds(
    real_clips: dict[str, Any],
) -> None:
    jfk = real_clips["en_jfk.wav"].samples()
    pause = np.zeros(SAMPLE_RATE, np.float32)
    audio = np.concatenate([jfk, pause] * 6)  # 72 s
    pieces = cut_pieces(audio)
    assert pieces[0][0] == 0 and pieces[-1][1] == len(audio)
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:], strict=False))
    assert all(end - start <= 28 * SAMPLE_RATE for start, end in pieces)
    # Cuts fall in the silences, not inside the speech.
    for _, cut in pieces[:-1]:
        assert float(np.abs(audio[cut - 800 : cut + 800]).max()) == 0.0
    assert cut_pieces(audio[: 29 * SAMPLE_RATE]) == [(0, 29 * SAMPLE_RATE)]


def test_a_clip_past_its_deadline_fails_alone_and_the_next_gets_a_fresh_recognizer(
    tmp_path: Path, models_dir: Path,
) -> None:
    settings = load_settings(tmp_path / "none.toml", environ={})
    settings.models_dir = str(models_dir)
    clips = load_clips(_two_clip_folder(tmp_path / "clips"))
    spec = SystemSpec("bare", settings, threads=1, bare_precision="int8")
    # No time at all for the English clip, the usual deadline for the Chinese one.
    bare = Isolated(spec, lambda clip: 0.0 if clip.language == "en" else 120.0)
    try:
        assert bare.start() == ""
        first = bare._process
        with pytest.raises(ClipFailed, match="no text after 0 s; the recognizer was stopped"):
            bare.transcribe(clips[0])
        assert first is not None and not first.is_alive()
        assert "协会" in to_simplified(bare.transcribe(clips[1]))
    finally:
        bare.stop()


def test_an_unknown_system_is_refused_with_the_choices() -> None:
    assert parse_systems(None)[:2] == ["ours", "server"]
    assert parse_systems("bare, ours,bare") == ["bare", "ours"]
    with pytest.raises(ConfigError, match="choose from ours,"):
        parse_systems("ours,whisper.cpp")


# ---- the command -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def command_run(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> dict[str, Any]:
    """`capswriter bench accuracy FOLDER --systems ours,bare` on two real clips, once."""
    tmp = tmp_path_factory.mktemp("accuracy")
    folder = _two_clip_folder(tmp / "clips")
    output = tmp / "accuracy.json"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        (tmp / "none.toml").touch()  # an empty settings file: defaults
        code = main(["--config", str(tmp / "none.toml"), "--models-dir", str(models_dir),
                     "bench", "accuracy", str(folder), "--systems", "ours,bare",
                     "--output", str(output)])
    return {"code": code, "out": printed.getvalue(),
            "json": json.loads(output.read_text(encoding="utf-8"))}


def test_the_command_scores_both_systems_on_both_clips(command_run: dict[str, Any]) -> None:
    assert command_run["code"] == 0, command_run["out"]
    data = command_run["json"]
    assert data["mode"] == "clips" and list(data["systems"]) == ["ours", "bare"]
    for name, system in data["systems"].items():
        assert [c["file"] for c in system["clips"]] == ["en_jfk.wav",
                                                        "zh_aishell_BAC009S0724W0121.wav"]
        english, chinese = system["clips"]
        assert "fellow americans" in english["diff"], name
        assert "协会分析" in chinese["diff"], name
        assert system["rates"]["en"] <= 0.1 and system["rates"]["zh"] <= 0.4, system
        assert system["looping"] == system["empty"] == system["failed"] == 0
        assert system["by_language"]["zh"]["clips"] == 1
        assert system["by_language"]["en"]["length"] == 22
        assert system["wall_seconds"] > 0 and system["description"]


def test_the_command_prints_the_table_then_each_clips_diffs(
    command_run: dict[str, Any],
) -> None:
    lines = command_run["out"].splitlines()
    header = next(line for line in lines if line.startswith("system"))
    assert header.split() == ["system", "EN", "WER", "ZH", "CER", "ZH", "+ITN", "loops",
                              "empties", "wall", "s"]
    rows = [line.split()[0] for line in lines[lines.index(header) + 1:][:2]]
    assert rows == ["ours", "bare"]
    at = lines.index("en_jfk.wav (en, 11.0 s)")
    assert lines[at + 1].split()[0] == "ours" and lines[at + 2].split()[0] == "bare"


# ---- helpers -----------------------------------------------------------------------------


def _manifest_rows(folder: Path) -> list[dict[str, str]]:
    import csv

    with open(folder / "manifest.tsv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def _two_clip_folder(folder: Path) -> Path:
    """A folder with JFK and one AISHELL sentence and a 2-row manifest."""
    folder.mkdir(parents=True)
    keep = ("en_jfk.wav", "zh_aishell_BAC009S0724W0121.wav")
    lines = (REAL / "manifest.tsv").read_text(encoding="utf-8").splitlines()
    rows = [lines[0]] + [line for line in lines[1:] if line.split("\t")[0] in keep]
    (folder / "manifest.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    for name in keep:
        shutil.copy(REAL / name, folder / name)
    return folder
