"""A task turns finished jobs into messages on the event loop, in an order clients rely on."""

from __future__ import annotations

import asyncio
import threading

import numpy as np

from capswriter.asr.result import Transcript
from capswriter.server.tasks import Task
from capswriter.wire import protocol


def test_the_result_comes_after_every_segment_even_when_end_overtakes_the_last_callback(
) -> None:
    async def run() -> list[protocol.Message]:
        sent: list[protocol.Message] = []
        task = Task("t1", "1:t1", "dictation", "", sent.append, lambda: "whisper-base")
        jobs = [task.new_job(i, float(i), np.zeros(16000, dtype=np.float32)) for i in range(2)]
        for i, job in enumerate(jobs):
            job.start(worker_id=i, deadline=1e9)
        # The pool's thread finishes both jobs; their callbacks are queued onto the loop...
        worker = threading.Thread(
            target=lambda: [j.succeed(Transcript(f"word{j.index}", 1.0, 0.1)) for j in jobs]
        )
        worker.start()
        worker.join()
        # ...and the client's `end` is handled before they run.
        task.end_input()
        assert not task.closed
        await asyncio.wait_for(task.done.wait(), timeout=5)
        return sent

    sent = asyncio.run(run())
    kinds = [type(m).__name__ for m in sent]
    assert kinds.count("SegmentResult") == 2 and kinds[-1] == "Result", kinds
    result = sent[-1]
    assert isinstance(result, protocol.Result) and result.text == "word0 word1"


def result_of(kind: str, texts: list[str]) -> protocol.Result:
    """The result a task of ``kind`` sends once jobs with ``texts`` (in order) are done."""

    async def run() -> protocol.Message | None:
        sent: list[protocol.Message] = []
        task = Task("t1", "1:t1", kind, "", sent.append, lambda: "whisper-base")
        for i, text in enumerate(texts):
            job = task.new_job(i, 2.0 * i, np.zeros(16000, dtype=np.float32))
            job.start(worker_id=0, deadline=1e9)
            job.succeed(Transcript(text, 1.0, 0.1))
        task.end_input()
        await asyncio.wait_for(task.done.wait(), timeout=5)
        return task.outcome

    result = asyncio.run(run())
    assert isinstance(result, protocol.Result), result
    return result


def test_a_file_result_starts_every_sentence_with_a_capital_in_text_and_segments() -> None:
    result = result_of("file", ["but when I had approached,", "The door was open.", "then."])
    assert result.text == "But when I had approached, the door was open. Then."
    assert [s["text"] for s in result.segments] == [
        "But when I had approached,", "the door was open.", "Then.",
    ]


def test_dictation_pieces_cut_at_a_pause_join_without_a_capital_mid_sentence() -> None:
    result = result_of("dictation", ["And so my fellow Americans,", "And ask not", "The end."])
    assert result.text == "And so my fellow Americans, and ask not the end."
    # The first piece may continue a sentence already in the window: its case is kept.
    assert result_of("dictation", ["go forward", "Then stop."]).text == "go forward then stop."


def test_digits_in_pieces_stay_digits() -> None:
    assert result_of("dictation", ["1, 2,", "3."]).text == "1, 2, 3."
    assert result_of("file", ["Go forward 10 meters.", "10 meters more."]).text \
        == "Go forward 10 meters. 10 meters more."
