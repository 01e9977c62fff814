from __future__ import annotations

from pathlib import Path

import pytest

from classifiers.evaluation.metrics import format_scores, score
from classifiers.training.data import (
    DataError,
    Example,
    germeval_split,
    read_germeval_xml,
    read_labelled,
    read_tsv,
)

XML = """<Documents>
 <Document id="http://twitter.com/a/statuses/1"><relevance>true</relevance><sentiment>negative</sentiment>
  <text>Zug f&#228;llt aus</text></Document>
 <Document id="http://twitter.com/a/statuses/2"><Opinions><Opinion category="Allgemein#Haupt" from="0" to="0"
  target="NULL" polarity="positive" /></Opinions><relevance>true</relevance><sentiment>positive</sentiment>
  <text>Danke DB</text></Document>
</Documents>"""


def test_germeval_xml(tmp_path: Path) -> None:
    p = tmp_path / "g.xml"
    p.write_text(XML, encoding="utf-8")
    ex = read_germeval_xml(p)
    assert [(e.text, e.label) for e in ex] == [("Zug fällt aus", "negative"), ("Danke DB", "positive")]
    assert read_labelled(p) == ex


def test_germeval_bad_xml_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "g.xml"
    p.write_text("<Documents><Document>", encoding="utf-8")
    with pytest.raises(DataError, match="g.xml: not valid GermEval XML"):
        read_germeval_xml(p)


def test_tsv_unescapes_and_skips_mixed(tmp_path: Path) -> None:
    p = tmp_path / "t.tsv"
    p.write_text('1\tpositive\tSuper &gt; alles "gut\tlemma\n2\tmixed\tnaja\n\n3\tNegative\tmist\n', encoding="utf-8")
    assert [(e.id, e.label, e.text) for e in read_tsv(p)] == [("1", "positive", 'Super > alles "gut'),
                                                              ("3", "negative", "mist")]


def test_tsv_bad_label_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "t.tsv"
    p.write_text("1\tpositive\tgut\n2\tangry\tmist\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2 has label 'angry'"):
        read_tsv(p)


def test_germeval_split_is_fixed_disjoint_and_stratified() -> None:
    ex = [Example(f"id{i}", f"t{i}", ["negative", "neutral", "positive"][i % 3]) for i in range(300)]
    parts = {p: germeval_split(ex, p) for p in ("train", "val", "heldout")}
    ids = {p: {e.id for e in v} for p, v in parts.items()}
    assert sum(len(v) for v in ids.values()) == 300
    assert not (ids["train"] & ids["heldout"]) and not (ids["val"] & ids["heldout"]) and not (ids["train"] & ids["val"])
    assert len(ids["heldout"]) == 90 and {e.label for e in parts["heldout"]} == {"negative", "neutral", "positive"}
    assert germeval_split(list(reversed(ex)), "heldout") != [] and \
        {e.id for e in germeval_split(list(reversed(ex)), "heldout")} == ids["heldout"]
    with pytest.raises(DataError):
        germeval_split(ex, "test")


def test_scores_match_hand_computed_figures() -> None:
    gold = ["negative", "negative", "neutral", "neutral", "neutral", "positive"]
    pred = ["negative", "neutral", "neutral", "neutral", "positive", "neutral"]
    s = score(gold, pred)
    assert s.micro_f1 == pytest.approx(3 / 6)
    # F1: negative 2/3, neutral 2*2/(4+1+2)=4/7, positive 0
    assert s.per_class_f1 == pytest.approx({"negative": 2 / 3, "neutral": 4 / 7, "positive": 0.0})
    assert s.macro_f1 == pytest.approx((2 / 3 + 4 / 7) / 3)
    assert s.confusion == [[1, 1, 0], [0, 2, 1], [0, 1, 0]]
    text = format_scores(s)
    assert "micro-F1: 0.500" in text and "macro-F1: 0.413" in text


def test_scores_reject_length_mismatch() -> None:
    with pytest.raises(ValueError):
        score(["neutral"], [])
