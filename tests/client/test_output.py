"""Post-processing rules and output into a real focused window under Xvfb."""

from __future__ import annotations

import os
import time

import pytest

from capswriter.client.delivery import (
    FOLLOW_ON_S,
    Clipboard,
    LastOutput,
    TextOutput,
    focused_app,
)
from capswriter.client.output_rules import (
    FocusedApp,
    PostProcessor,
    parse_app_modes,
    parse_regex_rules,
)
from capswriter.config import Settings, load_settings
from capswriter.errors import ConfigError

from .xsession import wait_until


def processor(tmp_path, **client) -> PostProcessor:
    settings = Settings()
    for key, value in client.items():
        setattr(settings.client, key, value)
    return PostProcessor(settings, rules_dir=tmp_path)


def touch_later(path, text):
    """Rewrite a file with a visibly newer mtime (some filesystems have coarse timestamps)."""
    path.write_text(text, encoding="utf-8")
    stamp = time.time() + 5
    os.utime(path, (stamp, stamp))


def test_without_rule_files_text_passes_through_stripped(tmp_path):
    assert processor(tmp_path).process("  hello world.  ") == "hello world."


def test_hot_words_fix_case_and_replace_phrases_on_whole_words(tmp_path):
    (tmp_path / "hot_words.txt").write_text(
        "# comment\nGitHub\nsee pie = CPython\n", encoding="utf-8"
    )
    p = processor(tmp_path)
    assert p.process("push to github and see pie.") == "push to GitHub and CPython."
    assert p.process("githubs") == "githubs"


def test_regex_rules_apply_after_hot_words(tmp_path):
    (tmp_path / "hot_rules.txt").write_text(r"(\d+) percent = \1%" + "\n", encoding="utf-8")
    assert processor(tmp_path).process("up 20 percent") == "up 20%"


def test_rule_files_are_reloaded_when_they_change(tmp_path):
    rules = tmp_path / "hot_words.txt"
    rules.write_text("foo = bar\n", encoding="utf-8")
    p = processor(tmp_path)
    assert p.process("foo") == "bar"
    touch_later(rules, "foo = baz\n")
    assert p.process("foo") == "baz"
    rules.unlink()
    assert p.process("foo") == "foo"


def test_a_broken_rule_file_keeps_the_last_good_rules(tmp_path):
    rules = tmp_path / "hot_rules.txt"
    rules.write_text("a+ = b\n", encoding="utf-8")
    p = processor(tmp_path)
    assert p.process("aaa") == "b"
    touch_later(rules, "(unclosed = b\n")
    assert p.process("aaa") == "b"


def test_chinese_is_written_in_the_chosen_script(tmp_path):
    p = processor(tmp_path)
    assert p.process("廣州市房地產中介協會分析") == "广州市房地产中介协会分析"
    # Whisper mixes scripts; every choice gets one script, with its region's words.
    p.settings.asr.chinese_script = "taiwan"
    assert p.process("软件开发和鼠標") == "軟體開發和滑鼠"
    p.settings.asr.chinese_script = "hongkong"
    assert p.process("这个里面") == "這個裏面"
    p.settings.asr.chinese_script = "traditional"
    assert p.process("广州市") == "廣州市"
    p.settings.asr.chinese_script = "as_heard"
    assert p.process("廣州 and 广州") == "廣州 and 广州"
    p.settings.asr.chinese_script = "klingon"
    with pytest.raises(ConfigError, match="chinese_script must be one of"):
        p.process("广州")


