"""Throughput and memory of ``fruehwarn classify`` next to a naive baseline, in one run.

    .venv/bin/python benchmarks/bench_classify.py [--data FILE.tsv] [--n 5000] [--baseline-n 500]

Posts: ``--n`` German posts of tweet length, taken (cycled) from the text column of a
labelled TSV (e.g. SB10k test) or, without ``--data``, generated from German complaint
templates. Rows of the table:

- ``fruehwarn classify`` (CLI; ONNX Runtime int8 = the default, ONNX Runtime float32, torch float32): the
  real command as a subprocess, end to end (start-up and model load included; the one-time
  encoder build and ONNX export are done before, as ``fruehwarn model build`` does at
  install); peak RSS from ``wait4``.
- ``in-process`` rows: ``classify`` of each runtime after loading (steady state).
- naive baseline: a transformers ``feature-extraction`` pipeline over the same encoder,
  called one post at a time (float32), plus the same head; measured on ``--baseline-n``
  posts of the same set (it is slow) in the same run. It reads each post as the weights
  were trained (truncation, links as their host), like every other row.

``--profile-ops`` prints only where the int8 forward passes spend their time, per operator
type (ONNX Runtime's profiler), e.g. to see what is left to gain.

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


CLI_VARIANTS = {  # name: (row label, model.runtime, model.quantize)
    "int8": ("fruehwarn classify (ONNX Runtime int8, default; CLI end to end)", "onnx", "true"),
    "onnx": ("fruehwarn classify (ONNX Runtime float32; CLI end to end)", "onnx", "false"),
    "torch": ("fruehwarn classify (torch float32; CLI end to end)", "torch", "false"),
}


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


def profile_ops(graph: Path, tok: object, posts: list[str], batch_size: int) -> None:
    """Share of each operator type in the forward passes of ``graph`` (ONNX Runtime's own profiler)."""
    from collections import Counter

    import onnxruntime as ort

    from classifiers.runtime import cpu_threads

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = cpu_threads(0), 1
    opts.enable_profiling = True
    opts.profile_file_prefix = str(Path(tempfile.gettempdir()) / "fruehwarn-ort-profile")
    session = ort.InferenceSession(str(graph), opts, providers=["CPUExecutionProvider"])
    ids = tok.encode(posts)  # type: ignore[attr-defined]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    for start in range(0, len(order), batch_size):
        input_ids, mask = tok.pad_arrays([ids[i] for i in order[start:start + batch_size]])  # type: ignore[attr-defined]
        session.run(None, {"input_ids": input_ids, "attention_mask": mask})
    trace = Path(session.end_profiling())
    per_op: Counter[str] = Counter()
    for event in json.loads(trace.read_text()):
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            per_op[event["args"]["op_name"]] += event["dur"]
    trace.unlink()
    total = sum(per_op.values())
    print(f"\n{graph.name}: {len(posts)} posts, {total / 1e6:.2f} s in operators")
    for op, us in per_op.most_common(15):
        print(f"{op:<28} {us / 1e3:>9.0f} ms {100 * us / total:>6.1f} %")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="TSV (id, label, text) to take post texts from")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--baseline-n", type=int, default=500)
    ap.add_argument("--cache-dir", type=Path, default=None, help="encoder cache (default: settings)")
    ap.add_argument("--weights", type=Path, default=None,
                    help="sentiment weights to measure (default: the shipped ones), e.g. a --layers 6 model")
    ap.add_argument("--skip-cli", action="store_true")
    ap.add_argument("--cli", default="int8,onnx,torch", help=f"CLI variants to run, comma-separated: {','.join(CLI_VARIANTS)}")
    ap.add_argument("--skip-inprocess", action="store_true", help="skip the in-process rows")
    ap.add_argument("--profile-ops", action="store_true",
                    help="only print where the int8 forward passes spend their time, per operator type")
    args = ap.parse_args()

    import torch

    from classifiers.encoder import load_encoder
    from config import load_settings

    posts = make_posts(args.n, args.data)
    settings = load_settings(**({"model": {"cache_dir": args.cache_dir}} if args.cache_dir else {}))
    cache = settings.model_cache_dir
    from classifiers.runtime import DEFAULT_WEIGHTS, export_onnx, reading_of

    weights = (args.weights or DEFAULT_WEIGHTS).resolve()
    reading = reading_of(settings.model, weights)  # truncation and links, as `fruehwarn classify` reads posts
    onnx_path = export_onnx(cache, weights)  # build + export once (install does it) so no row pays for it
    cores = len(os.sched_getaffinity(0))
    mean_chars = sum(map(len, posts)) / len(posts)
    print(f"{len(posts)} posts, mean {mean_chars:.0f} characters; {cores} cores; torch {torch.__version__}")
    rows: list[tuple[str, int, float, float]] = []
    print(f"weights: {weights}")
    from classifiers.encoder import EncoderTokenizer, encoder_dir
    from classifiers.runtime import INT8_GRAPH

    tok = EncoderTokenizer(encoder_dir(cache), **reading)
    if args.profile_ops:
        profile_ops(onnx_path / INT8_GRAPH, tok, posts, settings.model.batch_size)
        return

    with tempfile.TemporaryDirectory() as tmp:
        in_path = Path(tmp) / "in.jsonl"
        in_path.write_text("".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n"
                                   for i, t in enumerate(posts)), encoding="utf-8")
        for variant in [] if args.skip_cli else args.cli.split(","):
            label, runtime, quant = CLI_VARIANTS[variant]
            env = {**os.environ, "FRUEHWARN_MODEL__CACHE_DIR": str(cache), "FRUEHWARN_MODEL__QUANTIZE": quant,
                   "FRUEHWARN_MODEL__RUNTIME": runtime, "FRUEHWARN_DATA_DIR": str(Path(tmp) / "data"),
                   **({"FRUEHWARN_MODEL__SENTIMENT_WEIGHTS": str(weights)} if args.weights else {})}
            wall, peak = run_cli(in_path, Path(tmp) / "out.jsonl", env)
            rows.append((label, len(posts), len(posts) / wall, peak))

    # steady state in this process (the model is loaded once, then classify is timed)
    from classifiers.runtime import OnnxClassifier
    from classifiers.sentiment import TransformerClassifier

    size = settings.model.batch_size
    makers = {"ONNX Runtime int8": lambda: OnnxClassifier(onnx_path, tok, batch_size=size, int8=True),
              "ONNX Runtime float32": lambda: OnnxClassifier(onnx_path, tok, batch_size=size),
              "torch float32": lambda: TransformerClassifier(load_encoder(cache, **reading), weights,
                                                             batch_size=size)}
    for name, make in () if args.skip_inprocess else makers.items():
        clf = make()
        clf.classify(posts[:64])
        t = time.perf_counter()
        clf.classify(posts)
        rows.append((f"in-process classify ({name}, after load)", len(posts),
                     len(posts) / (time.perf_counter() - t), rss_mb()))
        del clf

    # naive baseline: transformers pipeline, one post at a time, float32, same encoder + head
    from transformers import PreTrainedTokenizerFast, pipeline

    from classifiers.encoder import QUERY_PREFIX

    enc = load_encoder(cache, **reading)  # the same reading of each post
    from classifiers.sentiment import SentimentNet, load_weights

    net = SentimentNet(enc.model)
    load_weights(net, weights)
    net.eval()
    hf_tok = PreTrainedTokenizerFast(tokenizer_file=str(encoder_dir(cache) / "tokenizer.json"),
                                     bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>")
    pipe = pipeline("feature-extraction", model=net.bert, tokenizer=hf_tok, framework="pt", device="cpu",
                    return_tensors=True, tokenize_kwargs={"truncation": True, "max_length": reading["max_tokens"]})
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
