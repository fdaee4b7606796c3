"""Notices that arrive together are shown one after another; a newer one on the same topic
replaces the older instead of following it."""

from __future__ import annotations

from capswriter.client.dictation import Notice
from capswriter.client.notices import NoticeQueue


def test_notices_are_shown_in_turn_and_none_is_lost() -> None:
    queue = NoticeQueue()
    first, second, third = (Notice(f"n{i}", "…") for i in range(3))
    assert queue.push(first) is first
    assert queue.push(second) is None and queue.push(third) is None
    assert [queue.shown(), queue.shown(), queue.shown()] == [second, third, None]


def test_a_resolved_problem_is_not_shown_after_its_resolution() -> None:
    queue = NoticeQueue()
    busy = Notice("Transcribing", "a file", topic="files")
    stopped = Notice("The recognition server stopped", "signal 9", "error", topic="server")
    back = Notice("The recognition server is back", "ok", topic="server")
    assert queue.push(busy) is busy
    assert queue.push(stopped) is None  # waits its turn
    assert queue.push(back) is None  # replaces the waiting "stopped"
    assert queue.shown() is back and queue.shown() is None
    # On screen already: the resolution replaces it at once.
    assert queue.push(stopped) is stopped
    assert queue.push(back) is back
