"""int8 version of the exported ONNX graph: per-token activations, per-column 7-bit weights.

Every MatMul with a constant weight matrix (the query, key, value, output and feed-forward
projections of each layer; six a layer, 72 in the shipped 12-layer model) becomes::

    scale = max(|x|) / 127 over the last axis       # one scale per token
    q     = QuantizeLinear(x / scale, 1, 128)       # uint8, zero point 128
    y     = MatMulIntegerToFloat(q, Wq, 1, w_scale, 128) * scale

Why not ONNX Runtime's own ``quantize_dynamic``: its activation scale is one per *tensor*,
i.e. per batch, so a post's scores depend on which posts share its batch (measured: 29 of
1,496 SB10k test labels changed when the same posts were batched in another order). One
scale per token makes each post's result independent of its neighbours and of padding
(measured: batch 1, batch 32 and shuffled batches agree to 2e-7). Static quantisation with
calibrated activation ranges was also tried: it lost 8-9 points macro-F1 on GermEval.

Weights use 7 bits (-63..63, one scale per output column): x86 CPUs without AVX-VNNI
multiply uint8 x int8 pairs with a saturating 16-bit add, which overflows with full 8-bit
weights (255 x 127 x 2 > 32767); with 7 bits the integer result is exact on every CPU.

Attention's activation x activation products, LayerNorm, GELU, softmax and the classifier
head stay float32. The int8 graph keeps the unchanged initializers (above all the 250,000 x
384 word embeddings) in the float32 export's external weights file, so it adds ~11 MB, not
~400 MB.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

WEIGHT_LEVELS = 63  # 7-bit weights: exact on AVX2 (see above)
ACT_LEVELS = 127.0  # activations: -127..127 around the zero point 128
_P = "fw_q8_"  # prefix of every name this module adds


def quantize_graph(source: Path, target: Path) -> int:
    """Write the int8 graph of the float32 ONNX file ``source`` to ``target`` (same directory).

    Returns the number of MatMuls quantised. ``source``'s external data file is referenced,
    not copied, so ``target`` must live beside it.
    """
    import onnx
    from onnx import helper, numpy_helper

    source, target = Path(source), Path(target)
    if source.parent.resolve() != target.parent.resolve():
        raise ValueError("the int8 graph must be written beside the float32 one (it shares its weights file)")
    model = onnx.load(str(source), load_external_data=False)
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}

    def const(name: str, value: Any) -> str:
        graph.initializer.append(numpy_helper.from_array(np.asarray(value), _P + name))
        return _P + name

    eps, levels = const("eps", np.float32(1e-8)), const("levels", np.float32(ACT_LEVELS))
    one, zero_point = const("one", np.float32(1.0)), const("zp", np.uint8(128))
    nodes: list[onnx.NodeProto] = []
    quantised: dict[str, tuple[str, str]] = {}  # activation -> (its uint8 tensor, its per-token scale)
    replaced: set[str] = set()
    count = 0
    for node in graph.node:
        weight = inits.get(node.input[1]) if node.op_type == "MatMul" and len(node.input) == 2 else None
        if weight is None or len(weight.dims) != 2:
            nodes.append(node)
            continue
        x = node.input[0]
        k = count
        count += 1
        if x not in quantised:  # q, k and v share their input: quantised once
            p = f"{_P}a{k}_"
            # max |x| as max(max x, -min x): two reductions, no |x| copy of the activation (2 % faster)
            nodes += [helper.make_node("ReduceMax", [x], [p + "hi"], axes=[-1], keepdims=1),
                      helper.make_node("ReduceMin", [x], [p + "lo"], axes=[-1], keepdims=1),
                      helper.make_node("Neg", [p + "lo"], [p + "nlo"]),
                      helper.make_node("Max", [p + "hi", p + "nlo", eps], [p + "amax"]),
                      helper.make_node("Div", [p + "amax", levels], [p + "scale"]),
                      helper.make_node("Div", [levels, p + "amax"], [p + "inv"]),
                      helper.make_node("Mul", [x, p + "inv"], [p + "scaled"]),
                      helper.make_node("QuantizeLinear", [p + "scaled", one, zero_point], [p + "q"])]
            quantised[x] = (p + "q", p + "scale")
        q, scale = quantised[x]
        w = numpy_helper.to_array(weight, base_dir=str(source.parent)).astype(np.float32)
        w_scale = (np.maximum(np.abs(w).max(axis=0), 1e-12) / WEIGHT_LEVELS).astype(np.float32)
        w_q = np.clip(np.rint(w / w_scale), -WEIGHT_LEVELS, WEIGHT_LEVELS).astype(np.int8)
        wq_name, ws_name = const(f"w{k}", w_q), const(f"ws{k}", w_scale)
        p = f"{_P}m{k}_"
        nodes += [helper.make_node("MatMulIntegerToFloat", [q, wq_name, one, ws_name, zero_point], [p + "y"],
                                   domain="com.microsoft"),
                  helper.make_node("Mul", [p + "y", scale], [node.output[0]])]
        replaced.add(weight.name)
    if not count:
        raise ValueError(f"{source} has no MatMul with a constant weight matrix to quantise")
    del graph.node[:]
    graph.node.extend(nodes)
    still_used = {i for n in graph.node for i in n.input}
    keep = [t for t in graph.initializer if t.name not in replaced or t.name in still_used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    # external initializers keep pointing into the float32 export's weights file; the int8 ones are inline
    onnx.save_model(model, str(target))
    return count
