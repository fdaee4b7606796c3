"""Hot words matched by sound: aliases, blacklists, thresholds, Latin words, the 慌张 guard."""

from __future__ import annotations

import pytest

from capswriter.text.hot_words import (
    HotWord,
    HotWordMatcher,
    HotWordRules,
    parse_hot_words,
)
from capswriter.text.sounds import Sound, sounds_of, substitution_cost

RULES = """
# names and terms
Claude | 克劳德 | cloud
傅平 ~~~ 扶贫 | 精准
黄章
韩国瑜
GitHub
CapsWriter | 开普斯 writer
see pie = CPython
"""


@pytest.fixture(scope="module")
def matcher() -> HotWordMatcher:
    return HotWordMatcher(parse_hot_words(RULES))


def written(matcher: HotWordMatcher, text: str) -> str:
    return matcher.apply(text)[0]


def test_the_file_format_reads_targets_aliases_blacklists_and_thresholds() -> None:
    rules = parse_hot_words(
        "Claude | 克劳德 | cloud\n傅平 ~~~ 扶贫 | 精准 @ 0.9\n# note\n\nx = y\n")
    assert rules.words[0] == HotWord("Claude", ("克劳德", "cloud"), (), None, 1)
    assert rules.words[1] == HotWord("傅平", (), ("扶贫", "精准"), 0.9, 2)
    assert len(rules.literals) == 1


@pytest.mark.parametrize("line", ["| 别名", "~~~ 黑名单", "a @ 1.5", "a @ 0"])
def test_a_malformed_line_is_refused_with_its_number(line: str) -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse_hot_words("ok\n" + line)


def test_a_name_heard_as_a_homophone_is_written_as_the_hot_word(matcher) -> None:
    assert written(matcher, "付平今天来了") == "傅平今天来了"
    assert written(matcher, "寒国鱼来了") == "韩国瑜来了"


def test_a_sound_alike_within_the_threshold_matches_and_reports_its_score(matcher) -> None:
    text, changes = matcher.apply("汉国宇说")  # han4 for han2, yu3 for yu2: two tones off
    assert text == "韩国瑜说"
    assert changes[0].before == "汉国宇" and 0.85 <= changes[0].score < 1


def test_every_alias_is_written_as_the_first_item(matcher) -> None:
    assert written(matcher, "我用cloud写代码") == "我用Claude写代码"
    assert written(matcher, "克劳德很好用") == "Claude很好用"
    assert written(matcher, "克劳的很好用") == "Claude很好用"  # de2 for de5


def test_a_blacklisted_word_near_the_match_vetoes_it(matcher) -> None:
    assert written(matcher, "我们要精准扶贫") == "我们要精准扶贫"
    assert written(matcher, "付平在做扶贫工作") == "付平在做扶贫工作"
    # Farther than five characters away the blacklist does not reach.
    assert written(matcher, "付平今天上午很忙，下午才去扶贫") == "傅平今天上午很忙，下午才去扶贫"


def test_short_hot_words_need_every_tone_so_huangzhang_stays_panic(matcher) -> None:
    assert written(matcher, "他很慌张") == "他很慌张"
    # the same word with its own tones is still found
    assert written(matcher, "黄章是魅族的创始人") == "黄章是魅族的创始人"
    assert written(matcher, "皇章是魅族的创始人") == "黄章是魅族的创始人"


def test_without_the_guard_one_wrong_tone_would_rewrite_panic() -> None:
    unguarded = HotWordMatcher(parse_hot_words("黄章"), exact_tones_up_to=0)
    assert unguarded.apply("他很慌张")[0] == "他很黄章"


def test_a_line_threshold_overrides_the_default() -> None:
    loose = HotWordMatcher(parse_hot_words("韩国瑜"))
    strict = HotWordMatcher(parse_hot_words("韩国瑜 @ 0.99"))
    assert loose.apply("汉国宇说")[0] == "韩国瑜说"
    assert strict.apply("汉国宇说")[0] == "汉国宇说"
    assert strict.apply("寒国鱼说")[0] == "韩国瑜说"  # an exact homophone still scores 1


def test_the_default_threshold_is_the_matchers(matcher) -> None:
    strict = HotWordMatcher(parse_hot_words("韩国瑜"), threshold=0.95)
    assert strict.apply("汉国宇说")[0] == "汉国宇说"


def test_latin_words_match_whole_words_and_come_out_in_their_case(matcher) -> None:
    assert written(matcher, "push to github and see pie.") == "push to GitHub and CPython."
    assert written(matcher, "githubs") == "githubs"
    assert written(matcher, "在github上看看") == "在GitHub上看看"


def test_mixed_chinese_and_english_aliases_match_across_the_space(matcher) -> None:
    assert written(matcher, "请用开普斯writer试试") == "请用CapsWriter试试"
    assert written(matcher, "请用开普斯 writer 试试") == "请用CapsWriter 试试"


def test_a_match_never_crosses_punctuation(matcher) -> None:
    assert written(matcher, "付，平") == "付，平"


def test_overlapping_matches_go_to_the_higher_score() -> None:
    m = HotWordMatcher(HotWordRules((HotWord("张三丰"), HotWord("三峰山"))))
    text, changes = m.apply("张三峰山")
    # 张三峰 scores 1 against 张三丰 (homophone); 三峰山 would score 1 too but starts later
    # and overlaps; both are exact, so the earlier-found longer-or-equal one is kept once.
    assert len(changes) <= 1 and text in {"张三丰山", "张三峰山"}
    m = HotWordMatcher(HotWordRules((HotWord("韩国瑜"), HotWord("国语"))))
    text, changes = m.apply("寒国鱼")
    assert text == "韩国瑜"


def test_text_already_right_is_left_as_is_and_reports_no_change(matcher) -> None:
    assert matcher.apply("傅平和Claude") == ("傅平和Claude", [])


def test_several_occurrences_are_all_written(matcher) -> None:
    assert written(matcher, "付平说付平会来") == "傅平说傅平会来"


def test_sounds_are_read_in_context_and_priced_by_the_issue_rules() -> None:
    zhang, zang = Sound("zh", "ang", 1), Sound("z", "ang", 1)
    assert substitution_cost(zang, zhang) == 0.5
    assert substitution_cost(Sound("zh", "ang", 3), zhang) == 0.5
    assert substitution_cost(Sound("zh", "an", 1), zhang) == 0.5
    assert substitution_cost(Sound("b", "ang", 1), zhang) == 1.0
    hang = sounds_of("行长")[0]
    assert hang is not None and (hang.initial, hang.final, hang.tone) == ("h", "ang", 2)
    assert sounds_of("A，1")[1] is None and sounds_of("A")[0].units == 1


def test_five_thousand_hot_words_load_and_find_the_one_that_matters() -> None:
    from pypinyin.phrases_dict import phrases_dict

    words = [HotWord(w) for w in sorted(phrases_dict)[:5000]] + [HotWord("傅平")]
    m = HotWordMatcher(HotWordRules(tuple(words)))
    text, changes = m.apply("付平今天来了")
    assert text.startswith("傅平") and len(m) == 5001