def test_a_settings_file_with_the_old_switch_still_loads(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[asr]\nsimplified_chinese = false\n", encoding="utf-8")
    assert load_settings(path, environ={}).asr.chinese_script == "as_heard"
    path.write_text("[asr]\nsimplified_chinese = true\n", encoding="utf-8")
    assert load_settings(path, environ={}).asr.chinese_script == "simplified"


def test_trailing_punctuation_and_space_options(tmp_path):
    assert processor(tmp_path, trailing_punctuation=False).process("你好。") == "你好"
    assert processor(tmp_path, trailing_punctuation=False).process("Hello!?") == "Hello"
    assert processor(tmp_path, trailing_space=True).process("Hello.") == "Hello. "
    assert processor(tmp_path, trailing_space=True).process("") == ""


@pytest.mark.parametrize("text", ["1, 2, 3.", "Go forward 10 meters.", "In 1813, 8 men came."])
def test_no_clean_up_step_changes_digits(tmp_path, text):
    (tmp_path / "hot_words.txt").write_text("GitHub\nWindows 10\nten = 10\n", encoding="utf-8")
    (tmp_path / "hot_rules.txt").write_text("(\\d+) px = \\1 pixels\n", encoding="utf-8")
    assert processor(tmp_path).process(text) == text
    assert processor(tmp_path, trailing_punctuation=False).process(text) == text.rstrip(".")
    assert processor(tmp_path, trailing_space=True).process(text) == text + " "


def test_a_dictation_right_after_another_in_the_same_window_is_set_apart(tmp_path):
    out = TextOutput(Settings(), rules_dir=tmp_path)
    editor = FocusedApp(process="gedit", title="notes.txt - gedit")
    out.last = LastOutput("Go forward 10 meters.", 100.0, editor)
    assert out.follows_on("Go forward", editor, 130.0)
    assert out.follows_on("10 more", editor, 130.0)
    # The editor marks the document changed after the first dictation: still the same window.
    assert out.follows_on("Go", FocusedApp("gedit", "*notes.txt - gedit"), 130.0)
    assert not out.follows_on("Go", FocusedApp("gedit", "other.txt - gedit"), 130.0)
    assert not out.follows_on("Go", FocusedApp("xterm", "notes.txt - gedit"), 130.0)
    assert not out.follows_on("Go", editor, 100.0 + FOLLOW_ON_S + 1)
    assert not out.follows_on("然后停下。", editor, 130.0)
    out.last = LastOutput("向前走十米。", 100.0, editor)
    assert not out.follows_on("Then stop.", editor, 130.0)
    out.last = LastOutput("Go forward. ", 100.0, editor)  # trailing_space put one there
    assert not out.follows_on("Go", editor, 130.0)


def test_per_app_mode_override_by_process_or_title(tmp_path):
    (tmp_path / "apps.toml").write_text(
        '[apps]\n"xterm" = "type"\n"Remote Desktop" = "type"\n', encoding="utf-8"
    )
    out = TextOutput(Settings(), rules_dir=tmp_path)
    assert out.mode_for(FocusedApp(process="xterm", title="bash")) == "type"
    assert out.mode_for(FocusedApp(process="mstsc.exe", title="x - remote desktop")) == "type"
    assert out.mode_for(FocusedApp(process="gedit", title="notes")) == "paste"
    assert out.mode_for(None) == "paste"


def test_app_modes_reject_unknown_modes():
    with pytest.raises(ValueError, match="mode must be one of"):
        parse_app_modes('[apps]\nfoo = "shout"\n')


# --- Real X server, real clipboard, real keystrokes -------------------------------------------


def test_focused_app_names_the_window_with_focus(focus_target):
    app = wait_until(focused_app, 5)
    assert app is not None
    assert app.title == "capswriter focus target"
    assert app.process.startswith("python")


def test_paste_puts_text_in_the_field_and_restores_the_clipboard(focus_target, tmp_path):
    clipboard = Clipboard()
    clipboard.write("what the user had copied")
    out = TextOutput(Settings(), rules_dir=tmp_path, clipboard=clipboard)
    result = out.deliver("粘贴 works")
    assert result.delivered and result.mode == "paste", result.reason
    assert wait_until(lambda: focus_target.text() == "粘贴 works", 5), focus_target.text()
    assert clipboard.read() == "what the user had copied"
    out.close()


def test_type_mode_types_into_the_field(focus_target, tmp_path):
    settings = Settings()
    settings.client.output_mode = "type"
    out = TextOutput(settings, rules_dir=tmp_path)
    result = out.deliver("typed text")
    out.close()
    assert result.delivered and result.mode == "type"
    assert wait_until(lambda: focus_target.text() == "typed text", 5), focus_target.text()


def test_consecutive_dictations_get_a_space_in_latin_text_only(focus_target, tmp_path):
    out = TextOutput(Settings(), rules_dir=tmp_path, paste_settle_s=0.1)
    for text in ("Go forward 10 meters.", "Go forward"):
        assert out.deliver(text).delivered
    assert wait_until(lambda: focus_target.text() == "Go forward 10 meters. Go forward", 5), \
        focus_target.text()
    for text in ("。向前走十米。", "然后停下。"):
        assert out.deliver(text).delivered
    expected = "Go forward 10 meters. Go forward。向前走十米。然后停下。"
    assert wait_until(lambda: focus_target.text() == expected, 5), focus_target.text()
    out.close()


def test_without_focus_the_text_stays_on_the_clipboard(x_server, tmp_path):
    from Xlib import X, display

    dpy = display.Display(x_server.display)
    dpy.set_input_focus(X.PointerRoot, X.RevertToPointerRoot, X.CurrentTime)
    dpy.sync()
    dpy.close()
    result = TextOutput(Settings(), rules_dir=tmp_path).deliver("nowhere to go")
    assert not result.delivered
    assert "focus" in result.reason
    assert Clipboard().read() == "nowhere to go"


def test_a_rule_whose_replacement_names_a_missing_group_is_refused_at_load() -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse_regex_rules("(\\d+) px = \\1 pixels\n(\\d+) pt = \\2 points\n")
    assert len(parse_regex_rules("(\\d+) px = \\1 pixels\n")) == 1


def test_dictation_text_gets_hot_words_by_sound_and_numbers_in_digits(tmp_path):
    (tmp_path / "hot_words.txt").write_text("傅平 ~~~ 扶贫\nClaude | cloud\n", encoding="utf-8")
    p = processor(tmp_path)
    done = p.rewrite("付平用cloud写了二十个函数。")
    assert done.text == "傅平用Claude写了20个函数。"
    assert done.raw == "付平用cloud写了二十个函数。"
    assert [c.kind for c in done.changes] == ["hot word", "hot word", "numbers"]
    assert p.process("我们在扶贫") == "我们在扶贫"


def test_text_settings_saved_later_reach_the_post_processor(tmp_path):
    (tmp_path / "hot_words.txt").write_text("韩国瑜\n", encoding="utf-8")
    p = processor(tmp_path)
    assert p.process("汉国宇说了二十句") == "韩国瑜说了20句"
    new = Settings()
    new.text.itn = False
    new.text.hot_word_threshold = 0.95
    new.text.mixed_spacing = "space"
    p.settings = new
    assert p.process("汉国宇说了二十句") == "汉国宇说了二十句"
    assert p.process("寒国鱼用GitHub") == "韩国瑜用 GitHub"


def test_a_window_that_runs_above_us_gets_the_text_on_the_clipboard_not_lost(
    focus_target, tmp_path
):
    """An administrator's window drops our keystrokes on Windows: no success is reported, the
    text waits on the clipboard and the reason says to press Ctrl+V."""
    clipboard = Clipboard()
    clipboard.write("what the user had copied")
    out = TextOutput(Settings(), rules_dir=tmp_path, clipboard=clipboard)
    window = wait_until(focused_app, 5)
    assert window is not None
    elevated = FocusedApp(process=window.process, title=window.title, above_us=True)
    result = out.deliver("管理员 text", app=elevated)
    out.close()
    assert not result.delivered and "press Ctrl+V" in result.reason
    assert clipboard.read() == "管理员 text"
    time.sleep(0.3)
    assert focus_target.text() == ""
