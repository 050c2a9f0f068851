"""The ``egru`` command line: train, prune, export, import-evnn, run in Lava, evaluate, benchmark, pipeline.

Run it as ``egru <command> --help`` (the console script ``egru = "egru.cli:main"``) or
``python -m egru <command> --help``. It is the application: it uses the public
functions of :mod:`converters`, :mod:`snntorch_egru`, :mod:`lava_egru`,
:mod:`egru_format` and the pipelines (:mod:`egru.pipelines`); each command imports what
it needs when it runs.

Errors in arguments or paths print one line ``egru: error: ...`` and exit with code 2
(no traceback); so does a full disk (``... no space left on device (PATH)``: the destination
is left as it was, and no temporary file). Every file is written through the one atomic
writer of :mod:`egru_format.atomic`.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

from egru_format.constants import POLARITIES

from ._argtypes import existing_file as _existing_file
from ._argtypes import existing_path
from ._argtypes import fraction as _fraction
from ._argtypes import output_file as _output_file
from ._argtypes import (INTERRUPTED_EXIT_CODE, WRITE_ERRNOS, OneLineParser, error_text, nonnegative_int,
                        positive_float, positive_int, token_count)

__all__ = ["main", "build_parser", "benchmark_names"]

#: the benchmarks are scripts of the source checkout (next to this package), not part of an installed egru
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
DEFAULT_PIPELINE_DIR = "outputs/pipeline"


#: ValueError subclasses of the library that describe bad input (a file, a corpus, settings this machine
#: cannot run): one line, exit 2
USER_ERRORS = ("CorpusError", "CheckpointError", "ResourceError", "EvnnImportError")
#: The digits classifier's input: features per step (8x8 images as 8 rows of 8 pixels).
DIGITS_FEATURES = 8


class UsageError(Exception):
    """A wrong argument or path: reported as ``egru: error: ...`` with exit code 2."""


def _output_dir(value, option: str = "--output-dir") -> Path:
    """``value`` as the output folder: an existing file (or a file on the way) there is a usage error."""
    path = Path(value)
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            where = "" if part == path else f" ({part} is a file)"
            raise UsageError(f"{option} {value} is not a directory{where}")
    return path


def benchmark_names() -> list:
    """The scripts of the checkout's ``benchmarks/`` folder (empty when there is none, e.g. an installed wheel)."""
    return sorted(p.stem for p in BENCHMARKS.glob("*.py")) if BENCHMARKS.is_dir() else []


# --------------------------------------------------------------------------- commands


def _cmd_train(args) -> int:
    if args.task == "lm":
        if args.data is None:
            raise UsageError("train --task lm needs --data DIR (a corpus directory, e.g. ../shared/data/ptb)")
        if not Path(args.data).is_dir():
            raise UsageError(f"no such directory: {args.data}")
        from . import train_lm

        argv = ["--data", str(args.data)] + (["--output-dir", str(args.output_dir)] if args.output_dir else [])
        return train_lm.main(argv + list(args.extra))
    if args.extra:
        raise UsageError(f"unrecognized arguments for --task digits: {' '.join(args.extra)}")
    from egru_format import write_network
    from .pipelines.digits import PipelineConfig, classifier_accuracy, classifier_spec, load_digits_split, train_digits

    _output_dir(args.output_dir or "outputs/train")
    config = PipelineConfig(hidden=args.hidden, epochs=args.epochs, seed=args.seed)
    x_tr, y_tr, x_te, y_te = load_digits_split(config.seed)
    model = train_digits(config, x_tr, y_tr)
    acc = classifier_accuracy(model, x_te, y_te)
    out = _output_dir(args.output_dir or "outputs/train") / "digits_float.h5"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_network(classifier_spec(model), out)
    print(f"digits: test accuracy {acc:.4f}; network written to {out}")
    return 0


