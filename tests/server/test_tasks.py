"""A task turns finished jobs into messages on the event loop, in an order clients rely on."""

from __future__ import annotations

import asyncio
import threading

import numpy as np

from capswriter.asr.result import Transcript
from capswriter.server import protocol
from capswriter.server.tasks import Task


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
