"""The text stage as dictation, files and the API use it: order, protection, spacing, reloads."""

from __future__ import annotations

import os
import time

import pytest

from capswriter.text import HotWordFile, TextOptions, TextStage
from capswriter.text.spacing import join_spelled_letters, space_mixed

HOT = "Claude | 克劳德 | cloud\n十三五 | 十三物\n傅平 ~~~ 扶贫 | 精准\n"


def test_hot_words_then_numbers_and_each_change_is_listed_with_its_reason() -> None:
    stage = TextStage.from_text(TextOptions(itn=True), HOT)
    result = stage.apply("我用cloud写了二十个函数")
    assert result.raw == "我用cloud写了二十个函数"
    assert result.text == "我用Claude写了20个函数"
    kinds = [c.kind for c in result.changes]
    assert kinds == ["hot word", "numbers"]
    assert result.changes[0].score == 1.0 and result.changes[0].heard_as == "cloud"


def test_numbers_inside_a_hot_word_are_written_as_the_hot_word_says() -> None:
    stage = TextStage.from_text(TextOptions(itn=True), HOT)
    assert stage.apply("十三物规划有三百个项目").text == "十三五规划有300个项目"


def test_each_part_can_be_switched_off() -> None:
    text = "付平说A S R提高了百分之九十"
    assert TextStage.from_text(TextOptions(itn=False, hot_words=False), HOT).apply(text).text \
        == "付平说ASR提高了百分之九十"
    assert TextStage.from_text(TextOptions(itn=True, hot_words=False), HOT).apply(text).text \
        == "付平说ASR提高了90%"
    assert TextStage.from_text(TextOptions(itn=True, spacing="space"), HOT).apply(text).text \
        == "傅平说 ASR 提高了 90%"


@pytest.mark.parametrize(("text", "spacing", "out"), [
    ("用Claude写", "space", "用 Claude 写"),
    ("用 Claude 写", "none", "用Claude写"),
    ("用 Claude写", "keep", "用 Claude写"),
    ("共20个", "space", "共 20 个"),
    ("提高了90%。", "space", "提高了 90%。"),
    ("hello world", "none", "hello world"),
])
def test_spacing_between_chinese_and_latin(text: str, spacing: str, out: str) -> None:
    assert space_mixed(text, spacing) == out


@pytest.mark.parametrize(("text", "out"), [
    ("A S R", "ASR"), ("用A S R识别", "用ASR识别"), ("I am A B", "I am AB"),
    ("a s r", "a s r"), ("ASR", "ASR"), ("Plan A is OK", "Plan A is OK"),
])
def test_spelled_letters_become_one_word_and_keep_their_case(text: str, out: str) -> None:
    assert join_spelled_letters(text) == out


def test_bad_options_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="spacing"):
        TextOptions(spacing="wide")
    with pytest.raises(ValueError, match="threshold"):
        TextOptions(threshold=1.5)


def test_the_hot_word_file_is_read_again_when_it_changes_and_a_bad_edit_keeps_the_last(tmp_path):
    path = tmp_path / "hot_words.txt"
    path.write_text("傅平\n", encoding="utf-8")
    stage = TextStage(TextOptions(), HotWordFile(path))
    assert stage.apply("付平来了").text == "傅平来了"

    def rewrite(text: str) -> None:
        path.write_text(text, encoding="utf-8")
        stamp = time.time() + 5
        os.utime(path, (stamp, stamp))

    rewrite("韩国瑜\n")
    assert stage.apply("付平和寒国鱼").text == "付平和韩国瑜"
    rewrite("韩国瑜 @ 7\n")  # refused: the last good list stays
    assert stage.apply("寒国鱼").text == "韩国瑜"
    assert "line 1" in stage._hot_words.error  # type: ignore[union-attr]
    path.unlink()
    assert stage.apply("寒国鱼").text == "寒国鱼"
