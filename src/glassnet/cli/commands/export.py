"""``glassnet export MODEL OUT.onnx``: a saved model as an ONNX file (needs glassnet[onnx]).

``glassnet export model.gnet FOLDER --format hf``: a GPT-2 written by ``glassnet train --model gpt2``
as a Hugging Face folder (config.json, model.safetensors, vocab.json, merges.txt) that transformers loads.
"""

from __future__ import annotations

import argparse

from glassnet.cli.args import shape
from glassnet.cli.common import load_model
from glassnet.cli.errors import CommandError


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_file", metavar="MODEL", help="a model file (model.gnet)")
    p.add_argument(
        "output", metavar="OUT", help="the ONNX file to write (replaced atomically), or the folder for --format hf"
    )
    p.add_argument(
        "--format",
        choices=("onnx", "hf"),
        default="onnx",
        help="onnx (default), or hf: a GPT-2 model as a Hugging Face folder (config.json, model.safetensors, "
        "vocab.json, merges.txt)",
    )
    p.add_argument(
        "--input-shape",
        type=shape,
        default=None,
        help="input shape without the batch axis (default: the recorded one)",
    )


def run(args: argparse.Namespace) -> int:
    if args.format == "hf":
        if args.input_shape is not None:
            raise CommandError("--input-shape is for ONNX: a Hugging Face folder takes any sequence length")
        from glassnet.cli.gpt2_train import export_hf

        return export_hf(args.model_file, args.output)
    from glassnet.onnx import IR_VERSION, OPSET
    from glassnet.onnx import export as export_onnx

    model, info = load_model(args.model_file)
    shape = args.input_shape or info.input_shape
    if shape is None:
        raise CommandError("the model file does not record its input shape: pass --input-shape, e.g. 1,28,28")
    # a missing or read-only folder or a full disk raises OSError: cli.py prints one line; the old file stays
    proto = export_onnx(model, args.output, shape)
    # the shapes printed are the file's own: a sequence model's time axis is "T", free
    in_dims, out_dims = (
        [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in (proto.graph.input[0], proto.graph.output[0])
    )
    context = getattr(model, "context", None)  # a GPT's positions end at its context
    bound = f", T <= {context}" if "T" in in_dims and isinstance(context, int) else ""
    print(
        f"{args.output}: ONNX opset {OPSET}, IR version {IR_VERSION}, {len(proto.graph.node)} nodes; "
        f"input 'input' ({', '.join(map(str, in_dims))}{bound}) -> output 'output' ({', '.join(map(str, out_dims))})"
    )
    return 0
