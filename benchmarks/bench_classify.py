"""Throughput and memory of ``fruehwarn classify`` next to a naive baseline, in one run.

    .venv/bin/python benchmarks/bench_classify.py [--data FILE.tsv] [--n 5000] [--baseline-n 500]

Posts: ``--n`` German posts of tweet length, taken (cycled) from the text column of a
labelled TSV (e.g. SB10k test) or, without ``--data``, generated from German complaint
templates. Rows of the table:

- ``fruehwarn classify`` (CLI, int8 / float32): the real command as a subprocess, end to
  end (start-up and model load included); peak RSS from ``wait4``.
- ``in-process`` rows: ``TransformerClassifier.classify`` after loading (steady state).
- naive baseline: a transformers ``feature-extraction`` pipeline over the same encoder,
  called one post at a time (float32), plus the same head; measured on ``--baseline-n``
  posts of the same set (it is slow) in the same run.

Targets (issue 4): >= 100 posts/s on 2 cores, >= 5x the baseline, RSS < 1.5 GB.
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TEMPLATES = [
    "Die {app} stürzt seit dem Update ständig ab, {tail}",
    "Schon wieder {min} Minuten Verspätung mit dem {zug} nach {stadt}. {tail}",
    "Danke an das Team vom Kundenservice, das ging heute richtig schnell!",
    "Weiß jemand, ob die Störung bei {app} heute Abend behoben wird?",
    "Seit {min} Minuten in der Warteschleife der Hotline. {tail}",
    "Mein Paket hängt seit {min} Tagen im Verteilzentrum {stadt} fest. Was ist da los?",
    "Super, dass der {zug} heute pünktlich war. Geht doch!",
    "Kein Netz in ganz {stadt} seit heute Morgen, {tail}",
]
FILL = {"app": ["App", "Banking-App", "Kundenportal", "Website"], "min": ["20", "35", "45", "90"],
        "zug": ["ICE", "RE1", "IC 2023", "S-Bahn"], "stadt": ["Köln", "Hamburg", "München", "Leipzig"],
        "tail": ["danke für nichts.", "unfassbar.", "so langsam reicht es.", "gibt es eine Info?"]}


def make_posts(n: int, data: Path | None, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    if data:
        csv.field_size_limit(sys.maxsize)
        with data.open(encoding="utf-8", newline="") as fh:
            texts = [html.unescape(r[2]) for r in csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE) if len(r) > 2]
        rng.shuffle(texts)
        return [texts[i % len(texts)] for i in range(n)]
    out = []
    for _ in range(n):
        t = rng.choice(TEMPLATES)
        out.append(t.format(**{k: rng.choice(v) for k, v in FILL.items()}))
    return out


def run_cli(in_path: Path, out_path: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of ``fruehwarn classify`` as a child process."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "fruehwarn", "classify", str(in_path), str(out_path)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"fruehwarn classify failed:\n{err}")
    return wall, usage.ru_maxrss / 1024


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def onnx_rows(cache: Path, weights: Path, posts: list[str], max_tokens: int, batch_size: int, cores: int
              ) -> list[tuple[str, int, float, float]]:
    """ONNX Runtime (float32 and int8 dynamic quantisation) over the same net, same batching."""
    import numpy as np
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from classifiers.encoder import load_encoder
    from classifiers.sentiment import SentimentNet, load_weights

    enc = load_encoder(cache, max_tokens=max_tokens)
    net = SentimentNet(enc.model)
    load_weights(net, weights)
    net.eval()
    tok = enc.tokenizer
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        f32 = Path(tmp) / "model.onnx"
        ids, mask = tok.pad(tok.encode(posts[:4]))
        torch.onnx.export(net, (ids, mask), str(f32), input_names=["input_ids", "attention_mask"],
                          output_names=["logits", "embedding"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": {0: "b", 1: "t"}, "attention_mask": {0: "b", 1: "t"}})
        q8 = Path(tmp) / "model.q8.onnx"
        quantize_dynamic(str(f32), str(q8), weight_type=QuantType.QInt8)
        for label, path in (("float32", f32), ("int8", q8)):
            so = ort.SessionOptions()
            so.intra_op_num_threads = cores
            sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
            enc_ids = tok.encode(posts)
            order = sorted(range(len(enc_ids)), key=lambda i: len(enc_ids[i]))
            t = time.perf_counter()
            for s in range(0, len(order), batch_size):
                chunk = order[s:s + batch_size]
                x, m = tok.pad([enc_ids[i] for i in chunk])
                logits, emb = sess.run(None, {"input_ids": x.numpy(), "attention_mask": m.numpy()})
                np.exp(logits)
            out.append((f"in-process ONNX Runtime ({label}), tokenize excluded", len(posts),
                        len(posts) / (time.perf_counter() - t), rss_mb()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="TSV (id, label, text) to take post texts from")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--baseline-n", type=int, default=500)
    ap.add_argument("--cache-dir", type=Path, default=None, help="encoder cache (default: settings)")
    ap.add_argument("--weights", type=Path, default=None,
                    help="sentiment weights to measure (default: the shipped ones), e.g. a --layers 6 model")
    ap.add_argument("--skip-cli", action="store_true")
    ap.add_argument("--cli", choices=("both", "float32", "int8"), default="both", help="CLI precisions to run")
    ap.add_argument("--skip-inprocess", action="store_true", help="skip the in-process rows")
    ap.add_argument("--onnx", action="store_true", help="also try ONNX Runtime (float32 and int8; needs onnx)")
    args = ap.parse_args()

    import torch

    from classifiers.encoder import load_encoder
    from config import load_settings

    posts = make_posts(args.n, args.data)
    settings = load_settings(**({"model": {"cache_dir": args.cache_dir}} if args.cache_dir else {}))
    cache = settings.model_cache_dir
    load_encoder(cache)  # build once so no row pays for the build
    cores = len(os.sched_getaffinity(0))
    mean_chars = sum(map(len, posts)) / len(posts)
    print(f"{len(posts)} posts, mean {mean_chars:.0f} characters; {cores} cores; torch {torch.__version__}")
    rows: list[tuple[str, int, float, float]] = []
    from classifiers.sentiment import DEFAULT_WEIGHTS

    weights = (args.weights or DEFAULT_WEIGHTS).resolve()
    print(f"weights: {weights}")

    with tempfile.TemporaryDirectory() as tmp:
        in_path = Path(tmp) / "in.jsonl"
        in_path.write_text("".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n"
                                   for i, t in enumerate(posts)), encoding="utf-8")
        if not args.skip_cli:
            for label, quant in (("fruehwarn classify (float32, default; CLI end to end)", "false"),
                                 ("fruehwarn classify (int8; CLI end to end)", "true")):
                if args.cli != "both" and (quant == "true") != (args.cli == "int8"):
                    continue
                env = {**os.environ, "FRUEHWARN_MODEL__CACHE_DIR": str(cache), "FRUEHWARN_MODEL__QUANTIZE": quant,
                       "FRUEHWARN_DATA_DIR": str(Path(tmp) / "data"),
                       **({"FRUEHWARN_MODEL__SENTIMENT_WEIGHTS": str(weights)} if args.weights else {})}
                wall, peak = run_cli(in_path, Path(tmp) / "out.jsonl", env)
                rows.append((label, len(posts), len(posts) / wall, peak))

    # steady state in this process (the model is loaded once, then classify is timed)
    from classifiers.sentiment import TransformerClassifier

    for quant in () if args.skip_inprocess else (False, True):
        clf = TransformerClassifier(load_encoder(cache, max_tokens=settings.model.max_tokens), weights,
                                    quantize=quant, batch_size=settings.model.batch_size)
        clf.classify(posts[:64])
        t = time.perf_counter()
        clf.classify(posts)
        rows.append((f"in-process classify ({'int8' if quant else 'float32'}, after load)", len(posts),
                     len(posts) / (time.perf_counter() - t), rss_mb()))
        del clf

    if args.onnx:
        rows += onnx_rows(cache, weights, posts, settings.model.max_tokens, settings.model.batch_size, cores)

    # naive baseline: transformers pipeline, one post at a time, float32, same encoder + head
    from transformers import PreTrainedTokenizerFast, pipeline

    from classifiers.encoder import QUERY_PREFIX, encoder_dir

    enc = load_encoder(cache, max_tokens=settings.model.max_tokens)
    from classifiers.sentiment import SentimentNet, load_weights

    net = SentimentNet(enc.model)
    load_weights(net, weights)
    net.eval()
    hf_tok = PreTrainedTokenizerFast(tokenizer_file=str(encoder_dir(cache) / "tokenizer.json"),
                                     bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>")
    pipe = pipeline("feature-extraction", model=net.bert, tokenizer=hf_tok, framework="pt", device="cpu",
                    return_tensors=True, tokenize_kwargs={"truncation": True, "max_length": settings.model.max_tokens})
    sample = posts[:args.baseline_n]
    pipe(QUERY_PREFIX + sample[0])
    t = time.perf_counter()
    with torch.inference_mode():
        for text in sample:
            hidden = pipe(QUERY_PREFIX + enc.tokenizer.normalise(text))[0]
            torch.softmax(net.head(hidden.mean(0)), -1)
    rows.append(("naive baseline: transformers pipeline, 1 post at a time (float32)", len(sample),
                 len(sample) / (time.perf_counter() - t), rss_mb()))

    base = rows[-1][2]
    print(f"\n{'what':<66} {'posts':>6} {'posts/s':>8} {'x base':>7} {'peak RSS MB':>12}")
    for label, n, rate, peak in rows:
        print(f"{label:<66} {n:>6} {rate:>8.1f} {rate / base:>7.1f} {peak:>12.0f}")
    print("\n(in-process rows share one process: their RSS is the running peak of this benchmark process)")


if __name__ == "__main__":
    main()
