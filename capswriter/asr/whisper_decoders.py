"""The two calling conventions of an exported Whisper decoder, behind one small interface.

- `StepDecoder` runs `step_decoder*.onnx` (written by our converter): one tensor per layer,
  cross-attention keys and values laid out once per window, a self-attention cache that holds
  only the tokens so far. It is what our decoding loop is fastest with.
- `FixedCacheDecoder` runs sherpa-onnx's layout (`decoder*.onnx`): stacked cross-attention
  tensors and a fixed 448-token cache plus an offset. Any Whisper model exported for
  sherpa-onnx has one, so a folder without a step decoder still decodes.

A decoder state (`State`) is the self-attention cache of each candidate sequence (rows) plus
the window's cross-attention inputs for as many rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


class Window:
    """The cross-attention inputs of one encoded window, repeated for as many rows as asked
    (`row_axis`), or the same tensors for any number of rows (`row_axis` None) when the graph
    shares them between rows."""

    def __init__(self, cross: list[np.ndarray], row_axis: int | None) -> None:
        self.row_axis = row_axis
        self._by_rows = {1: cross}

    def rows(self, n: int) -> list[np.ndarray]:
        if self.row_axis is None:
            return self._by_rows[1]
        if n not in self._by_rows:
            self._by_rows[n] = [np.repeat(c, n, axis=self.row_axis) for c in self._by_rows[1]]
        return self._by_rows[n]


@dataclass
class State:
    """The self-attention cache of each candidate sequence (rows) in one window."""

    cache: list[np.ndarray]
    window: Window
    offset: int = 0


class StepDecoder:
    """Per-layer inputs and a growing cache (see whisper_torch.WhisperStepDecoder)."""

    def __init__(self, session: Any, n_layer: int, n_head: int) -> None:
        self.session = session
        self.n_layer = n_layer
        self.n_head = n_head
        inputs = session.get_inputs()
        self._inputs = [i.name for i in inputs]
        # Graphs from converter version 6 on take one copy of the window for all rows, keys as
        # [1, head, T, d] and values as [1, head, d, T]; older ones one copy per row, keys as
        # [N, head, d, T] and values as [N, head, T, d].
        shared = inputs[-1].shape[0] == 1
        self._row_axis = None if shared else 0
        self._layouts = ((0, 2, 1, 3), (0, 2, 3, 1)) if shared else ((0, 2, 3, 1), (0, 2, 1, 3))

    def start(self, cross_k: np.ndarray, cross_v: np.ndarray) -> State:
        """State for one row from the encoder's stacked [layer, 1, T, state] keys and values."""
        _, n, frames, width = cross_k.shape
        d_head = width // self.n_head
        laid_out = [
            np.ascontiguousarray(x.reshape(n, frames, self.n_head, d_head).transpose(axes))
            for stacked, axes in zip((cross_k, cross_v), self._layouts, strict=True)
            for x in stacked
        ]
        empty = np.zeros((n, 0, width), dtype=np.float32)
        return State([empty] * (2 * self.n_layer), Window(laid_out, self._row_axis))

    def run(self, tokens: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        rows = tokens.shape[0]
        values = [tokens.astype(np.int64), *state.cache, *state.window.rows(rows)]
        logits, *cache = self.session.run(None, dict(zip(self._inputs, values, strict=True)))
        return logits, State(cache, state.window)

    def select(self, state: State, rows: np.ndarray) -> State:
        """Keep (and repeat) the cache rows of the sequences that go on."""
        return State([c[rows] for c in state.cache], state.window)


class FixedCacheDecoder:
    """sherpa-onnx's layout: stacked tensors, a 448-token cache in and out, and an offset."""

    def __init__(self, session: Any, n_layer: int, n_text_ctx: int, n_state: int) -> None:
        self.session = session
        self.shape = (n_layer, n_text_ctx, n_state)

    def start(self, cross_k: np.ndarray, cross_v: np.ndarray) -> State:
        n_layer, n_ctx, n_state = self.shape
        zeros = np.zeros((n_layer, cross_k.shape[1], n_ctx, n_state), dtype=np.float32)
        return State([zeros, zeros.copy()], Window([cross_k, cross_v], row_axis=1))

    def run(self, tokens: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        cross_k, cross_v = state.window.rows(tokens.shape[0])
        logits, k, v = self.session.run(
            None,
            {
                "tokens": tokens.astype(np.int64),
                "in_n_layer_self_k_cache": state.cache[0],
                "in_n_layer_self_v_cache": state.cache[1],
                "n_layer_cross_k": cross_k,
                "n_layer_cross_v": cross_v,
                "offset": np.array([state.offset], dtype=np.int64),
            },
        )
        return logits, State([k, v], state.window, state.offset + tokens.shape[1])

    def select(self, state: State, rows: np.ndarray) -> State:
        return State([c[:, rows] for c in state.cache], state.window, state.offset)


def load_decoder(path: Path, session: Any, meta: dict[str, str]) -> StepDecoder | FixedCacheDecoder:
    """The decoder adapter that matches the graph's inputs."""
    names = {i.name for i in session.get_inputs()}
    n_layer, n_state = int(meta["n_text_layer"]), int(meta["n_text_state"])
    if "self_k_0" in names:
        return StepDecoder(session, n_layer, int(meta["n_text_head"]))
    if "in_n_layer_self_k_cache" in names:
        return FixedCacheDecoder(session, n_layer, int(meta["n_text_ctx"]), n_state)
    raise ValueError(f"{path} is not a Whisper decoder this program knows ({sorted(names)})")
