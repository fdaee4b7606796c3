"""Notices shown one after another, so two that arrive together are both read.

A notice on a topic supersedes the one on screen and those waiting on the same topic: when the
server is back, "the server stopped" is not shown any more.
"""

from __future__ import annotations

from collections import deque

from capswriter.client.dictation import Notice

# How long a notice stays before the next one is shown.
DISPLAY_S = 6.0


class NoticeQueue:
    def __init__(self) -> None:
        self.showing: Notice | None = None
        self.waiting: deque[Notice] = deque()

    def push(self, notice: Notice) -> Notice | None:
        """Take a new notice; returns it when it is to be shown now."""
        if notice.topic:
            self.waiting = deque(n for n in self.waiting if n.topic != notice.topic)
        if self.showing is None or (notice.topic and self.showing.topic == notice.topic):
            self.showing = notice
            return notice
        self.waiting.append(notice)
        return None

    def shown(self) -> Notice | None:
        """The notice on screen has had its time; returns the next to show, if any."""
        self.showing = self.waiting.popleft() if self.waiting else None
        return self.showing
