"""The end-to-end language-model pipeline (``egru pipeline --task lm --data DIR``).

The same path as the digits pipeline (:mod:`egru.pipelines.digits`), on the same run
skeleton (:class:`egru.pipelines.run.Pipeline`), for a word-level language model on a
corpus directory (Penn Treebank: ``ptb.{train,valid,test}.txt``; WikiText-2:
``wiki.*.tokens``; see :func:`egru.lm.data.load_corpus`):

1. **train** an :class:`snntorch_egru.EGRULanguageModel` (embedding -> EGRU stack -> tied
   readout) with :func:`egru.lm.trainer.train_language_model` on the first
   ``train_tokens`` training tokens;
2. **prune** the input and recurrent matrices of every EGRU layer to ``sparsity``
   (global magnitude, one shot) and fine-tune with the masks held
   (:func:`snntorch_egru.pruning.prune_and_finetune` over the trainer);
3. **export** the float network file (sparse matrices stored as CSR, ``sparse="auto"``);
4. **quantise**: calibrate on validation tokens
   (:func:`snntorch_egru.quantization.calibrate`), quantisation-aware fine-tuning with the
   masks held (the trainer with the QAT forward pass), export the fixed-point (format version 2) file;
5. **Lava**: run the first ``lava_tokens`` test tokens through both files on Lava's CPU
   backend (``floating_pt`` and ``fixed_pt``) and compare with torch (float logits;
   the integer reference :func:`snntorch_egru.quantization.to_integer` bit for bit);
6. **report**: perplexity at batch size 1 (torch dense / pruned / integer on
   ``eval_tokens`` test tokens; torch and Lava on the Lava tokens), agreement, activity
   sparsity per layer, weight sparsity, MACs per token against a dense GRU of the same
   size (:func:`snntorch_egru.opcount.count_operations`), plots (event raster, activity
   per layer) and ``report.json`` in the output folder.

Every sequence starts from the zero state (torch and Lava alike), so the Lava numbers
compare with torch on exactly the same computation. Lava is imported only by the
skeleton's check and the Lava phases (``lava=False`` skips both).

Example (a tiny setting; the default is ``LMPipelineConfig()``)::

    from egru.pipelines.lm import LMPipelineConfig, run_lm_pipeline, format_lm_report
    report = run_lm_pipeline(LMPipelineConfig.quick(), "../shared/data/ptb", "outputs/lm", lava=False)
    print(format_lm_report(report))
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

import converters
from snntorch_egru import EGRULanguageModel
from snntorch_egru import quantization as quant
from snntorch_egru.opcount import count_operations
from snntorch_egru.pruning import PRUNE_TARGETS, CubicSchedule, Pruner, prune_and_finetune, weight_sparsity

from ..lm.data import Corpus, batchify, load_corpus
from ..lm.resources import check_training_memory
from ..lm.trainer import LMConfig, evaluate, train_language_model
from .run import Phase, Pipeline, check_config, save_figure

__all__ = ["LMPipelineConfig", "LMPipeline", "run_lm_pipeline", "format_lm_report", "perplexity_from_logits",
           "PRUNE_TARGETS"]


@dataclass
class LMPipelineConfig:
    """Sizes and budgets of the LM pipeline (the default takes about 10 minutes on 2 CPU cores)."""

    embedding_size: int = 128
    hidden_sizes: tuple = (256, 128)
    threshold: float = 0.1
    train_tokens: int = 400_000
    epochs: int = 2
    batch_size: int = 32
    bptt: int = 35
    lr: float = 3e-3
    sparsity: float = 0.8
    finetune_tokens: int = 60_000
    calibration_tokens: int = 5_000
    qat_tokens: int = 20_000
    eval_tokens: int = 4_000
    lava_tokens: int = 300
    seed: int = 0
    progress: bool = True
    polarity: str = "positive"        # the EGRU neuron: "positive" (reference) or "signed" events

    @classmethod
    def quick(cls, **overrides) -> "LMPipelineConfig":
        """Seconds on CPU: for tests and a first look (the perplexity is near the unigram's)."""
        values = dict(embedding_size=16, hidden_sizes=(24, 16), train_tokens=4_000, finetune_tokens=1_000,
                      calibration_tokens=400, qat_tokens=600, eval_tokens=300, lava_tokens=40, bptt=20,
                      batch_size=8, progress=False)
        values.update(overrides)
        return cls(**values)

    def __post_init__(self):
        if isinstance(self.hidden_sizes, (int, float, str)) or not self.hidden_sizes:
            raise ValueError(f"hidden_sizes must be a non-empty sequence of positive ints, got {self.hidden_sizes!r}")
        if any(isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1 for h in self.hidden_sizes):
            raise ValueError(f"hidden_sizes must be positive ints, got {tuple(self.hidden_sizes)}")
        self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        if not 0.0 <= self.sparsity < 1.0:
            raise ValueError(f"sparsity must be in [0, 1), got {self.sparsity}")
        for name in ("train_tokens", "eval_tokens", "calibration_tokens", "lava_tokens"):
            if getattr(self, name) < 2:
                raise ValueError(f"{name} must be at least 2, got {getattr(self, name)}")
        check_config(self, minimum={"embedding_size": 1, "epochs": 1, "batch_size": 1, "bptt": 1,
                                    "finetune_tokens": 2, "qat_tokens": 2, "seed": 0},
                     positive=("threshold", "lr"))

    def lm_config(self, **overrides) -> LMConfig:
        values = dict(embedding_size=self.embedding_size, hidden_sizes=self.hidden_sizes, tie_weights=True,
                      threshold=self.threshold, epochs=self.epochs, batch_size=self.batch_size, bptt=self.bptt,
                      lr=self.lr, max_train_tokens=self.train_tokens, seed=self.seed, polarity=self.polarity)
        values.update(overrides)
        return LMConfig(**values)


def perplexity_from_logits(logits: np.ndarray, targets: np.ndarray) -> float:
    """exp(mean cross-entropy) of float logits [T, V] against target ids [T], in float64."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(math.exp(-log_probs[np.arange(len(targets)), targets].mean()))


def _integer_perplexity(integer, tokens: torch.Tensor, segment: int = 256) -> tuple:
    """Perplexity of the integer model at batch 1 over a 1-D stream; also its overflow count."""
    stream, state, total, overflow = tokens.view(-1, 1), None, 0.0, 0
    for start in range(0, stream.shape[0] - 1, segment):
        inputs = stream[start: min(start + segment, stream.shape[0] - 1)]
        targets = stream[start + 1: start + 1 + inputs.shape[0]]
        result = integer(inputs, state)
        state, overflow = result.state, overflow + result.overflow_total
        total += nn.functional.cross_entropy(result.output.reshape(-1, result.output.shape[-1]).double(),
                                             targets.reshape(-1), reduction="sum").item()
    return math.exp(total / (stream.shape[0] - 1)), overflow


def _qat_finetune(model: EGRULanguageModel, q, tokens: torch.Tensor, config: LMPipelineConfig) -> int:
    """Quantisation-aware fine-tuning: one epoch of the trainer with the float32 QAT forward pass,
    the pruning masks and the fixed-point ranges held after every step; returns the step count."""
    qat = quant.quantization_aware(model, q, dtype=torch.float32)
    settings = config.lm_config(epochs=1, lr=config.lr / 10, max_train_tokens=None, seed=config.seed + 2)
    masks = Pruner(model, targets=list(PRUNE_TARGETS))              # no schedule: holds the existing masks
    _, history = train_language_model(settings, tokens, model.vocab_size, model=model, pruner=masks, forward=qat,
                                      after_step=qat.project_, progress=config.progress)
    model.eval()
    return history[-1]["step"]


def _weight_sparsity(model: EGRULanguageModel) -> dict:
    rnn = {name: p for name, p in model.named_parameters() if name.startswith("rnn.weight_")}
    # the readout by its own name (tied, named_parameters lists it as the embedding)
    out = weight_sparsity({**rnn, "readout.weight": model.readout.weight})
    del out["total"]
    return out


def _plots(model: EGRULanguageModel, tokens: torch.Tensor, counts, output_dir: Path) -> list:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model.eval()
    with torch.no_grad():
        model(tokens.view(-1, 1))
    events = [e[:, 0].numpy() for e in model.rnn.last_events]             # per layer [T, H]
    paths = []
    fig, axes = plt.subplots(len(events), 1, figsize=(9, 2.2 * len(events)), squeeze=False)
    for k, (ax, e) in enumerate(zip(axes[:, 0], events)):
        t, unit = np.nonzero(e.T != 0)[::-1]
        ax.scatter(t, unit, s=2, c=np.abs(e[t, unit]), cmap="viridis")
        ax.set_ylabel(f"layer {k} unit")
        ax.set_xlim(0, e.shape[0])
        ax.set_ylim(-0.5, e.shape[1] - 0.5)
    axes[-1, 0].set_xlabel("token")
    axes[0, 0].set_title(f"EGRU events on the first {events[0].shape[0]} test tokens (colour: |y|)")
    paths.append(save_figure(fig, output_dir / "lm_event_raster.png"))

    layers = counts.layers()
    names = [n for n in layers if n.startswith("layer")] + (["readout"] if "readout" in layers else [])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
    activity = [1.0 - counts.activity_sparsity[n] for n in names if n in counts.activity_sparsity]
    ax1.bar([n for n in names if n in counts.activity_sparsity], activity)
    ax1.set_ylabel("fraction of units active per token")
    ax1.set_title("activity per layer")
    x = np.arange(len(names))
    ax2.bar(x - 0.2, [layers[n]["dense"] for n in names], 0.4, label="dense GRU")
    ax2.bar(x + 0.2, [layers[n]["effective"] for n in names], 0.4, label="EGRU (activity x weights)")
    ax2.set_xticks(x, names)
    ax2.set_yscale("log")
    ax2.set_ylabel("MACs per token")
    ax2.legend()
    ax2.set_title("operations per matmul group")
    paths.append(save_figure(fig, output_dir / "lm_activity_and_macs.png"))
    return paths


class LMPipeline(Pipeline):
    """The language-model pipeline's phases on the shared skeleton; :func:`run_lm_pipeline` runs it."""

    def __init__(self, config: LMPipelineConfig, corpus: Corpus, data_dir, output_dir, *, lava: bool = True,
                 log=print):
        super().__init__(output_dir, lava=lava, log=log)
        self.config, self.corpus, self.data_dir = config, corpus, data_dir

    def prepare(self) -> None:
        config, corpus = self.config, self.corpus
        self.vocab = len(corpus.vocabulary)
        self.log(f"[lm-pipeline] corpus {self.data_dir}: vocabulary {self.vocab}, train {corpus.train.numel()} "
                 f"tokens (using {min(config.train_tokens, corpus.train.numel())}), test {corpus.test.numel()}")
        self.eval_tokens = corpus.test[: config.eval_tokens + 1]
        self.lava_tokens = corpus.test[: config.lava_tokens + 1]

    def phases(self):
        return [Phase("train", self.train), Phase("prune", self.prune), Phase("quantize", self.quantize),
                Phase("lava_float", self.lava_float, lava=True), Phase("lava_fixed", self.lava_fixed, lava=True)]

    def train(self) -> None:
        config = self.config
        check_training_memory(config.lm_config(), self.vocab, "cpu")     # before the model is allocated
        torch.manual_seed(config.seed)
        model = EGRULanguageModel(self.vocab, config.embedding_size, list(config.hidden_sizes), tie_weights=True,
                                  threshold=config.threshold)
        self.model, self.history = train_language_model(config.lm_config(), self.corpus.train, self.vocab,
                                                        log=self.log, model=model, progress=config.progress)
        seconds = self.phase_seconds()
        self.dense_eval = evaluate(self.model, self.eval_tokens)
        self.log(f"[lm-pipeline] trained {self.history[-1]['step']} steps: test perplexity "
                 f"{self.dense_eval.perplexity:.2f} ({seconds} s)")

    def prune(self) -> None:
        """One-shot global pruning at the first fine-tuning step, the masks held after it; the float
        file and its measurements."""
        config, model = self.config, self.model
        pruner = Pruner(model, targets=list(PRUNE_TARGETS), scope="global")
        if config.sparsity > 0:
            settings = config.lm_config(lr=config.lr / 3, cosine_fraction=1.0, max_train_tokens=config.finetune_tokens,
                                        prune_sparsity=config.sparsity, prune_targets=PRUNE_TARGETS,
                                        seed=config.seed + 1)

            def finetune(model, sparsity):
                return train_language_model(settings, self.corpus.train, self.vocab, log=self.log, model=model,
                                            pruner=pruner, progress=config.progress)

            prune_and_finetune(pruner, [CubicSchedule.one_shot(config.sparsity)], finetune)
        self.pruned_eval = evaluate(model, self.eval_tokens)
        self.log(f"[lm-pipeline] pruned {config.sparsity:.0%} of W_ih/W_hh + fine-tuning: test perplexity "
                 f"{self.pruned_eval.perplexity:.2f}")
        self.float_path = converters.export(model, self.output_dir / "lm_float.h5", sparse="auto")
        self.counts = count_operations(model, self.eval_tokens[:-1].view(-1, 1))
        self.float_state = {k: v.clone() for k, v in model.state_dict().items()}
        with torch.no_grad():
            self.torch_logits = model.eval()(self.lava_tokens[:-1].view(-1, 1))[0][:, 0].double().numpy()

    def quantize(self) -> None:
        """Calibration and QAT (masks held), the integer model's perplexity, the fixed-point file."""
        config, corpus, model = self.config, self.corpus, self.model
        q = quant.calibrate(model, batchify(corpus.valid[: config.calibration_tokens], 4))
        self.qat_steps = 0
        if config.qat_tokens > 0:
            tail = corpus.train[config.train_tokens: config.train_tokens + config.qat_tokens]
            if tail.numel() < config.batch_size * 3:
                tail = corpus.train[: config.qat_tokens]
            self.qat_steps = _qat_finetune(model, q, tail, config)
        integer = quant.to_integer(model, q)
        self.ppl_int, self.overflow_eval = _integer_perplexity(integer, self.eval_tokens)
        self.reference = integer(self.lava_tokens[:-1].view(-1, 1))
        self.fixed_path = converters.export(model, self.output_dir / "lm_fixed.h5", quantization=q, sparse="auto")
        self.log(f"[lm-pipeline] calibrated + {self.qat_steps} QAT steps: integer test perplexity {self.ppl_int:.2f}")
        self.q = q

    def lava_float(self) -> None:
        import lava_egru

        self.lava_logits = lava_egru.simulate(converters.load_lava(self.float_path), self.lava_tokens[:-1].numpy())

    def lava_fixed(self) -> None:
        import lava_egru

        self.lava_fixed_result = lava_egru.simulate(converters.load_lava(self.fixed_path),
                                                    self.lava_tokens[:-1].numpy(), precision="fixed_pt",
                                                    return_details=True)

    def results(self) -> dict:
        counts, targets = self.counts, self.lava_tokens[1:].numpy()
        report = {
            "task": "lm", "data": str(self.data_dir), "config": asdict(self.config), "vocabulary": self.vocab,
            "train_steps": self.history[-1]["step"], "qat_steps": self.qat_steps,
            "files": {"float": str(self.float_path), "fixed": str(self.fixed_path)},
            "perplexity": {
                "eval_tokens": int(self.eval_tokens.numel() - 1),
                "torch_dense_float": self.dense_eval.perplexity, "torch_pruned_float": self.pruned_eval.perplexity,
                "torch_integer": self.ppl_int,
                "lava_tokens": int(targets.size),
                "torch_float_on_lava_tokens": perplexity_from_logits(self.torch_logits, targets),
                "torch_integer_on_lava_tokens": perplexity_from_logits(
                    self.reference.output[:, 0].double().numpy(), targets),
            },
            "integer_overflow": self.overflow_eval,
            "activity_sparsity": {k: float(v) for k, v in counts.activity_sparsity.items()},
            "weight_sparsity": _weight_sparsity(self.model),
            "macs_per_token": {"dense_gru": counts.dense, "egru_activity_only": counts.activity,
                               "egru_effective": counts.effective, "reduction_activity": counts.reduction_activity,
                               "reduction_effective": counts.reduction_effective,
                               "layers": counts.layers()},
            "quantization": repr(self.q),
        }
        if self.lava:
            self._add_lava_results(report, targets)
        return report

    def _add_lava_results(self, report: dict, targets: np.ndarray) -> None:
        lava_float, fixed = self.lava_logits, self.lava_fixed_result
        expected_int = self.reference.output_int[:, 0].numpy()
        report["perplexity"]["lava_float"] = perplexity_from_logits(lava_float, targets)
        report["perplexity"]["lava_fixed"] = perplexity_from_logits(fixed.output, targets)
        report["agreement"] = {
            "float": {"max_abs_logit_diff": float(np.abs(lava_float - self.torch_logits).max()),
                      "same_argmax": float((lava_float.argmax(1) == self.torch_logits.argmax(1)).mean())},
            "fixed": {"bit_exact": bool(np.array_equal(fixed.output_int, expected_int)),
                      "max_abs_logit_diff_int": int(np.abs(fixed.output_int - expected_int).max()),
                      "overflow_lava": fixed.overflow_total, "overflow_torch": self.reference.overflow_total},
        }
        self.log(f"[lm-pipeline] Lava on {targets.size} tokens: float max |diff| "
                 f"{report['agreement']['float']['max_abs_logit_diff']:.2e}, fixed bit exact "
                 f"{report['agreement']['fixed']['bit_exact']}")

    def plots(self) -> list:
        self.model.load_state_dict(self.float_state)
        return _plots(self.model, self.corpus.test[: min(200, self.config.eval_tokens)], self.counts,
                      self.output_dir)


def run_lm_pipeline(config: LMPipelineConfig, data_dir, output_dir, *, lava: bool = True, log=print) -> dict:
    """Run every phase; write the two network files, ``report.json`` and the PNGs to ``output_dir``.

    Raises:
        FileNotFoundError / ValueError: from :func:`egru.lm.data.load_corpus` for a
            missing directory or an empty/missing split file (before the Lava check).
    """
    corpus = load_corpus(data_dir)
    return LMPipeline(config, corpus, data_dir, output_dir, lava=lava, log=log).run()


def format_lm_report(report: dict) -> str:
    p, m = report["perplexity"], report["macs_per_token"]

    def ppl(key):
        return f"{p[key]:.2f}" if key in p else "n/a"

    layers = ", ".join(f"{k} {v:.3f}" for k, v in report["activity_sparsity"].items())
    lines = ["", "EGRU language-model pipeline report", "=" * 64,
             f"corpus               : {report['data']} (vocabulary {report['vocabulary']})",
             f"model                : embedding {report['config']['embedding_size']}, EGRU "
             f"{list(report['config']['hidden_sizes'])} ({report['config'].get('polarity', 'positive')} events), "
             f"tied readout; {report['train_steps']} training steps",
             "", f"{'perplexity (batch 1, from the zero state)':<46}{'value':>10}", "-" * 56,
             f"{'torch float, dense    (' + str(p['eval_tokens']) + ' test tokens)':<46}{ppl('torch_dense_float'):>10}",
             f"{'torch float, pruned   (' + str(p['eval_tokens']) + ' test tokens)':<46}{ppl('torch_pruned_float'):>10}",
             f"{'torch integer (QAT)   (' + str(p['eval_tokens']) + ' test tokens)':<46}{ppl('torch_integer'):>10}",
             f"{'torch float           (' + str(p['lava_tokens']) + ' Lava tokens)':<46}"
             f"{ppl('torch_float_on_lava_tokens'):>10}",
             f"{'Lava floating_pt      (' + str(p['lava_tokens']) + ' Lava tokens)':<46}{ppl('lava_float'):>10}",
             f"{'torch integer         (' + str(p['lava_tokens']) + ' Lava tokens)':<46}"
             f"{ppl('torch_integer_on_lava_tokens'):>10}",
             f"{'Lava fixed_pt         (' + str(p['lava_tokens']) + ' Lava tokens)':<46}{ppl('lava_fixed'):>10}"]
    if "agreement" in report:
        ag = report["agreement"]
        lines += ["", "torch vs Lava agreement", "-" * 56,
                  f"float: max |logit diff| {ag['float']['max_abs_logit_diff']:.3g}, same argmax "
                  f"{ag['float']['same_argmax']:.4f}",
                  f"fixed: bit exact {ag['fixed']['bit_exact']}, max |diff| {ag['fixed']['max_abs_logit_diff_int']} "
                  f"LSB, overflow Lava {ag['fixed']['overflow_lava']} / torch {ag['fixed']['overflow_torch']}"]
    lines += ["", "sparsity and operations", "-" * 56,
              f"activity sparsity    : {layers}",
              "weight sparsity      : " + ", ".join(f"{k} {v:.3f}" for k, v in report["weight_sparsity"].items()),
              f"MACs per token       : dense GRU {m['dense_gru']:.0f}; EGRU activity only {m['egru_activity_only']:.0f} "
              f"({m['reduction_activity']:.2f}x fewer); activity x weights {m['egru_effective']:.0f} "
              f"({m['reduction_effective']:.2f}x fewer)"]
    for name, entry in m["layers"].items():
        lines.append(f"  {name:<19}: dense {entry['dense']:.0f} -> {entry['effective']:.0f} "
                     f"({entry['reduction_effective']:.2f}x)")
    lines += [f"integer overflows    : {report['integer_overflow']}",
              f"files                : {report['files']['float']}, {report['files']['fixed']}",
              f"plots                : {', '.join(report['plots'])}",
              f"timings (s)          : {report['timings_s']}; wall time {report['wall_time_s']} s", ""]
    return "\n".join(lines)
