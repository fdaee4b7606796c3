"""The settings file is checked when it is read: a value that cannot work is named at once."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from capswriter.config import (
    InvalidSetting,
    Settings,
    check_settings,
    default_chinese_script,
    load_settings,
)
from capswriter.errors import ConfigError


@pytest.mark.parametrize(("toml", "named"), [
    ("[server]\nport = 99999\n", "port = 99999"),
    ("[client]\noutput_mode = \"paste/type\"\n", "output_mode = 'paste/type' is not one of"),
    ("[asr]\nchinese_script = \"zh\"\n", "chinese_script = 'zh' is not one of"),
    ("[client]\nhold_threshold_s = 0\n", "hold_threshold_s must be more than 0"),
    ("[client]\nhold_threshold_s = \"0.3s\"\n", "hold_threshold_s: '0.3s' is not a valid float"),
    ("[server]\nnot_a_setting = 1\n", "unknown setting 'not_a_setting'"),
    ("[client]\nhotkey = \"capslock\"\n", "hotkey = 'capslock' is not a key push-to-talk"),
    ("[client]\nui_language = \"fr\"\n", "ui_language = 'fr' is not one of auto, en, zh_CN"),
    ("[client]\nhistory_keep_days = -1\n", "history_keep_days must be 0 or more"),
    ("[server]\nhost = \"my server\"\n", "host = 'my server' is not a host name"),
    ("[files]\nformats = []\n", "formats must name at least one of txt"),
    ("[files]\nformats = [\"doc\"]\n", "(not 'doc')"),
    ("[client]\nrecording_overlay = \"maybe\"\n", "recording_overlay: 'maybe' is not a valid bool"),
    ("[client]\nsound_cues = 2\n", "sound_cues: 2 is not a valid bool"),
])
def test_a_value_that_cannot_work_is_named_with_its_file(tmp_path, toml, named) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_settings(path, environ={})
    assert named in str(refused.value)
    assert str(path) in str(refused.value)


def test_the_environment_is_checked_too(tmp_path) -> None:
    with pytest.raises(ConfigError, match="port = 0"):
        load_settings(tmp_path / "absent.toml", environ={"CAPSWRITER_SERVER_PORT": "0"})


def test_valid_choices_load(tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[asr]\nchinese_script = \"hongkong\"\n[client]\noutput_mode = \"type\"\n",
                    encoding="utf-8")
    settings = load_settings(path, environ={})
    assert (settings.asr.chinese_script, settings.client.output_mode) == ("hongkong", "type")


def test_a_setting_made_in_code_is_checked_like_one_read_from_the_file() -> None:
    settings = Settings()
    settings.client.recording_overlay = "yes"  # e.g. from a form field, not through the file
    with pytest.raises(InvalidSetting, match="recording_overlay = 'yes' is not true or false") \
            as refused:
        check_settings(settings)
    # Named so that the settings dialog can point at the box that holds it.
    assert (refused.value.section, refused.value.key) == ("client", "recording_overlay")


def test_overlay_on_and_sounds_off_by_default_and_both_switchable(tmp_path) -> None:
    defaults = load_settings(tmp_path / "absent.toml", environ={})
    assert defaults.client.recording_overlay and not defaults.client.sound_cues
    path = tmp_path / "config.toml"
    path.write_text("[client]\nrecording_overlay = false\nsound_cues = true\n", encoding="utf-8")
    chosen = load_settings(path, environ={"CAPSWRITER_CLIENT_SOUND_CUES": "off"})
    assert not chosen.client.recording_overlay and not chosen.client.sound_cues


@pytest.mark.parametrize(
    ("environ", "script"),
    [
        ({"LANG": "zh_TW.UTF-8"}, "taiwan"),
        ({"LANG": "zh_HK.UTF-8"}, "hongkong"),
        ({"LC_ALL": "zh_Hant.UTF-8", "LANG": "zh_CN.UTF-8"}, "traditional"),
        ({"LANG": "zh_CN.UTF-8"}, "simplified"),
        ({"LANG": "en_US.UTF-8", "LANGUAGE": "zh_TW"}, "simplified"),
        ({}, "simplified"),
    ],
)
def test_the_default_chinese_script_follows_the_locale(environ, script) -> None:
    assert default_chinese_script(environ) == script


def test_a_taiwanese_system_writes_traditional_unless_the_file_says_otherwise(
    tmp_path, monkeypatch
) -> None:
    for name in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "zh_TW.UTF-8")
    assert load_settings(tmp_path / "none.toml", environ={}).asr.chinese_script == "taiwan"
    path = tmp_path / "config.toml"
    path.write_text('[asr]\nchinese_script = "simplified"\n')
    assert load_settings(path, environ={}).asr.chinese_script == "simplified"


def test_an_app_folder_the_user_cannot_write_sends_models_to_the_data_folder(tmp_path) -> None:
    """Program Files: the app's empty models/ is read-only for the user; a folder holding
    models stays in use, one the user can write is used for installs."""
    import shutil
    import subprocess
    import sys

    from capswriter.config import PROJECT_ROOT, usable_models_dir

    assert usable_models_dir(tmp_path / "absent") is None
    writable = tmp_path / "writable"
    writable.mkdir()
    assert usable_models_dir(writable) == writable
    shipped = tmp_path / "shipped"
    (shipped / "whisper-base").mkdir(parents=True)
    assert usable_models_dir(shipped) == shipped
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return
    # As an ordinary user, a root-owned empty folder is one they cannot write.
    root_only = Path(tempfile.mkdtemp())
    try:
        root_only.chmod(0o755)
        code = ("from pathlib import Path; from capswriter.config import usable_models_dir;"
                f"print(usable_models_dir(Path({str(root_only)!r})))")
        done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                               sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=60, cwd=PROJECT_ROOT,
                              env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
        assert done.stdout.strip() == "None", done.stderr
    finally:
        root_only.rmdir()
