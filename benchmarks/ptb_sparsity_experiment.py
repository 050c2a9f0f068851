r"""PTB sparsity experiment on CPU (issue 5): dense GRU vs EGRU vs EGRU + iterative pruning.

Protocol (default, sized to ~1.5-2 hours on 2 CPU cores; see docs/lm-recipe.md):

1. ``gru``: a dense GRU language model (the library's ``EGRU`` with ``events=False`` inside
   an ``EGRULanguageModel``): embedding 256, 2 layers of 256 units, tied embedding/readout.
2. ``egru``: the same architecture with events (threshold 0.1, learned).
   Both: 2 epochs over the first 700k PTB training tokens, batch 32, BPTT 35 (random AWD
   lengths), AdamW (betas 0, 0.999), lr 2e-3, weight decay 0.01, clip 0.25, cosine decay
   over the last half, no dropout.
3. ``egru_p50``, ``egru_p80``, ``egru_p90``, ``egru_p95``: the EGRU pruned iteratively, each
   level starting from the previous one: one-shot magnitude pruning (global threshold) of
   **the input and recurrent matrices** (``weight_ih_l*``, ``weight_hh_l*`` of both layers;
   the tied embedding/readout stays dense) to the level, then fine-tuning with the mask
   held (800 steps: one pass over 896k training tokens, lr 1e-3 with cosine decay to 0).

Every configuration is evaluated at batch size 1 on a prefix of the PTB test split
(``--eval-tokens``, default 8000 tokens: the full 82k-token split takes ~7 min per pass on
this machine) for the perplexity and with :func:`snntorch_egru.opcount.count_operations`
for activity sparsity per layer, weight (connection) sparsity and MACs per token; the
reduction is the dense GRU's MACs per token over the configuration's effective MACs
(``OpCounts.reduction_effective``: the GRU of the same size is ``OpCounts.dense``).

Resumable: training checkpoints live in ``--output-dir/<config>/`` (the trainer's
``checkpoint.pt``, resumed automatically), finished models as ``model.pt`` there, and a
finished configuration is one JSON file in ``--results-dir`` (default
``benchmarks/results/ptb_sparsity``); a rerun skips configurations whose JSON exists.

Run from the repository root::

    nohup .venv/modern/bin/python benchmarks/ptb_sparsity_experiment.py --output-dir outputs/ptb_sparsity \
        > outputs/ptb_sparsity.log 2>&1 &
    .venv/modern/bin/python benchmarks/ptb_sparsity_experiment.py --report   # table.md + pareto.png

``--quick``: a seconds-long setting (tiny model, a slice of PTB) into a temporary
directory (or ``--output-dir``/``--results-dir`` when given), for the tests.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from snntorch_egru import train_lm  # noqa: E402
from snntorch_egru.activity import ActivityStats  # noqa: E402
from snntorch_egru.checkpoint import write_text_atomic  # noqa: E402
from snntorch_egru.data import load_corpus  # noqa: E402
from snntorch_egru.language_model import EGRULanguageModel  # noqa: E402
from snntorch_egru.layer import EGRU  # noqa: E402
from snntorch_egru.opcount import count_operations  # noqa: E402
from snntorch_egru.pruning import CubicSchedule, Pruner, PrunerGroup, weight_sparsity  # noqa: E402

DEFAULT_RESULTS = ROOT / "benchmarks" / "results" / "ptb_sparsity"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ptb"
PRUNE_TARGETS = ("input", "recurrent")
#: the last configuration keeps egru_p90's masks and prunes the (tied) readout on its own
READOUT_LEVEL = 0.8
LEVELS = (0.5, 0.8, 0.9, 0.95)

FULL = dict(
    model=dict(embedding_size=256, hidden_sizes=(256, 256), tie_weights=True, threshold=0.1),
    train=dict(epochs=2, batch_size=32, bptt=35, lr=2e-3, weight_decay=0.01, clip=0.25,
               cosine_fraction=0.5, max_train_tokens=700_000),
    finetune=dict(steps=800, lr=1e-3),
    eval_tokens=8000, checkpoint_every=100,
)
QUICK = dict(
    model=dict(embedding_size=16, hidden_sizes=(24, 16), tie_weights=True, threshold=0.1),
    train=dict(epochs=1, batch_size=4, bptt=10, lr=5e-3, weight_decay=0.01, clip=0.25,
               cosine_fraction=0.5, max_train_tokens=2000),
    finetune=dict(steps=5, lr=1e-3),
    eval_tokens=300, checkpoint_every=10,
)


class GRULanguageModel(EGRULanguageModel):
    """``EGRULanguageModel`` whose stack is a plain GRU (``EGRU(events=False)``): the dense baseline."""

    def __init__(self, vocab_size, embedding_size, hidden_sizes, **kwargs):
        super().__init__(vocab_size, embedding_size, hidden_sizes, **kwargs)
        self.rnn = EGRU(self.embedding_size, list(self.rnn.hidden_sizes), dropout=self.rnn.dropout, events=False)
        self.rnn.reset_parameters()

    def activity(self) -> ActivityStats:
        """Every unit communicates every step."""
        return ActivityStats([1.0] * self.rnn.num_layers, 1.0)


def build_lm(kind: str, vocab_size: int, model_cfg: dict) -> EGRULanguageModel:
    cls = GRULanguageModel if kind == "gru" else EGRULanguageModel
    kwargs = dict(tie_weights=model_cfg["tie_weights"])
    if kind != "gru":
        kwargs["threshold"] = model_cfg["threshold"]
    return cls(vocab_size, model_cfg["embedding_size"], list(model_cfg["hidden_sizes"]), **kwargs)


def load_model(path: Path, kind: str, vocab_size: int, model_cfg: dict, pruned: bool,
               targets=PRUNE_TARGETS) -> EGRULanguageModel:
    """A finished model from ``model.pt`` (mask buffers of ``targets`` registered first when pruned)."""
    model = build_lm(kind, vocab_size, model_cfg)
    if pruned:
        Pruner(model, targets=list(targets))
    model.load_state_dict(torch.load(path, map_location="cpu"))
    return model


@torch.no_grad()
def test_loss(model: EGRULanguageModel, tokens: torch.Tensor, segment_length: int = 256) -> float:
    """Mean next-token cross-entropy at batch size 1, state carried (works for the GRU too)."""
    was_training = model.training
    model.eval()
    stream, state, total = tokens.view(-1, 1), None, 0.0
    for start in range(0, stream.shape[0] - 1, segment_length):
        inputs = stream[start: min(start + segment_length, stream.shape[0] - 1)]
        targets = stream[start + 1: start + 1 + inputs.shape[0]]
        logits, state = model(inputs, state)
        total += nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                             reduction="sum").item()
    model.train(was_training)
    return total / (stream.shape[0] - 1)


def configurations():
    """(name, kind, sparsity, parent) in protocol order.

    After the pruning chain, a control chain ``egru_ft1`` .. ``egru_ft4``: the unpruned EGRU
    fine-tuned with exactly the same schedule, link for link, so that ``egru_p<level>`` and
    the control with the same number of fine-tuning links differ only in the pruning. Last,
    ``egru_p90_ro80``: ``egru_p90`` with its W_ih/W_hh masks held and the tied
    embedding/readout pruned to 80% on its own (a :class:`PrunerGroup`), the readout being
    most of a small model's MACs. (One global threshold over all three groups instead pruned
    the EGRU matrices to 98% and the readout to 87.5%, perplexity 706: the groups need their
    own levels.)
    """
    yield "gru", "gru", 0.0, None
    yield "egru", "egru", 0.0, None
    parent = "egru"
    for level in LEVELS:
        name = f"egru_p{round(level * 100)}"
        yield name, "egru", level, parent
        parent = name
    parent = "egru"
    for link in range(1, len(LEVELS) + 1):
        name = f"egru_ft{link}"
        yield name, "egru", 0.0, parent
        parent = name
    yield "egru_p90_ro80", "egru", 0.9, "egru_p90"


def _sparsity_of(name: str) -> float:
    return next(sparsity for config, _, sparsity, _ in configurations() if config == name)


def prunes_readout(name: str) -> bool:
    """Whether a configuration also prunes the tied embedding/readout (``egru_p90_ro80``)."""
    return "_ro" in name


def prune_targets(name: str) -> tuple:
    """The pruned matrix groups of a configuration."""
    return PRUNE_TARGETS + ("readout",) if prunes_readout(name) else PRUNE_TARGETS


def measure(model, tokens: torch.Tensor) -> dict:
    loss = test_loss(model, tokens)
    counts = count_operations(model, tokens)
    pruned = weight_sparsity({n: p for n, p in model.named_parameters() if n.startswith("rnn.weight_")})
    total = pruned.pop("total")
    rnn = {key: sum(m[key] for name, m in counts.layers().items() if name.startswith("layer"))
           for key in ("dense", "activity", "effective")}
    return {
        "test_loss": loss, "test_perplexity": math.exp(loss), "eval_tokens": int(tokens.numel()),
        "activity_sparsity": counts.activity_sparsity,
        "weight_sparsity_rnn": total, "weight_sparsity_per_matrix": pruned,
        "weight_sparsity_readout": float((model.readout.weight == 0).float().mean()),
        "connection_sparsity_overall": counts.connection_sparsity["overall"],
        "macs_per_token": {"dense": counts.dense, "activity": counts.activity, "effective": counts.effective},
        "reduction_vs_dense_gru": counts.reduction_effective,
        # the EGRU layers alone (the tied V x H readout is dense and dominates a small model's MACs)
        "reduction_rnn_only": rnn["dense"] / max(1e-12, rnn["effective"]),
        "reduction_rnn_activity_only": rnn["dense"] / max(1e-12, rnn["activity"]),
        "macs_per_layer": counts.layers(),
    }


def run_protocol(settings: dict, corpus, output_dir: Path, results_dir: Path, log=print) -> dict:
    output_dir, results_dir = Path(output_dir), Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    vocab = len(corpus.vocabulary)
    eval_tokens = corpus.test[: settings["eval_tokens"]]
    model_cfg, train_cfg, ft = settings["model"], settings["train"], settings["finetune"]
    results = {}
    for name, kind, sparsity, parent in configurations():
        result_path = results_dir / f"{name}.json"
        if result_path.exists():
            log(f"[{name}] done already ({result_path}), skipped")
            results[name] = json.loads(result_path.read_text())
            continue
        work = output_dir / name
        work.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        if parent is None:
            config = train_lm.LMConfig(hidden_sizes=tuple(model_cfg["hidden_sizes"]),
                                       embedding_size=model_cfg["embedding_size"],
                                       tie_weights=model_cfg["tie_weights"], threshold=model_cfg["threshold"],
                                       **train_cfg)
            torch.manual_seed(config.seed)   # the initial weights depend on the seed only
            model, history = train_lm.train_language_model(
                config, corpus.train, vocab, None, log=log, output_dir=work, resume=True,
                checkpoint_every=settings["checkpoint_every"], progress=True, model=build_lm(kind, vocab, model_cfg))
            description = f"trained {train_cfg['epochs']} epochs"
        else:
            parent_model = output_dir / parent / "model.pt"
            if not parent_model.exists():
                raise FileNotFoundError(f"{name} starts from {parent_model}, which is missing "
                                        f"(remove {results_dir / (parent + '.json')} to retrain {parent})")
            steps = ft["steps"]
            tokens = steps * train_cfg["batch_size"] * train_cfg["bptt"]

            start_model = load_model(parent_model, kind, vocab, model_cfg, pruned=_sparsity_of(parent) > 0,
                                     targets=prune_targets(parent))
            targets = prune_targets(name)
            pruner = None
            if prunes_readout(name):
                # the parent's EGRU masks held as they are (no schedule); the readout one-shot to its level
                pruner = PrunerGroup(Pruner(start_model, targets=list(PRUNE_TARGETS)),
                                     Pruner(start_model, targets=["readout"],
                                            schedule=CubicSchedule.one_shot(READOUT_LEVEL)))
            elif sparsity > 0:
                # one-shot to the level at step 0, held afterwards; previously pruned weights
                # are zero, so they go first: the masks are nested.
                pruner = Pruner(start_model, targets=list(targets), scope="global",
                                schedule=CubicSchedule.one_shot(sparsity))

            config = train_lm.LMConfig(hidden_sizes=tuple(model_cfg["hidden_sizes"]),
                                       embedding_size=model_cfg["embedding_size"],
                                       tie_weights=model_cfg["tie_weights"], threshold=model_cfg["threshold"],
                                       epochs=1, batch_size=train_cfg["batch_size"], bptt=train_cfg["bptt"],
                                       lr=ft["lr"], weight_decay=train_cfg["weight_decay"], clip=train_cfg["clip"],
                                       cosine_fraction=1.0, prune_sparsity=sparsity,
                                       prune_targets=targets, max_train_tokens=tokens + 1)
            model, history = train_lm.train_language_model(
                config, corpus.train, vocab, None, log=log, output_dir=work, resume=True,
                checkpoint_every=settings["checkpoint_every"], progress=True, model=start_model, pruner=pruner)
            steps_done = history[-1]["step"] if history else "?"
            description = (f"pruned to {sparsity:.0%} from {parent}, fine-tuned {steps_done} steps" if sparsity
                           else f"control: {parent} fine-tuned {steps_done} steps, no pruning")
        torch.save(model.state_dict(), work / "model.pt")
        train_seconds = sum(r.get("seconds", 0.0) for r in history)
        record = {"name": name, "kind": kind, "target_sparsity": sparsity, "parent": parent,
                  "description": description, "pruned_matrices": list(prune_targets(name)) if sparsity else [],
                  "model": {k: list(v) if isinstance(v, tuple) else v for k, v in model_cfg.items()},
                  "train_steps": history[-1]["step"] if history else None,
                  "train_perplexity": history[-1]["train_perplexity"] if history else None}
        record.update(measure(model, eval_tokens))
        record["train_seconds"] = train_seconds
        record["wall_seconds"] = time.perf_counter() - start
        write_text_atomic(result_path, json.dumps(record, indent=1) + "\n")
        log(f"[{name}] test ppl {record['test_perplexity']:.2f}, activity sparsity "
            f"{record['activity_sparsity']['pooled']:.3f}, weight sparsity {record['weight_sparsity_rnn']:.3f}, "
            f"reduction {record['reduction_vs_dense_gru']:.2f}x -> {result_path}")
        results[name] = record
    return results


def remeasure(settings: dict, corpus, output_dir: Path, results_dir: Path, log=print) -> None:
    """Measure every finished configuration again from its ``model.pt`` (same tokens, same
    numbers, plus any field :func:`measure` gained since) and rewrite its JSON."""
    vocab = len(corpus.vocabulary)
    eval_tokens = corpus.test[: settings["eval_tokens"]]
    for name, kind, sparsity, parent in configurations():
        result_path, model_path = Path(results_dir) / f"{name}.json", Path(output_dir) / name / "model.pt"
        if not result_path.exists():
            continue
        if not model_path.exists():
            raise FileNotFoundError(f"{result_path} exists but {model_path} does not: cannot remeasure {name}")
        record = json.loads(result_path.read_text())
        model = load_model(model_path, kind, vocab, settings["model"], pruned=sparsity > 0, targets=prune_targets(name))
        record.update(measure(model, eval_tokens))
        write_text_atomic(result_path, json.dumps(record, indent=1) + "\n")
        log(f"[{name}] remeasured: test ppl {record['test_perplexity']:.2f}")


def write_report(results_dir: Path, command: str, log=print) -> Path:
    results_dir = Path(results_dir)
    records = [json.loads((results_dir / f"{name}.json").read_text())
               for name, *_ in configurations() if (results_dir / f"{name}.json").exists()]
    readout_note = next((f"{r['weight_sparsity_readout']:.3f}" for r in records
                         if prunes_readout(r["name"]) and "weight_sparsity_readout" in r), "n/a")
    lines = [f"# PTB sparsity experiment (CPU protocol)", "",
             f"Produced by `{command}` from the JSON files in this folder "
             f"(benchmarks/ptb_sparsity_experiment.py). Test perplexity at batch size 1 on the first "
             f"{records[0]['eval_tokens'] + 1 if records else '?'} tokens of the PTB test split. Pruned matrices: "
             f"input and recurrent (weight_ih, weight_hh) of every layer; the tied embedding/readout is dense "
             f"except in egru_p90_ro80 (egru_p90's masks held, the readout pruned on its own; its readout "
             f"sparsity: {readout_note}). "
             f"MACs per token by snntorch_egru.opcount (embedding lookup = 0 MACs; readout included); "
             f"reduction = dense GRU MACs / effective MACs.", "",
             "A = activity-only reduction and M = measured reduction (activity x weights) of the EGRU "
             "layers' matmuls (W_ih, W_hh); W = 1 / (1 - weight sparsity of those matrices); "
             "the whole-model reduction includes the dense tied readout (V x H MACs on the last layer's events).", "",
             "| config | test ppl | activity sparsity (per layer; pooled) | weight sparsity (rnn) "
             "| A | W | A x W | M | whole model | wall time (s) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        act = r["activity_sparsity"]
        layers = ", ".join(f"{act[k]:.3f}" for k in sorted(act) if k.startswith("layer"))
        weights = 1.0 / max(1e-12, 1.0 - r["weight_sparsity_rnn"])
        activity = r.get("reduction_rnn_activity_only")
        a_text = f"{activity:.2f}x" if activity else "n/a"
        ax_text = f"{activity * weights:.2f}x" if activity else "n/a"
        lines.append(f"| {r['name']} | {r['test_perplexity']:.2f} | {layers}; {act['pooled']:.3f} "
                     f"| {r['weight_sparsity_rnn']:.3f} | {a_text} | {weights:.2f}x | {ax_text} "
                     f"| {r['reduction_rnn_only']:.2f}x | {r['reduction_vs_dense_gru']:.2f}x | {r['wall_seconds']:.0f} |")
    if not records:
        lines.append("| (no finished configuration) | | | | | | | | | |")
    table = results_dir / "table.md"
    write_text_atomic(table, "\n".join(lines) + "\n")
    log(f"wrote {table}")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed in this environment: pareto.png not written "
            "(pip install -e '.[test]' installs it)")
        return table
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    chain = [r for r in records if not r["name"].startswith("egru_ft") and not prunes_readout(r["name"])]
    controls = [r for r in records if r["name"].startswith("egru_ft") or prunes_readout(r["name"])]
    for key, label, marker in (("reduction_vs_dense_gru", "whole model (dense tied readout included)", "o"),
                               ("reduction_rnn_only", "EGRU layers only (W_ih, W_hh)", "s")):
        for group, style, suffix in ((chain, ":", "pruning chain"), (controls, "", "controls egru_ft*, readout pruned egru_p90_ro80")):
            if not group:
                continue
            xs, ys = [r[key] for r in group], [r["test_perplexity"] for r in group]
            ax.plot(xs, ys, marker=marker if style else "x", linestyle=style or "none",
                    label=f"{label}: {suffix}")
            for r, x, y in zip(group, xs, ys):
                ax.annotate(r["name"], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("effective-MAC reduction vs the dense GRU (x)")
    ax.set_ylabel("test perplexity (batch 1)")
    ax.set_title("PTB: perplexity vs operations (activity x weight sparsity)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(results_dir / "pareto.png", dpi=120)
    plt.close(fig)
    log(f"wrote {results_dir / 'pareto.png'}")
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="PTB directory (default ../shared/data/ptb)")
    parser.add_argument("--output-dir", default=None, help="checkpoints and models (default outputs/ptb_sparsity)")
    parser.add_argument("--results-dir", default=None, help=f"JSON results (default {DEFAULT_RESULTS})")
    parser.add_argument("--quick", action="store_true", help="seconds-long setting, temporary dirs unless given")
    parser.add_argument("--eval-tokens", type=int, default=None, help="test-split prefix for evaluation")
    parser.add_argument("--report", action="store_true", help="only write table.md and pareto.png")
    parser.add_argument("--remeasure", action="store_true",
                        help="measure the finished configurations again from their model.pt, then report")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # progress visible in a nohup log
    torch.set_num_threads(args.threads)
    settings = dict(QUICK if args.quick else FULL)
    if args.eval_tokens:
        settings["eval_tokens"] = args.eval_tokens
    temporary = None
    if args.quick and (args.output_dir is None or args.results_dir is None):
        temporary = tempfile.mkdtemp(prefix="ptb_sparsity_quick_")
    output_dir = Path(args.output_dir or (Path(temporary) / "work" if temporary else ROOT / "outputs" / "ptb_sparsity"))
    results_dir = Path(args.results_dir or (Path(temporary) / "results" if temporary else DEFAULT_RESULTS))
    command = "python benchmarks/ptb_sparsity_experiment.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.remeasure:
        remeasure(settings, load_corpus(args.data), output_dir, results_dir)
    elif not args.report:
        corpus = load_corpus(args.data)
        run_protocol(settings, corpus, output_dir, results_dir)
    write_report(results_dir, command.strip())
    print(f"results in {results_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