def _cmd_prune(args) -> int:
    """Magnitude pruning of the EGRU matrices of a network file (no fine-tuning).

    The rule of :class:`snntorch_egru.pruning.Pruner` with ``targets=("input",
    "recurrent")`` and ``scope="global"`` (:func:`~snntorch_egru.pruning.magnitude_masks`):
    exactly ``round(sparsity * N)`` entries of all W_ih, then all W_hh, ties broken by
    position, so a file pruned here equals the model pruned in torch.
    """
    import numpy as np
    import torch

    from egru_format import read_network, write_network
    from snntorch_egru.pruning import magnitude_masks

    spec = read_network(args.network)
    if spec.quantized:
        raise UsageError(f"{args.network} is quantised: prune the float network, then quantise again")
    layers = spec.egru_layers
    if not layers:
        raise UsageError(f"{args.network} has no egru layer")
    matrices = {(k, name): getattr(layer, name)
                for name in ("weight_ih", "weight_hh") for k, layer in enumerate(layers)}
    keep = magnitude_masks({f"{name}_l{k}": torch.from_numpy(w) for (k, name), w in matrices.items()},
                           args.sparsity, scope="global")
    for ((k, name), w), mask in zip(matrices.items(), keep.values()):
        setattr(layers[k], name, np.where(mask.numpy(), w, np.float32(0.0)))
    out = write_network(spec, args.output)
    zeros = sum(int((getattr(layers[k], name) == 0).sum()) for k, name in matrices)
    total = sum(w.size for w in matrices.values())
    print(f"pruned W_ih/W_hh to {zeros / total:.3f} zeros (global magnitude); written to {out}")
    return 0


def _cmd_export(args) -> int:
    """A torch checkpoint (``torch.save`` of a model) -> network file."""
    import torch

    from converters import export

    try:
        model = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001  # any unreadable file
        raise UsageError(f"cannot read {args.checkpoint} as a torch checkpoint: {exc}") from None
    if isinstance(model, dict):
        raise UsageError(f"{args.checkpoint} holds a state_dict, not a model: save the module itself "
                         f"(torch.save(model, path)), or use `egru train` which writes network files")
    from .pipelines.digits import DigitsClassifier, classifier_spec

    if isinstance(model, DigitsClassifier):
        from egru_format import write_network

        out = write_network(classifier_spec(model), args.output)
    else:
        try:
            out = export(model, args.output)
        except TypeError as exc:
            raise UsageError(str(exc)) from None
    print(f"written {out}")
    return 0


def _cmd_import_evnn(args) -> int:
    """A language model of the reference implementation (EvNN) -> network file or torch model."""
    import warnings

    import converters
    from converters.evnn import CONFIG_NAME, EvnnImportWarning, read_evnn_config
    from egru_format import atomic_write_stream

    sizes = {"rnn_type": args.rnn_type, "layers": args.layers, "hidden_dim": args.hidden_dim,
             "emb_dim": args.emb_dim}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EvnnImportWarning)
        model = converters.from_evnn(args.source, **sizes)
    kind = "egru" if type(model).__name__ == "EGRULanguageModel" else model.cell
    if args.format == "h5" and kind != "egru":
        raise UsageError(f"{args.source} holds a {kind} language model; the network file format holds EGRU "
                         f"models: write it as a torch model with --format pt")
    for warning in caught:
        print(f"note: {warning.message}")
    if args.format == "h5":
        out = converters.export(model, args.output)
    else:
        import torch

        out = atomic_write_stream(args.output, lambda stream: torch.save(model, stream))
    parameters = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    bptt = read_evnn_config(Path(args.source) / CONFIG_NAME).bptt if Path(args.source).is_dir() else None
    print(f"imported {args.source}: {kind} language model, vocabulary {model.vocab_size}, embedding "
          f"{model.embedding_size}, layers {model.hidden_sizes}, tied {model.tie_weights}, {parameters:,} parameters")
    print(f"written {out}")
    print(f"evaluate it as the reference does: egru evaluate {out} --data CORPUS_DIR --bptt {bptt or 'BPTT'}")
    return 0


def _cmd_resources(args) -> int:
    """Per-layer neurons, synapses, memory, events and a Loihi 2 / SpiNNaker2 core estimate of a network file."""
    from egru_format import read_network

    from .hardware import format_report, measured_events, resource_report

    spec = read_network(args.network)
    events, source = None, None
    if args.input is not None:
        inputs = _load_input(args.input)
        events, source = measured_events(args.network, inputs), f"{args.input} ({len(inputs)} steps, batch 1)"
    print(f"{args.network}:")
    print(format_report(resource_report(spec, events, source)))
    return 0


