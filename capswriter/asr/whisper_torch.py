"""Whisper's architecture in PyTorch, shaped for the ONNX graphs sherpa-onnx runs.

Only used by the converter (`pip install capswriter[convert]`); nothing at run time imports it.
The encoder returns each decoder layer's cross-attention keys and values, so the decoder never
recomputes them; the decoder takes and returns a fixed-size self-attention cache plus an offset,
which is the calling convention of sherpa-onnx's `offline-whisper-model.cc`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from capswriter.asr.ct2 import Ct2Model


@dataclass(frozen=True)
class WhisperDims:
    n_mels: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_vocab: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int

    @classmethod
    def from_ct2(cls, model: Ct2Model) -> WhisperDims:
        def count(prefix: str) -> int:
            layers = {k.split("/")[1] for k in model.variables if k.startswith(prefix + "/layer_")}
            return sum(1 for name in layers if name.removeprefix("layer_").isdigit())

        audio_ctx, audio_state = model.get("encoder/position_encodings/encodings").shape
        text_ctx, text_state = model.get("decoder/position_encodings/encodings").shape
        return cls(
            n_mels=model.get("encoder/conv1/weight").shape[1],
            n_audio_ctx=audio_ctx,
            n_audio_state=audio_state,
            n_audio_head=int(model.get("encoder/num_heads")),
            n_audio_layer=count("encoder"),
            n_vocab=model.get("decoder/embeddings/weight").shape[0],
            n_text_ctx=text_ctx,
            n_text_state=text_state,
            n_text_head=int(model.get("decoder/num_heads")),
            n_text_layer=count("decoder"),
        )


def _attend(q: Tensor, k: Tensor, v: Tensor, n_head: int, mask: Tensor | None = None) -> Tensor:
    n_batch, n_q, n_state = q.shape
    d_head = n_state // n_head
    q = q.view(n_batch, n_q, n_head, d_head).permute(0, 2, 1, 3)
    k = k.view(n_batch, k.shape[1], n_head, d_head).permute(0, 2, 3, 1)
    v = v.view(n_batch, v.shape[1], n_head, d_head).permute(0, 2, 1, 3)
    scores = (q @ k) * (d_head**-0.5)
    if mask is not None:
        scores = scores + mask
    weights = torch.softmax(scores, dim=-1)
    return (weights @ v).permute(0, 2, 1, 3).reshape(n_batch, n_q, n_state)


def _attend_per_head(q: Tensor, k: Tensor, v: Tensor, n_head: int) -> Tensor:
    """Self-attention computed head by head.

    Over 1500 encoder positions the scores of all heads as one tensor are 72 MB (twice that with
    the softmax), and onnxruntime's arena keeps such a peak for the life of the process; split by
    head, the 28 s segments of a file left a worker 200 MB smaller at the same speed.
    """
    d_head = q.shape[-1] // n_head
    heads = []
    for h in range(n_head):
        part = slice(h * d_head, (h + 1) * d_head)
        heads.append(_attend(q[..., part], k[..., part], v[..., part], 1))
    return torch.cat(heads, dim=-1)


class EncoderBlock(nn.Module):
    def __init__(self, n_state: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.attn_ln = nn.LayerNorm(n_state)
        self.qkv = nn.Linear(n_state, 3 * n_state)
        self.out = nn.Linear(n_state, n_state)
        self.mlp_ln = nn.LayerNorm(n_state)
        self.fc1 = nn.Linear(n_state, 4 * n_state)
        self.fc2 = nn.Linear(4 * n_state, n_state)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = self.qkv(self.attn_ln(x)).chunk(3, dim=-1)
        x = x + self.out(_attend_per_head(q, k, v, self.n_head))
        return x + self.fc2(F.gelu(self.fc1(self.mlp_ln(x))))


class DecoderBlock(EncoderBlock):
    """An encoder block plus cross-attention; its forward pass lives in WhisperDecoder."""

    def __init__(self, n_state: int, n_head: int) -> None:
        super().__init__(n_state, n_head)
        self.cross_ln = nn.LayerNorm(n_state)
        self.cross_q = nn.Linear(n_state, n_state)
        self.cross_kv = nn.Linear(n_state, 2 * n_state)
        self.cross_out = nn.Linear(n_state, n_state)


class WhisperEncoder(nn.Module):
    """mel [N, n_mels, T] → cross-attention keys and values, each [n_text_layer, N, T/2, state]."""

    def __init__(self, dims: WhisperDims, decoder_blocks: nn.ModuleList) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(dims.n_mels, dims.n_audio_state, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(dims.n_audio_state, dims.n_audio_state, 3, stride=2, padding=1)
        self.register_buffer(
            "positional_embedding", torch.zeros(dims.n_audio_ctx, dims.n_audio_state)
        )
        self.blocks = nn.ModuleList(
            EncoderBlock(dims.n_audio_state, dims.n_audio_head) for _ in range(dims.n_audio_layer)
        )
        self.ln_post = nn.LayerNorm(dims.n_audio_state)
        self.decoder_blocks = decoder_blocks

    def forward(self, mel: Tensor) -> tuple[Tensor, Tensor]:
        x = F.gelu(self.conv1(mel))
        x = F.gelu(self.conv2(x)).permute(0, 2, 1)
        # sherpa-onnx may feed fewer than 3000 frames (tail_paddings), so slice the table.
        x = x + self.positional_embedding[: x.shape[1]]
        for block in self.blocks:
            x = block(x)
        x = self.ln_post(x)
        keys, values = [], []
        for block in self.decoder_blocks:
            k, v = block.cross_kv(x).chunk(2, dim=-1)
            keys.append(k)
            values.append(v)
        return torch.stack(keys), torch.stack(values)


class WhisperDecoder(nn.Module):
    """One decoding step over `tokens` with a fixed-size self-attention cache at `offset`."""

    def __init__(self, dims: WhisperDims, blocks: nn.ModuleList) -> None:
        super().__init__()
        self.dims = dims
        self.token_embedding = nn.Embedding(dims.n_vocab, dims.n_text_state)
        self.register_buffer(
            "positional_embedding", torch.zeros(dims.n_text_ctx, dims.n_text_state)
        )
        self.blocks = blocks
        self.ln = nn.LayerNorm(dims.n_text_state)
        # The output projection is tied to the embedding. Keeping a separate, transposed constant
        # makes the logits a MatMul(x, W^T) whose weight input the int8 quantizer can reach.
        self.register_buffer("projection_t", torch.zeros(dims.n_text_state, dims.n_vocab))
        mask = torch.full((dims.n_text_ctx, dims.n_text_ctx), float("-inf")).triu_(1)
        self.register_buffer("mask", mask)

    def forward(
        self,
        tokens: Tensor,
        in_k_cache: Tensor,
        in_v_cache: Tensor,
        cross_k: Tensor,
        cross_v: Tensor,
        offset: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        start = offset[0]
        n_tokens = tokens.shape[-1]
        end = start + n_tokens
        x = self.token_embedding(tokens) + self.positional_embedding[start:end]
        mask = self.mask[start:end, :end]
        out_k, out_v = [], []
        for i, block in enumerate(self.blocks):
            h = block.attn_ln(x)
            q, k, v = block.qkv(h).chunk(3, dim=-1)
            k_all = torch.cat([in_k_cache[i, :, :start], k], dim=1)
            v_all = torch.cat([in_v_cache[i, :, :start], v], dim=1)
            x = x + block.out(_attend(q, k_all, v_all, block.n_head, mask))
            h = block.cross_ln(x)
            x = x + block.cross_out(_attend(block.cross_q(h), cross_k[i], cross_v[i], block.n_head))
            x = x + block.fc2(F.gelu(block.fc1(block.mlp_ln(x))))
            out_k.append(torch.cat([k_all, in_k_cache[i, :, end:]], dim=1))
            out_v.append(torch.cat([v_all, in_v_cache[i, :, end:]], dim=1))
        logits = self.ln(x) @ self.projection_t
        return logits.float(), torch.stack(out_k), torch.stack(out_v)


def build_from_ct2(model: Ct2Model) -> tuple[WhisperDims, WhisperEncoder, WhisperDecoder]:
    """Whisper modules in float32 with the CT2 weights loaded (CT2 fuses q/k/v into one linear)."""
    dims = WhisperDims.from_ct2(model)
    blocks = nn.ModuleList(
        DecoderBlock(dims.n_text_state, dims.n_text_head) for _ in range(dims.n_text_layer)
    )
    encoder = WhisperEncoder(dims, blocks)
    decoder = WhisperDecoder(dims, blocks)

    def t(name: str) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(model.as_float32(name)))

    def load_linear(linear: nn.Linear, prefix: str) -> None:
        linear.weight.copy_(t(prefix + "/weight"))
        linear.bias.copy_(t(prefix + "/bias"))

    def load_ln(ln: nn.LayerNorm, prefix: str) -> None:
        ln.weight.copy_(t(prefix + "/gamma"))
        ln.bias.copy_(t(prefix + "/beta"))

    with torch.no_grad():
        for conv in ("conv1", "conv2"):
            load_linear(getattr(encoder, conv), f"encoder/{conv}")  # type: ignore[arg-type]
        encoder.positional_embedding.copy_(t("encoder/position_encodings/encodings"))
        load_ln(encoder.ln_post, "encoder/layer_norm")
        for i, eblock in enumerate(encoder.blocks):
            p = f"encoder/layer_{i}"
            load_ln(eblock.attn_ln, f"{p}/self_attention/layer_norm")
            load_linear(eblock.qkv, f"{p}/self_attention/linear_0")
            load_linear(eblock.out, f"{p}/self_attention/linear_1")
            load_ln(eblock.mlp_ln, f"{p}/ffn/layer_norm")
            load_linear(eblock.fc1, f"{p}/ffn/linear_0")
            load_linear(eblock.fc2, f"{p}/ffn/linear_1")
        decoder.token_embedding.weight.copy_(t("decoder/embeddings/weight"))
        decoder.projection_t.copy_(t("decoder/projection/weight").T.contiguous())
        decoder.positional_embedding.copy_(t("decoder/position_encodings/encodings"))
        load_ln(decoder.ln, "decoder/layer_norm")
        for i, dblock in enumerate(blocks):
            p = f"decoder/layer_{i}"
            load_ln(dblock.attn_ln, f"{p}/self_attention/layer_norm")
            load_linear(dblock.qkv, f"{p}/self_attention/linear_0")
            load_linear(dblock.out, f"{p}/self_attention/linear_1")
            load_ln(dblock.cross_ln, f"{p}/attention/layer_norm")
            load_linear(dblock.cross_q, f"{p}/attention/linear_0")
            load_linear(dblock.cross_kv, f"{p}/attention/linear_1")
            load_linear(dblock.cross_out, f"{p}/attention/linear_2")
            load_ln(dblock.mlp_ln, f"{p}/ffn/layer_norm")
            load_linear(dblock.fc1, f"{p}/ffn/linear_0")
            load_linear(dblock.fc2, f"{p}/ffn/linear_1")
    encoder.eval()
    decoder.eval()
    return dims, encoder, decoder


def _attend_shared(q: Tensor, k: Tensor, v: Tensor, n_head: int) -> Tensor:
    """Cross-attention of every row's queries to one window's keys, laid out as [1, head, T, d],
    and values, laid out as [1, head, d, T].

    All rows (beam or sampling candidates) read the same audio, so their queries are stacked
    into one product per head instead of each row carrying its own copy of the keys and values
    (with five rows that copy was 180 MB read at every step). The products are written with the
    window's side first (keys × queries, values × weights): a matrix product repacks its second
    operand, and the few queries are far cheaper to repack than 1500 frames.
    """
    n_batch, n_q, n_state = q.shape
    d_head = n_state // n_head
    q = q.reshape(1, n_batch * n_q, n_head, d_head).permute(0, 2, 3, 1)  # [1, head, d, rows]
    weights = torch.softmax((k @ q) * (d_head**-0.5), dim=-2)  # [1, head, T, rows]
    out = v @ weights  # [1, head, d, rows]
    return out.permute(0, 3, 1, 2).reshape(n_batch, n_q, n_state)


class WhisperStepDecoder(nn.Module):
    """The decoder for our own decoding loop (asr/whisper_onnx.py): one tensor per layer.

    sherpa-onnx's calling convention stacks every layer's cross-attention keys and values
    into one tensor and passes a fixed 448-token self-attention cache in and out at every
    step; splitting and transposing those inside the graph was over half of each step. Here
    the cross-attention keys and values come per layer, already laid out for the product with
    the queries (done once per window) and shared by all rows, and the self-attention cache
    holds only the tokens so far, growing by one per step.

    Inputs: tokens [N, n], self_k_i / self_v_i [N, past, state], cross_k_i [1, head, T, d],
    cross_v_i [1, head, d, T]. Outputs: logits [N, n, vocab], self_k_i / self_v_i [N, past+n,
    state].
    """

    def __init__(self, decoder: WhisperDecoder) -> None:
        super().__init__()
        self.decoder = decoder
        self.n_layer = len(decoder.blocks)

    def forward(self, tokens: Tensor, *caches: Tensor) -> tuple[Tensor, ...]:
        d, n_layer = self.decoder, self.n_layer
        self_k, self_v = caches[:n_layer], caches[n_layer : 2 * n_layer]
        cross_k, cross_v = caches[2 * n_layer : 3 * n_layer], caches[3 * n_layer :]
        past = self_k[0].shape[1]
        end = past + tokens.shape[-1]
        x = d.token_embedding(tokens) + d.positional_embedding[past:end]
        mask = d.mask[past:end, :end]
        out_k, out_v = [], []
        for i, block in enumerate(d.blocks):
            q, k, v = block.qkv(block.attn_ln(x)).chunk(3, dim=-1)
            k_all = torch.cat([self_k[i], k], dim=1)
            v_all = torch.cat([self_v[i], v], dim=1)
            x = x + block.out(_attend(q, k_all, v_all, block.n_head, mask))
            h = block.cross_q(block.cross_ln(x))
            x = x + block.cross_out(_attend_shared(h, cross_k[i], cross_v[i], block.n_head))
            x = x + block.fc2(F.gelu(block.fc1(block.mlp_ln(x))))
            out_k.append(k_all)
            out_v.append(v_all)
        logits = d.ln(x) @ d.projection_t
        return (logits.float(), *out_k, *out_v)
