"""Reader for CTranslate2 `model.bin` files (the format faster-whisper ships).

Layout: u32 binary version, str spec name, u32 spec revision, u32 variable count, then per
variable: str name, u8 rank, rank × u32 dims, u8 dtype, u32 byte count, raw bytes; then u32 alias
count and (str alias, str target) pairs. A str is a u16 length (including the trailing NUL)
followed by the bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from capswriter.errors import ModelInstallError

# CTranslate2's DataType enum order.
_DTYPES: dict[int, np.dtype] = {
    0: np.dtype(np.float32),
    1: np.dtype(np.int8),
    2: np.dtype(np.int16),
    3: np.dtype(np.int32),
    4: np.dtype(np.float16),
    5: np.dtype(np.uint16),  # bfloat16 bits; widened on request by `as_float32`
}
_BFLOAT16 = 5


@dataclass
class Ct2Model:
    version: int
    spec_name: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str]
    bfloat16: frozenset[str] = frozenset()

    def get(self, name: str) -> np.ndarray:
        """A variable by name, following aliases (e.g. a tied projection weight)."""
        name = self.aliases.get(name, name)
        return self.variables[name]

    def as_float32(self, name: str) -> np.ndarray:
        raw = self.get(name)
        if self.aliases.get(name, name) in self.bfloat16:
            return (raw.astype(np.uint32) << 16).view(np.float32)
        return raw.astype(np.float32)


def _read(fh: BinaryIO, fmt: str):
    size = struct.calcsize(fmt)
    data = fh.read(size)
    if len(data) != size:
        raise ModelInstallError("model.bin ends early: the file is truncated; reinstall the model")
    return struct.unpack(fmt, data)[0]


def _read_str(fh: BinaryIO) -> str:
    length = _read(fh, "<H")
    raw = fh.read(length)
    if len(raw) != length:
        raise ModelInstallError("model.bin ends early: the file is truncated; reinstall the model")
    return raw.rstrip(b"\0").decode("utf-8")


def read_ct2(path: Path) -> Ct2Model:
    """Read every variable of a CTranslate2 model into memory (about the file's size)."""
    with open(path, "rb") as fh:
        version = _read(fh, "<I")
        if version < 5:
            raise ModelInstallError(
                f"{path}: CTranslate2 binary version {version} is not supported"
            )
        spec_name = _read_str(fh)
        revision = _read(fh, "<I")
        count = _read(fh, "<I")
        variables: dict[str, np.ndarray] = {}
        bf16: set[str] = set()
        for _ in range(count):
            name = _read_str(fh)
            rank = _read(fh, "<B")
            dims = tuple(_read(fh, "<I") for _ in range(rank))
            dtype_id = _read(fh, "<B")
            nbytes = _read(fh, "<I")
            if dtype_id not in _DTYPES:
                raise ModelInstallError(f"{path}: unknown data type {dtype_id} for {name}")
            raw = fh.read(nbytes)
            if len(raw) != nbytes:
                raise ModelInstallError(
                    f"{path}: variable {name} is truncated; reinstall the model"
                )
            variables[name] = np.frombuffer(raw, dtype=_DTYPES[dtype_id]).reshape(dims)
            if dtype_id == _BFLOAT16:
                bf16.add(name)
        aliases: dict[str, str] = {}
        alias_count = _read(fh, "<I")
        for _ in range(alias_count):
            alias = _read_str(fh)
            aliases[alias] = _read_str(fh)
    return Ct2Model(version, spec_name, revision, variables, aliases, frozenset(bf16))