def _load_input(path: Path):
    import numpy as np

    try:
        data = np.load(path)
    except Exception as exc:  # noqa: BLE001
        raise UsageError(f"cannot read {path} as a .npy array: {exc}") from None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            names = list(data.files)
        first = names[0] if names else "NAME"
        raise UsageError(f"{path} is an .npz archive (arrays: {', '.join(names) or 'none'}); --input takes one "
                         f"array in a .npy file: save the one to run, e.g. "
                         f"np.save('x.npy', np.load('{path}')['{first}'])")
    return data


def _npy_path(path: Path) -> Path:
    """Where ``np.save(path)`` writes: ``.npy`` appended unless the name ends with it."""
    return path if path.name.endswith(".npy") else path.with_name(path.name + ".npy")


def _cmd_lava(args) -> int:
    import numpy as np

    from converters import load_lava
    from egru_format import FormatError

    x = _load_input(args.input)
    try:
        from lava_egru import simulate
    except ImportError as exc:
        raise UsageError(f"Lava is not importable here ({exc}); use .venv/lava (Python 3.10)") from None
    try:
        network = load_lava(args.network)
        result = simulate(network, x, precision=args.precision, return_details=True)
    except (FormatError, ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None
    print(f"ran {args.network} in Lava ({args.precision}): {result.output.shape[0]} steps, output shape "
          f"{result.output.shape}, overflows {result.overflow_total}")
    if args.output is not None:
        from egru_format import atomic_write_stream

        out = atomic_write_stream(_npy_path(args.output), lambda stream: np.save(stream, result.output))
        print(f"outputs written to {out}")
    else:
        np.set_printoptions(precision=4, suppress=True, linewidth=120)
        print(result.output[-min(5, len(result.output)):])
    return 0


def _load_language_model(path: Path):
    """The language model in a network file (.h5) or a torch.save'd model (.pt), in evaluation mode."""
    if path.suffix in (".pt", ".pth", ".cpt"):
        import torch

        try:
            model = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # noqa: BLE001  # any unreadable file
            raise UsageError(f"cannot read {path} as a torch.save'd model: {exc}") from None
    else:
        import converters
        from egru_format import FormatError

        try:
            model = converters.load_snntorch(path)
        except FormatError as exc:
            raise UsageError(f"{exc} (evaluate --data needs a language model file)") from None
    if not all(hasattr(model, name) for name in ("vocab_size", "embedding", "rnn", "readout")):
        raise UsageError(f"{path} holds a {type(model).__name__}, not a language model (EGRULanguageModel or "
                         f"RNNLanguageModel)")
    return model.eval()


def _cmd_evaluate_lm(args) -> int:
    from .lm.data import load_corpus
    from .lm.trainer import EVAL_CARRIES, evaluate

    if args.backend != "torch":
        raise UsageError("--data evaluates a language model with the torch backend; run a language model in Lava "
                         "with `egru lava NET --input TOKENS.npy`")
    model = _load_language_model(args.network)
    corpus = load_corpus(args.data)
    if len(corpus.vocabulary) != model.vocab_size:
        raise UsageError(f"{args.network} has a vocabulary of {model.vocab_size} words, the corpus {args.data} has "
                         f"{len(corpus.vocabulary)}: evaluate it on the corpus it was trained on")
    tokens = corpus.test if args.split == "test" else corpus.valid
    if args.tokens:
        tokens = tokens[:args.tokens]
    carries = EVAL_CARRIES if args.carry == "both" else (args.carry,)
    for carry in carries:
        segment = args.bptt if carry == "reference" else 256
        result = evaluate(model, tokens, segment, carry=carry)
        how = ("(y, c) carried" if carry == "exact" else
               f"segments of {args.bptt}, y carried, c restarted: the reference's evaluation")
        print(f"{args.network}: {args.split} perplexity {result.perplexity:.2f} (loss {result.loss:.4f}, activity "
              f"{result.activity:.3f}, {result.tokens} tokens, batch 1; carry {carry}: {how})")
    return 0


def _cmd_evaluate(args) -> int:
    import numpy as np

    if args.data is not None:
        return _cmd_evaluate_lm(args)

    from egru_format import FormatError, read_network
    from .pipelines.digits import accuracy, classifier_accuracy, classifier_from_spec, load_digits_split, run_lava

    if args.backend == "torch" and args.precision == "fixed_pt":
        raise UsageError("--precision fixed_pt needs --backend lava: the torch backend evaluates the float "
                         "weights only")
    precision = args.precision or "floating_pt"
    try:
        spec = read_network(args.network)
        if spec.layers[0].encoding == "tokens":
            raise UsageError(f"{args.network}: not a digits classifier: its input is token ids (a language model); "
                             f"pass --data CORPUS_DIR to evaluate its perplexity")
        model = classifier_from_spec(spec, source=args.network)
    except FormatError as exc:
        raise UsageError(f"{exc} (evaluate supports digits classifier files written by `egru train/pipeline`)") \
            from None
    inputs = spec.layers[0]
    if inputs.encoding != "vector" or inputs.size != DIGITS_FEATURES:
        what = "token ids (a language model)" if inputs.encoding == "tokens" else f"{inputs.size} features per step"
        hint = "; pass --data CORPUS_DIR to evaluate a language model's perplexity" if inputs.encoding == "tokens" \
            else ""
        raise UsageError(f"{args.network}: its input is {what}, a digits classifier's is {DIGITS_FEATURES} "
                         f"features per step (evaluate supports digits classifier files written by "
                         f"`egru train/pipeline`{hint})")
    _, _, x_te, y_te = load_digits_split(args.seed)
    if args.limit:
        x_te, y_te = x_te[:args.limit], y_te[:args.limit]
    if args.backend == "torch":
        acc = classifier_accuracy(model, x_te, y_te)
    else:
        if precision == "fixed_pt" and not spec.quantized:
            raise UsageError(f"{args.network} is a float network: fixed_pt needs a quantised file")
        logits = run_lava(args.network, x_te.numpy().astype(np.float64), precision)
        acc = accuracy(logits.mean(axis=1).argmax(axis=1), y_te)
    where = "torch float" if args.backend == "torch" else f"Lava {precision}"
    print(f"{args.network}: digits test accuracy ({where}, {len(y_te)} images) {acc:.4f}")
    return 0


def _cmd_benchmark(args) -> int:
    names = benchmark_names()
    if not names:
        raise UsageError(f"benchmark needs a source checkout: the benchmarks are the scripts of the repository's "
                         f"benchmarks/ folder, and there is none at {BENCHMARKS} (an installed egru does not ship "
                         f"them)")
    if args.list or args.name is None:
        print("benchmarks:", ", ".join(names))
        return 0
    name = args.name[:-3] if args.name.endswith(".py") else args.name
    if name not in names:
        raise UsageError(f"no benchmark named {args.name!r}; available: {', '.join(names)}")
    script = BENCHMARKS / f"{name}.py"
    sys.argv = [str(script), *args.extra]     # the benchmarks import the installed packages, not each other
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def _cmd_pipeline(args) -> int:
    if args.task == "lm":
        return _cmd_pipeline_lm(args)
    if args.data is not None:
        raise UsageError("--data is for --task lm (the digits task is bundled with scikit-learn)")
    for option, value in (("--lava-tokens", args.lava_tokens), ("--train-tokens", args.train_tokens)):
        if value is not None:
            raise UsageError(f"{option} is for --task lm")
    from .pipelines.digits import PipelineConfig, format_report, run_pipeline
    from .pipelines.run import print_report

    overrides = {k: v for k, v in (("epochs", args.epochs), ("hidden", args.hidden), ("seed", args.seed),
                                   ("sparsity", args.sparsity), ("lava_images", args.lava_images), ("lr", args.lr),
                                   ("polarity", args.polarity))
                 if v is not None}
    config = PipelineConfig.quick(**overrides) if args.quick else PipelineConfig(**overrides)
    report = run_pipeline(config, _output_dir(args.output_dir), lava=not args.no_lava)
    print_report(report, format_report(report), as_json=args.json)
    return 0


def _cmd_pipeline_lm(args) -> int:
    if args.data is None:
        raise UsageError("pipeline --task lm needs --data DIR (a corpus directory, e.g. ../shared/data/ptb)")
    if not Path(args.data).is_dir():
        raise UsageError(f"no such directory: {args.data}")
    data = Path(args.data)
    if args.lava_images is not None:
        raise UsageError("--lava-images is for --task digits; use --lava-tokens with --task lm")
    from .pipelines.lm import LMPipelineConfig, format_lm_report, run_lm_pipeline
    from .pipelines.run import print_report

    overrides = {k: v for k, v in (("epochs", args.epochs), ("seed", args.seed), ("sparsity", args.sparsity),
                                   ("lava_tokens", args.lava_tokens), ("train_tokens", args.train_tokens),
                                   ("lr", args.lr), ("polarity", args.polarity))
                 if v is not None}
    if args.hidden is not None:
        overrides["hidden_sizes"] = tuple(args.hidden for _ in range(2))
    config = LMPipelineConfig.quick(**overrides) if args.quick else LMPipelineConfig(**overrides)
    output_dir = args.output_dir if args.output_dir != DEFAULT_PIPELINE_DIR else "outputs/pipeline_lm"
    report = run_lm_pipeline(config, data, _output_dir(output_dir), lava=not args.no_lava)
    print_report(report, format_lm_report(report), as_json=args.json)
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="egru",
        description="Event-based GRU (EGRU): train in snnTorch, prune, export to the HDF5 network format, "
                    "run in Lava (floating or fixed point). Start with `egru pipeline`: it runs every step on "
                    "scikit-learn's handwritten digits in a few minutes on a CPU.",
        epilog="Each command has its own help: egru <command> --help")
    sub = parser.add_subparsers(dest="command", metavar="<command>")

    p = sub.add_parser("train", help="train a model (digits classifier, or a language model)",
                       description="Train an EGRU. --task digits: sequence classifier on sklearn's digits, writes "
                                   "OUTPUT_DIR/digits_float.h5. --task lm: runs the trainer of python -m egru.train_lm "
                                   "(arguments after -- go to it, e.g. -- --epochs 1).")
    p.add_argument("--task", choices=("digits", "lm"), default="digits", help="what to train (default digits)")
    p.add_argument("--data", help="corpus directory for --task lm (e.g. ../shared/data/ptb)")
    p.add_argument("--output-dir", help="where to write results (digits default: outputs/train)")
    p.add_argument("--epochs", type=positive_int, default=40, help="digits: training epochs (default 40)")
    p.add_argument("--hidden", type=positive_int, default=64, help="digits: EGRU units (default 64)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="digits: seed of the split and training (default 0)")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="--task lm: options for python -m egru.train_lm")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("prune", help="magnitude-prune the EGRU weights of a network file",
                       description="Zero the smallest-magnitude entries of every W_ih/W_hh of a float network "
                                   "file (one global threshold; no fine-tuning: `egru pipeline` fine-tunes).")
    p.add_argument("network", type=_existing_file, help="input network file (.h5)")
    p.add_argument("output", type=_output_file, help="output network file (.h5)")
    p.add_argument("--sparsity", type=_fraction, default=0.8, help="fraction of zeros, in [0, 1) (default 0.8)")
    p.set_defaults(func=_cmd_prune)

    p = sub.add_parser("export", help="write a saved torch model to a network file",
                       description="Convert a torch.save()d model (snntorch_egru.EGRU, EGRULanguageModel or the "
                                   "digits classifier) to the HDF5 network format (docs/format.md).")
    p.add_argument("checkpoint", type=_existing_file, help="file written by torch.save(model, path)")
    p.add_argument("output", type=_output_file, help="network file to write (.h5)")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("lava", help="run a network file in Lava on an input sequence",
                       description="Run a network file in Lava's CPU simulator (needs .venv/lava) on the input "
                                   "sequence in a .npy file: [T, I] floats, or [T] token ids.")
    p.add_argument("network", type=_existing_file, help="network file (.h5)")
    p.add_argument("--input", type=_existing_file, required=True, help="input sequence (.npy)")
    p.add_argument("--precision", choices=("floating_pt", "fixed_pt"), default="floating_pt",
                   help="floating_pt (default) or fixed_pt (needs a quantised file)")
    p.add_argument("--output", type=_output_file,
                   help="save the outputs [T, out] to this .npy file (.npy appended when missing; default: print "
                        "the last rows)")
    p.set_defaults(func=_cmd_lava)

    p = sub.add_parser("resources", help="neuromorphic resource estimate of a network file (Loihi 2, SpiNNaker2)",
                       description="Per layer: neurons, nonzero synapses, synaptic memory at the file's precision "
                                   "(CSR index overhead included), neuron-state memory, events per step measured on "
                                   "--input, and an estimate of Loihi 2 neuro cores/chips and SpiNNaker2 processing "
                                   "elements/chips from their published per-core limits (an estimate, not a "
                                   "compiler's mapping).")
    p.add_argument("network", type=_existing_file, help="network file (.h5)")
    p.add_argument("--input", type=_existing_file,
                   help="input sequence (.npy: token ids [T] or features [T, I]) to measure events per step")
    p.set_defaults(func=_cmd_resources)

    p = sub.add_parser("import-evnn", help="import a language model trained with the reference implementation (EvNN)",
                       description="Read a run directory of the reference implementation's benchmarks/lm (config.yaml "
                                   "and checkpoints/<RNN_TYPE>_best_model.cpt) or a checkpoint file (sizes from its "
                                   "tensors) and write it as a network file (EGRU) or a torch model (--format pt; "
                                   "EGRU, GRU, LSTM). Thresholds of 0 become the smallest normal float32 (this "
                                   "library needs thresholds > 0): each change is printed as a note.")
    p.add_argument("source", type=existing_path, help="run directory, or checkpoint file (.cpt)")
    p.add_argument("output", type=_output_file, help="file to write (.h5, or .pt with --format pt)")
    p.add_argument("--format", choices=("h5", "pt"), default="h5",
                   help="h5: the network file (EGRU models; default); pt: torch.save of the model")
    p.add_argument("--rnn-type", choices=("egru", "gru", "lstm"), help="check: the checkpoint's model type")
    p.add_argument("--layers", type=positive_int, help="check: number of recurrent layers")
    p.add_argument("--hidden-dim", type=positive_int, help="check: units of every layer but the last")
    p.add_argument("--emb-dim", type=positive_int, help="check: embedding size (= the last layer's units)")
    p.set_defaults(func=_cmd_import_evnn)

    p = sub.add_parser("evaluate", help="accuracy of a digits network file (torch or Lava), or a language model's "
                                        "perplexity (--data)",
                       description="Test accuracy of a digits classifier network file on the fixed test split; with "
                                   "--data, the perplexity of a language model (network file or torch.save'd "
                                   ".pt) on a PTB/WikiText-2 split at batch size 1, with the exact carry of the "
                                   "state and the reference implementation's (segments of --bptt, y carried, c "
                                   "restarted at 0).")
    p.add_argument("network", type=_existing_file, help="network file (.h5) written by `egru train`/`pipeline`, "
                                                        "or with --data a language model (.h5 or .pt)")
    p.add_argument("--data", help="corpus directory (PTB or WikiText-2): evaluate a language model's perplexity")
    p.add_argument("--split", choices=("test", "valid"), default="test", help="--data: the split (default test)")
    p.add_argument("--carry", choices=("exact", "reference", "both"), default="both",
                   help="--data: what passes between segments: exact (y, c), reference (y only, c restarted, "
                        "segments of --bptt), both (default)")
    p.add_argument("--bptt", type=positive_int, default=70,
                   help="--data: segment length of the reference carry (the reference's bptt; default 70)")
    p.add_argument("--tokens", type=token_count, default=None,
                   help="--data: evaluate only the first N tokens of the split (default: all)")
    p.add_argument("--backend", choices=("torch", "lava"), default="torch", help="default torch")
    p.add_argument("--precision", choices=("floating_pt", "fixed_pt"), default=None,
                   help="--backend lava: floating_pt (default) or fixed_pt (needs a quantised file); the torch "
                        "backend evaluates the float weights, so fixed_pt with it is an error")
    p.add_argument("--limit", type=nonnegative_int, default=0, help="evaluate only the first N test images (0: all)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the train/test split (default 0)")
    p.set_defaults(func=_cmd_evaluate)

    names = benchmark_names()
    p = sub.add_parser("benchmark", help="run a script of benchmarks/ by name (source checkout only)",
                       description="Run benchmarks/NAME.py of the source checkout (arguments after the name go to "
                                   "it). Available: " + (", ".join(names) if names else "none here: the benchmarks "
                                                         "are scripts of the repository, not of an installed egru"))
    p.add_argument("name", nargs="?", help="benchmark name, e.g. bench_layer")
    p.add_argument("--list", action="store_true", help="list the benchmarks")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="arguments for the benchmark script")
    p.set_defaults(func=_cmd_benchmark)

    p = sub.add_parser("pipeline", help="end to end: train, prune, export, quantise, Lava, report",
                       description="--task digits (default, nothing to download): train an EGRU + readout on "
                                   "sklearn's handwritten digits (8x8 images as 8 rows of 8 features). --task lm "
                                   "--data DIR: a word-level language model on a PTB/WikiText-2 directory. Both then "
                                   "prune 80% of W_ih/W_hh while fine-tuning, export, calibrate and fine-tune for "
                                   "fixed point, run the files in Lava in floating and fixed point, print a report "
                                   "and write report.json, the network files and PNG plots to --output-dir.")
    p.add_argument("--task", choices=("digits", "lm"), default="digits",
                   help="digits (default, bundled) or lm: a word-level language model on --data")
    p.add_argument("--data", help="--task lm: corpus directory (PTB ptb.*.txt or WikiText-2 wiki.*.tokens), "
                                  "e.g. ../shared/data/ptb")
    p.add_argument("--output-dir", default=DEFAULT_PIPELINE_DIR,
                   help="default outputs/pipeline (--task lm: outputs/pipeline_lm)")
    p.add_argument("--quick", action="store_true", help="seconds-long smoke setting (small model, few epochs)")
    p.add_argument("--no-lava", action="store_true", help="skip the Lava runs (e.g. without .venv/lava)")
    p.add_argument("--epochs", type=positive_int, help="training epochs (digits default 40, --quick 4; lm default 2, --quick 1)")
    p.add_argument("--hidden", type=positive_int, help="EGRU units (digits default 64, --quick 32; lm: both layers, "
                                              "default 256 and 128)")
    p.add_argument("--sparsity", type=_fraction, help="pruned fraction of W_ih/W_hh (default 0.8)")
    p.add_argument("--lava-images", type=nonnegative_int, help="digits: test images run in Lava (0: all; default all, --quick 24)")
    p.add_argument("--lava-tokens", type=token_count,
                   help="lm: test tokens run in Lava, >= 2 (default 300, --quick 40)")
    p.add_argument("--train-tokens", type=token_count,
                   help="lm: training tokens, >= 2 (default 400000, --quick 4000)")
    p.add_argument("--lr", type=positive_float, help="learning rate of the first training (digits default 0.01, lm 0.003)")
    p.add_argument("--seed", type=nonnegative_int, help="seed (default 0)")
    p.add_argument("--polarity", choices=POLARITIES,
                   help="the EGRU neuron's events: positive (the reference neuron, default) or signed "
                        "(|c| > threshold, y = c with its sign)")
    p.add_argument("--json", action="store_true", help="also print the report as JSON")
    p.set_defaults(func=_cmd_pipeline)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)           # argparse itself exits 2 on bad arguments
    if args.command is None:
        parser.print_help()
        return 2
    extra = getattr(args, "extra", None)
    if extra and extra[0] == "--":
        args.extra = extra[1:]
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:                # Ctrl-C: one line, the shell's code for SIGINT
        print("egru: interrupted", file=sys.stderr)
        return INTERRUPTED_EXIT_CODE
    except UsageError as exc:
        parser.exit(2, f"egru: error: {exc}\n")
    except NotImplementedError as exc:
        parser.exit(2, f"egru: error: not implemented: {exc}\n")
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("lava"):
            raise
        parser.exit(2, f"egru: error: this command needs the Lava stack ({exc}); Lava runs on Python 3.10: use "
                       f".venv/lava/bin/egru (created by scripts/env.sh), or pass --no-lava to skip the Lava steps\n")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, FileExistsError, PermissionError) as exc:
        parser.exit(2, f"egru: error: {error_text(exc)}\n")
    except OSError as exc:
        if exc.errno not in WRITE_ERRNOS:
            raise
        parser.exit(2, f"egru: error: {error_text(exc)}\n")
    except ValueError as exc:
        from egru_format import FormatError, QuantizationError

        # CorpusError and CheckpointError by name: snntorch_egru imports torch, which a failing command
        # may not have loaded
        if not isinstance(exc, (FormatError, QuantizationError)) and type(exc).__name__ not in USER_ERRORS:
            raise
        parser.exit(2, f"egru: error: {exc}\n")


if __name__ == "__main__":
    raise SystemExit(main())
