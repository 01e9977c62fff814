"""Attention of the exported ONNX graph as one ONNX Runtime operator per layer.

``torch.onnx.export`` writes each layer's self-attention as some 25 small operators: reshape
and transpose the query, key and value into heads, scale, multiply, add the padding mask
(recomputed per layer with ``Where``), softmax, a guard against fully masked rows (``IsNaN``
+ ``Where``), multiply by the values, transpose and reshape back. ONNX Runtime's contrib
operator ``com.microsoft.MultiHeadAttention`` does the same from the projected query, key and
value with the padding mask as ``key_padding_mask`` (1 = token, 0 = padding), in one kernel.

:func:`fuse_attention` swaps each layer's subgraph for that operator. The projections (and so
the int8 quantisation of ``classifiers/quantize.py``) are untouched. Measured in session 11
(5,000 SB10k test tweets, batch 32, 2 threads): float32 outputs equal to the unfused graph within
5e-5, the int8 graph's forward passes 7-10 % faster; int8 labels move as int8 rounding does (see
classifiers/weights/README.md, session 11, for why that once mattered and why it was kept).

The subgraph is found by the exporter's node names (``.../layer.N/attention/self/...``); a
graph that does not have them is left as it is (0 layers fused), and the export is compared
with the torch network either way before it is used (``classifiers/runtime.py``).
"""

from __future__ import annotations

import re
from typing import Any

_OUT = re.compile(r"(?P<layer>.*/layer\.\d+/attention/)output/dense/MatMul")
_MASK = "fw_attention_key_padding_mask"


def fuse_attention(model: Any, num_heads: int) -> int:
    """Replace each layer's exported self-attention in ``model`` (an ``onnx.ModelProto``, changed in place)
    by one ``MultiHeadAttention``; return the number of layers fused (0: the graph is left unchanged)."""
    from onnx import TensorProto, helper

    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    mask_input = next((i.name for i in graph.input if i.name == "attention_mask"), None)
    fused: dict[str, Any] = {}  # name of the attention context tensor -> the operator that now makes it
    scopes: list[str] = []  # ".../layer.N/attention/self/" of each fused layer
    for node in graph.node:
        match = _OUT.fullmatch(node.name)
        if not match or mask_input is None:
            continue
        scope = match["layer"] + "self/"
        qkv = [f"{scope}{p}/Add_output_0" for p in ("query", "key", "value")]
        context = node.input[0]
        made_by = producer.get(context)
        if not all(t in producer for t in qkv) or made_by is None or not made_by.name.startswith(scope):
            return 0  # not the layout this pass knows: leave the graph alone
        scopes.append(scope)
        fused[context] = helper.make_node("MultiHeadAttention", [*qkv, "", _MASK], [context],
                                          domain="com.microsoft", num_heads=num_heads,
                                          name=f"{scope}MultiHeadAttention")
    if not fused:
        return 0
    nodes = [helper.make_node("Cast", [mask_input], [_MASK], to=TensorProto.INT32, name=_MASK)]
    for node in graph.node:
        made = next((o for o in node.output if o in fused), None)
        nodes.append(fused[made] if made else node)
    # keep only what the outputs still need: the per-layer transposes, softmax and mask arithmetic fall away
    needed = {o.name for o in graph.output}
    kept = []
    for node in reversed(nodes):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
    kept.reverse()
    projections = tuple(s + p for s in scopes for p in ("query/", "key/", "value/"))
    leftover = [n.name for n in kept if n.name.startswith(tuple(scopes)) and n.op_type != "MultiHeadAttention"
                and not n.name.startswith(projections)]
    if leftover:  # something else still reads the attention internals: not safe to drop them
        return 0
    del graph.node[:]
    graph.node.extend(kept)
    for t in [t for t in graph.initializer if t.name not in needed]:
        graph.initializer.remove(t)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return len(fused)
