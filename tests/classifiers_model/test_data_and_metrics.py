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


def test_heldout_folds_partition_the_heldout_part_stratified_and_order_free() -> None:
    ex = [Example(f"id{i}", f"t{i}", ["negative", "neutral", "neutral", "positive"][i % 4]) for i in range(400)]
    held = {e.id for e in germeval_split(ex, "heldout")}
    folds = [{e.id for e in germeval_split(ex, f"heldout-{k}/3")} for k in (1, 2, 3)]
    assert set().union(*folds) == held and sum(len(f) for f in folds) == len(held)  # disjoint, complete
    for k, f in enumerate(folds, start=1):
        labels = [e.label for e in ex if e.id in f]
        assert abs(len(f) - len(held) / 3) <= 3 and labels.count("positive") in (10, 11)  # 30 positives held out
        assert {e.id for e in germeval_split(list(reversed(ex)), f"heldout-{k}/3")} == f
    assert {e.id for e in germeval_split(ex, "heldout-1/2")} != folds[0]  # N picks its own folds
    assert germeval_split(ex, "all") == ex


@pytest.mark.parametrize("part", ["heldout-0/3", "heldout-4/3", "heldout-1/1", "heldout-1", "heldout-a/b", "test"])
def test_a_bad_split_part_names_what_is_expected(part: str) -> None:
    ex = [Example(f"id{i}", f"t{i}", "neutral") for i in range(30)]
    with pytest.raises(DataError, match="heldout-K/N"):
        germeval_split(ex, part)


def test_training_on_more_of_germeval_drops_its_validation_part(tmp_path: Path) -> None:
    from classifiers.training.train import load_training_data

    docs = "".join(f'<Document id="d{i}"><relevance>true</relevance><sentiment>'
                   f'{["negative", "neutral", "positive"][i % 3]}</sentiment><text>Text {i}</text></Document>'
                   for i in range(90))
    xml = tmp_path / "dev.xml"
    xml.write_text(f"<Documents>{docs}</Documents>", encoding="utf-8")
    ex = read_germeval_xml(xml)
    texts = lambda part: {e.text for e in germeval_split(ex, part)}  # noqa: E731
    train, val = load_training_data([xml], [], 2)  # the default: the train part, twice; validation on val
    assert len(train) == 2 * len(texts("train")) and {e.text for e in train} == texts("train")
    assert {e.text for e in val["dev val part"]} == texts("val")
    train, val = load_training_data([xml], [], 1, germeval_parts=["train", "val", "heldout-1/3", "heldout-2/3"])
    assert {e.text for e in train} == texts("all") - texts("heldout-3/3") and len(train) == len({e.text for e in train})
    assert val == {}  # its validation part is trained on: not a validation set any more
    train, _ = load_training_data([xml], [], 1, germeval_parts=["all", "train"])  # overlapping parts: once each
    assert sorted(e.text for e in train) == sorted(texts("all"))
    with pytest.raises(DataError, match="validation part is trained on"):
        load_training_data([xml], [xml], 1, germeval_parts=["all"])


def test_trained_overlap_counts_the_documents_a_model_has_seen_and_the_weights_record_their_parts(
        tmp_path: Path) -> None:
    import json

    from classifiers.runtime import trained_germeval_parts
    from classifiers.training.data import trained_overlap

    ex = [Example(f"id{i}", f"t{i}", ["negative", "neutral", "positive"][i % 3]) for i in range(300)]
    assert trained_overlap(ex, ["train"], "heldout") == 0 and trained_overlap(ex, ["train", "val"], "heldout") == 0
    assert trained_overlap(ex, ["all"], "heldout") == 90 and trained_overlap(ex, ["heldout"], "heldout-2/3") == 30
    folds_1_2 = ["train", "val", "heldout-1/3", "heldout-2/3"]
    assert trained_overlap(ex, folds_1_2, "heldout-3/3") == 0 and trained_overlap(ex, folds_1_2, "heldout") == 60
    w = tmp_path / "sentiment.safetensors"
    assert trained_germeval_parts(w) == ["train"]  # no record (and models from before the option): the train part
    w.with_suffix(".json").write_text(json.dumps({"config": {"germeval_parts": folds_1_2}}), encoding="utf-8")
    assert trained_germeval_parts(w) == folds_1_2


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
