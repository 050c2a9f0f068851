"""The end-to-end digits pipeline: train -> prune -> export -> quantise -> Lava (float and fixed point).

Task: scikit-learn's bundled handwritten digits (``sklearn.datasets.load_digits``, no
download): each 8x8 image (pixel values 0..16, scaled to [0, 1]) is a sequence of 8 rows
of 8 features. A fixed stratified 80/20 train/test split (``--seed``).

Model (:class:`DigitsClassifier`): one :class:`snntorch_egru.EGRU` layer and a linear
readout applied at every step. **Classification rule: the argmax of the readout's logits
averaged over the 8 steps of an image** (every step's graded events contribute; the
last step alone sees only the units that fire at that step). The network file holds the
whole classifier as a generic layer stack ``input -> egru -> dense`` (no ``class``
attribute, docs/format.md), so Lava runs the readout too; the bridge writes and reads it
(:func:`converters.snntorch_bridge.stack_to_spec` / ``stack_from_spec``).

Phases of :func:`run_pipeline` (:class:`DigitsPipeline` on the shared skeleton
:class:`egru.pipelines.run.Pipeline`): ``train`` (float) -> ``prune``: magnitude-prune
W_ih/W_hh gradually during fine-tuning (:func:`gradual_pruner`, cubic schedule, default
80%), export the float file -> ``quantize``: calibrate
(:func:`snntorch_egru.quantization.calibrate` for the EGRU, the same rule for the
readout), quantisation-aware fine-tuning, export the quantised (version 2) file ->
``lava_float`` / ``lava_fixed``: run the files in Lava in ``floating_pt`` and
``fixed_pt`` -> report.

Lava and sequence boundaries: Lava carries its state from one step to the next and
:func:`lava_egru.simulate` always starts from zero, at about a second per call. The
pipeline therefore runs a *batch* of N test images in one call as one network of N
independent replicas: the file's weights placed block-diagonally (input 8N, hidden HN,
output 10N; every matrix a Lava ``Sparse`` synapse, the network built in memory by
:func:`run_lava_spec`). Every image starts from the zero state exactly as in torch, and
the whole test set takes a few calls.

This module imports torch, scikit-learn and (for plots) matplotlib; Lava only inside
:func:`run_lava_spec` (and the skeleton's check that it is there).
"""

from __future__ import annotations

import math
import typing as ty
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from converters.snntorch_bridge import stack_from_spec, stack_to_spec
from egru_format import DenseLayer, EGRULayer, FormatError, InputLayer, NetworkSpec, read_network, write_network
from egru_format.arithmetic import check_polarity
from snntorch_egru import EGRU
from snntorch_egru import quantization as quant
from snntorch_egru.opcount import count_operations
from snntorch_egru.pruning import PRUNE_TARGETS, CubicSchedule, Pruner, prune_and_finetune

from ..lm.progress import progress_bar
from .run import Phase, Pipeline, check_config, save_figure

__all__ = ["PipelineConfig", "DigitsClassifier", "load_digits_split", "train_classifier", "train_digits",
           "accuracy", "classifier_accuracy", "gradual_pruner", "classifier_spec", "classifier_from_spec",
           "replicate_spec", "run_lava", "run_lava_spec", "LavaRun", "calibrate_classifier", "integer_logits",
           "DigitsPipeline",
           "run_pipeline", "format_report"]

SEQ_LEN, N_FEATURES, N_CLASSES = 8, 8, 10


@dataclass
class PipelineConfig:
    hidden: int = 64
    threshold: float = 0.1
    epochs: int = 40
    finetune_epochs: int = 20
    qat_epochs: int = 5
    sparsity: float = 0.8
    batch_size: int = 64
    lr: float = 1e-2
    seed: int = 0
    lava_images: int = 0          # 0: the whole test set
    lava_batch: int = 24          # images per Lava call (replicas per network)
    polarity: str = "positive"    # the EGRU neuron: "positive" (reference) or "signed" events

    def __post_init__(self):
        check_config(self, minimum={"hidden": 1, "epochs": 1, "finetune_epochs": 0, "qat_epochs": 0,
                                    "batch_size": 1, "seed": 0, "lava_images": 0, "lava_batch": 1},
                     positive=("threshold", "lr"), fractions=("sparsity",))
        check_polarity(self.polarity)

    @classmethod
    def quick(cls, **overrides) -> "PipelineConfig":
        values = dict(hidden=32, epochs=4, finetune_epochs=1, qat_epochs=1, lava_images=24, lava_batch=24)
        values.update(overrides)
        return cls(**values)


# --------------------------------------------------------------------------- data and model


def load_digits_split(seed: int = 0, test_fraction: float = 0.2):
    """``(x_train [N, 8, 8], y_train, x_test, y_test)`` float32 in [0, 1] / int64; stratified, fixed by ``seed``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return torch.from_numpy(x_tr), torch.from_numpy(y_tr), torch.from_numpy(x_te), torch.from_numpy(y_te)


class DigitsClassifier(nn.Module):
    """EGRU + linear readout at every step; ``forward(x [B, T, I]) -> logits [B, T, C]``.

    ``polarity``: the EGRU's event polarity (``"positive"`` or ``"signed"``), when ``rnn`` is not given."""

    def __init__(self, hidden: int = 64, threshold: float = 0.1, rnn: EGRU = None, polarity: str = "positive"):
        super().__init__()
        self.rnn = rnn if rnn is not None else EGRU(N_FEATURES, hidden, batch_first=True, threshold=threshold,
                                                    polarity=polarity)
        self.readout = nn.Linear(self.rnn.hidden_sizes[-1], N_CLASSES)

    def forward(self, x):
        y, _ = self.rnn(x)
        self.last_y = y
        return self.readout(y)

    @staticmethod
    def decide(logits: torch.Tensor) -> torch.Tensor:
        """The class: argmax of the logits averaged over the steps ([B, T, C] -> [B])."""
        return logits.mean(dim=-2).argmax(dim=-1)


def gradual_pruner(model: "DigitsClassifier", config: PipelineConfig, n_train: int) -> Pruner:
    """Zhu & Gupta's cubic schedule over the first half of the fine-tuning, then held.

    One-shot pruning of this small network to 80% drops it to chance (the surviving
    weights no longer drive any unit over its threshold) and ten epochs of fine-tuning
    recover about 0.85; pruning gradually over ten epochs, then ten more at the final
    sparsity, recovers about 0.93 (seed 0, 64 units; dense about 0.95).
    """
    steps = config.finetune_epochs * math.ceil(n_train / config.batch_size)
    ramp = max(1, steps // 2)
    updates = min(20, ramp)
    schedule = CubicSchedule(final_sparsity=config.sparsity, begin_step=0, frequency=max(1, ramp // updates),
                             n_updates=updates)
    return Pruner(model.rnn, targets=PRUNE_TARGETS, schedule=schedule)


def train_classifier(model: nn.Module, forward, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float,
                     batch_size: int, seed: int, *, pruner: Pruner = None, project=None, desc: str = "train") -> None:
    """Adam on the cross-entropy of ``forward(x_batch)`` averaged over the steps; leaves ``model`` in eval mode.

    ``forward``: ``model`` itself, or another forward pass of it (the QAT forward).
    Batches in a random order drawn from ``seed``. ``pruner``: attached to the optimizer
    for the run (masks held after every step). ``project``: called after every optimizer
    step (a pruning schedule's ``pruner.step``, the fixed-point projection).
    """
    gen = torch.Generator().manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    if pruner is not None:
        pruner.attach(opt)
    model.train()
    try:
        for _ in progress_bar(range(epochs), desc=f"[pipeline] {desc}", unit="epoch", leave=False):
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), batch_size):
                idx = order[start:start + batch_size]
                logits = forward(x[idx]).mean(dim=1)
                loss = nn.functional.cross_entropy(logits.float(), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                if project is not None:
                    project()
    finally:
        if pruner is not None:
            pruner.detach()
    model.eval()


def train_digits(config: PipelineConfig, x_train: torch.Tensor, y_train: torch.Tensor) -> DigitsClassifier:
    """A new :class:`DigitsClassifier` (seeded by ``config.seed``) trained dense for ``config.epochs``."""
    torch.manual_seed(config.seed)
    model = DigitsClassifier(config.hidden, config.threshold, polarity=config.polarity)
    train_classifier(model, model, x_train, y_train, config.epochs, config.lr, config.batch_size, config.seed)
    return model


def accuracy(pred, labels) -> float:
    """The fraction of predicted classes ``pred`` (tensor or array) equal to ``labels``."""
    return float((torch.as_tensor(pred) == labels).float().mean())


def classifier_accuracy(model: DigitsClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of the torch float ``model`` on images ``x`` [N, T, I] (the rule of :meth:`DigitsClassifier.decide`)."""
    with torch.no_grad():
        return accuracy(model.decide(model(x)), y)


# --------------------------------------------------------------------------- network file <-> classifier


def classifier_spec(model: DigitsClassifier, quantization=None) -> NetworkSpec:
    """The generic stack ``input -> egru -> dense`` of ``model``: :func:`converters.snntorch_bridge.stack_to_spec`.

    ``quantization``: None, or ``(q_rnn, q_readout)`` as :func:`calibrate_classifier` returns them.
    """
    if quantization is not None:
        q_rnn, q_readout = quantization
        quantization = quant.QuantizationSpec(q_rnn.frac_input, (*q_rnn.layers, q_readout))
    return stack_to_spec(model.rnn, model.readout, quantization,
                         description="digits classifier: EGRU + readout (generic stack)")


def classifier_from_spec(spec: NetworkSpec, source="<NetworkSpec>") -> DigitsClassifier:
    """A :class:`DigitsClassifier` (eval mode) with the exact weights of an ``input -> egru... -> dense`` file.

    :func:`converters.snntorch_bridge.stack_from_spec`; ``source``: the file the spec was
    read from, named by the :class:`~egru_format.FormatError` ("not a digits classifier: ...")
    raised when the spec is not such a stack.
    """
    try:
        rnn, readout = stack_from_spec(spec, source, batch_first=True)
    except FormatError as err:
        raise FormatError(err.source, err.field, f"not a digits classifier: {err.problem}") from err
    model = DigitsClassifier(rnn=rnn)
    model.readout = readout
    return model.eval()


def replicate_spec(spec: NetworkSpec, copies: int) -> NetworkSpec:
    """``copies`` independent replicas of an ``input -> egru -> dense`` network side by side (block-diagonal)."""
    inp, egru, dense = spec.layers
    n = copies
    eye = np.eye(n, dtype=np.float32)

    # np.kron turns the zeros beside a negative weight into -0.0, which the format stores as an
    # explicit entry (bit-exact round trips): "+ 0.0" makes them +0.0, so the copies stay sparse.
    def block_diagonal(matrix):
        return np.kron(eye, matrix) + np.float32(0.0)

    def gates(matrix):        # [3H, C] -> [3HN, CN], gate-major (r of every copy, then z, then n)
        return np.concatenate([block_diagonal(g) for g in np.split(matrix, 3, axis=0)], axis=0)

    def gate_vec(v):
        return None if v is None else np.concatenate([np.tile(g, n) for g in np.split(v, 3)]).astype(np.float32)

    layers = [
        InputLayer(inp.size * n, inp.encoding, inp.quantization),
        EGRULayer(gates(egru.weight_ih), gates(egru.weight_hh), gate_vec(egru.bias_ih), gate_vec(egru.bias_hh),
                  np.tile(egru.threshold, n), egru.reset_mechanism, egru.events, egru.min_threshold,
                  egru.surrogate, egru.quantization, egru.polarity),
        DenseLayer(block_diagonal(dense.weight).astype(np.float32),
                   None if dense.bias is None else np.tile(dense.bias, n), dense.quantization),
    ]
    return NetworkSpec(layers, {"description": f"{n} replicas of a digits classifier"})


class LavaRun(ty.NamedTuple):
    """What :func:`run_lava_spec` returns."""

    #: ``[N, T, out]``: the float outputs (``floating_pt``) or the output layer's integers (``fixed_pt``).
    outputs: np.ndarray
    #: Sum of every overflow counter over all calls (``fixed_pt``; 0 in floating point).
    overflow_total: int
    #: Number of Lava calls (``ceil(N / batch)``).
    calls: int


def run_lava_spec(spec: NetworkSpec, images: np.ndarray, precision: str, batch: int = 120) -> LavaRun:
    """Outputs of the ``input -> egru -> dense`` network ``spec`` on ``images`` [N, T, I], run in Lava.

    Each image starts from the zero state: ``batch`` images per Lava call, as replicas
    of the network (:func:`replicate_spec`), built in memory as one
    :class:`lava_egru.EGRUNetwork` whose weight matrices are all Lava ``Sparse``
    synapses (block-diagonal: mostly zeros). ``fixed_pt`` needs a quantised spec and
    returns the output integers. Returns a :class:`LavaRun`.
    """
    from lava_egru import EGRUNetwork, simulate

    n_img, steps, width = images.shape
    out, overflow, calls = [], 0, 0
    for start in progress_bar(range(0, n_img, batch), desc=f"[pipeline] Lava {precision}", unit="call", leave=False):
        chunk = images[start:start + batch]
        k = len(chunk)
        network = EGRUNetwork(replicate_spec(spec, k), precision=precision, sparse=True)
        x = np.transpose(chunk, (1, 0, 2)).reshape(steps, k * width)      # [T, k*I]
        result = simulate(network, x, precision=precision, return_details=True)
        values = result.output_int if precision == "fixed_pt" else result.output
        out.append(np.transpose(values.reshape(steps, k, -1), (1, 0, 2)))
        overflow += result.overflow_total
        calls += 1
    return LavaRun(np.concatenate(out, axis=0), overflow, calls)


def run_lava(path, images: np.ndarray, precision: str, batch: int = 120):
    """Logits ``[N, T, C]`` of the network file ``path`` on ``images`` [N, T, I], run in Lava.

    :func:`run_lava_spec` on the file's spec (the file is read once; no file is
    written). ``fixed_pt`` returns the output integers.
    """
    return run_lava_spec(read_network(path), images, precision, batch).outputs


# --------------------------------------------------------------------------- quantisation of the classifier


def calibrate_classifier(model: DigitsClassifier, x: torch.Tensor):
    """``(q_rnn, q_readout)``: the EGRU's formats from :func:`quant.calibrate`, the readout's by the same rule."""
    q_rnn = quant.calibrate(model.rnn, x)
    with torch.no_grad():
        logits = model(x)
    q_dense = quant.calibrate_dense(model.readout.weight, model.readout.bias, float(logits.abs().max()),
                                    q_rnn.layers[-1].frac_state, name="readout")
    return q_rnn, q_dense


def _qat_forward(qat, model, q_dense, x):
    y, _ = qat(x.double())
    return quant.fake_quantize_dense(y, model.readout.weight, model.readout.bias, q_dense)


def _project_readout(model, q_dense):
    quant.project_dense_(model.readout.weight, model.readout.bias, q_dense)


def integer_logits(model: DigitsClassifier, q_rnn, q_dense, x: torch.Tensor):
    """Exact integer inference (docs/fixed-point.md): ``(logits_int [B, T, C] int64, overflow counts)``."""
    layers = quant.integer_layers(model.rnn, q_rnn)
    layers.append(quant.integer_dense_layer("readout", model.readout.weight, model.readout.bias, q_dense,
                                            q_rnn.layers[-1].frac_state))
    net = quant.IntegerNetwork(layers, q_rnn.frac_input)
    overflow = quant.new_overflow_counters(["input"] + [layer.name for layer in layers])
    x_int = quant.IntegerEGRU(model.rnn, q_rnn).quantize_input(x.transpose(0, 1), overflow["input"])
    out, _, _ = net.run(x_int, None, overflow)
    return out.transpose(0, 1), overflow


# --------------------------------------------------------------------------- the pipeline


def _weight_sparsity(model) -> dict:
    out = {}
    for name in ("rnn.weight_ih_l0", "rnn.weight_hh_l0", "readout.weight"):
        w = dict(model.named_parameters())[name]
        out[name] = float((w == 0).float().mean())
    return out


def _plots(model, x_test, y_test, output_dir: Path) -> list:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    with torch.no_grad():
        model(x_test[:12])
    y = model.last_y                                  # [12, T, H]
    events = (y != 0).numpy()
    fig, ax = plt.subplots(figsize=(10, 4))
    stream = events.reshape(-1, events.shape[-1])      # 12 images one after the other
    t, unit = np.nonzero(stream)
    ax.scatter(t, unit, s=4, marker="|", color="k")
    for k in range(1, 12):
        ax.axvline(k * SEQ_LEN - 0.5, color="0.8", lw=0.5)
    ax.set_xlabel(f"step (12 test images of {SEQ_LEN} rows, labels {y_test[:12].tolist()})")
    ax.set_ylabel("EGRU unit")
    ax.set_title("Event raster of the EGRU layer (each image starts from the zero state)")
    paths.append(save_figure(fig, output_dir / "event_raster.png"))

    with torch.no_grad():
        logits = model(x_test)
    y = model.last_y
    per_step = (y != 0).float().mean(dim=(0, 2)).numpy()
    readout_density = float((logits != 0).float().mean())
    input_density = float((x_test != 0).float().mean())
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.5))
    a1.bar(["input", "egru (l0)", "readout"], [input_density, float((y != 0).float().mean()), readout_density],
           color=["0.6", "tab:blue", "0.6"])
    a1.set_ylabel("fraction of nonzero messages")
    a1.set_title("Activity per layer (test set)")
    a2.plot(np.arange(SEQ_LEN), per_step, marker="o")
    a2.set_xlabel("step (row of the image)")
    a2.set_ylabel("EGRU activity")
    a2.set_title("EGRU activity per step")
    paths.append(save_figure(fig, output_dir / "activity.png"))
    return paths


class DigitsPipeline(Pipeline):
    """The digits pipeline's phases on the shared skeleton; :func:`run_pipeline` runs it."""

    def __init__(self, config: PipelineConfig, output_dir, *, lava: bool = True, log=print):
        super().__init__(output_dir, lava=lava, log=log)
        self.config = config

    def prepare(self) -> None:
        self.x_tr, self.y_tr, self.x_te, self.y_te = load_digits_split(self.config.seed)
        self.log(f"[pipeline] digits: {len(self.x_tr)} train / {len(self.x_te)} test sequences of {SEQ_LEN} rows x "
                 f"{N_FEATURES}")

    def phases(self):
        return [Phase("train", self.train), Phase("prune", self.prune), Phase("quantize", self.quantize),
                Phase("lava_float", self.lava_float, lava=True), Phase("lava_fixed", self.lava_fixed, lava=True)]

    def train(self) -> None:
        self.model = train_digits(self.config, self.x_tr, self.y_tr)
        seconds = self.phase_seconds()
        self.acc_dense = classifier_accuracy(self.model, self.x_te, self.y_te)
        self.log(f"[pipeline] trained: test accuracy {self.acc_dense:.4f} ({seconds} s)")

    def prune(self) -> None:
        """Gradual pruning during fine-tuning; the float file and the float model's operation counts."""
        config, model = self.config, self.model
        self.pruner = gradual_pruner(model, config, len(self.x_tr))

        def finetune(rnn, sparsity):          # the pruner's module is model.rnn: train the whole classifier
            train_classifier(model, model, self.x_tr, self.y_tr, config.finetune_epochs, config.lr, config.batch_size,
                             config.seed + 1, pruner=self.pruner, project=self.pruner.step, desc="prune + fine-tune")

        # one round on the gradual schedule, ending at exactly the target sparsity
        prune_and_finetune(self.pruner, [self.pruner.schedule], finetune)
        with torch.no_grad():
            self.logits_float = model(self.x_te)
        self.acc_float = accuracy(model.decide(self.logits_float), self.y_te)
        self.log(f"[pipeline] pruned gradually to {config.sparsity:.0%} of W_ih/W_hh in {config.finetune_epochs} "
                 f"epochs: test accuracy {self.acc_float:.4f}")
        self.float_path = write_network(classifier_spec(model), self.output_dir / "digits_float.h5")
        self.float_state = {k: v.clone() for k, v in model.state_dict().items()}
        self.ops = count_operations(model.rnn, self.x_te)
        with torch.no_grad():
            model(self.x_te)
        active = model.last_y != 0                                       # [B, T, H]
        w_ro = model.readout.weight
        self.macs_readout = (float(w_ro.numel()), float((active.float() @ (w_ro != 0).float().sum(0)).mean()))

    def quantize(self) -> None:
        """Calibration and QAT (masks held), the integer model's accuracy, the fixed-point file."""
        config, model = self.config, self.model
        q_rnn, q_dense = calibrate_classifier(model, self.x_tr)
        qat = quant.quantization_aware(model.rnn, q_rnn)
        pruner_q = Pruner(model.rnn, targets=PRUNE_TARGETS)   # reuses the existing masks

        def project():
            qat.project_()
            _project_readout(model, q_dense)

        project()
        pruner_q.apply()
        train_classifier(model, lambda xb: _qat_forward(qat, model, q_dense, xb), self.x_tr, self.y_tr,
                         config.qat_epochs, config.lr / 5, config.batch_size, config.seed + 2, pruner=pruner_q,
                         project=project, desc="QAT")
        pruner_q.apply()
        project()
        self.logits_int, self.overflow = integer_logits(model, q_rnn, q_dense, self.x_te)
        self.acc_int = accuracy(model.decide(self.logits_int.double()), self.y_te)
        with torch.no_grad():
            qat_logits = _qat_forward(qat, model, q_dense, self.x_te)
        scale = torch.tensor(-float(q_dense.frac_state), dtype=torch.float64)
        self.qat_exact = bool(torch.equal(torch.ldexp(self.logits_int.double(), scale), qat_logits))
        self.log(f"[pipeline] calibrated + {config.qat_epochs} QAT epochs: integer test accuracy {self.acc_int:.4f} "
                 f"(QAT forward == integer mode: {self.qat_exact})")
        self.fixed_path = write_network(classifier_spec(model, (q_rnn, q_dense)), self.output_dir / "digits_fixed.h5")
        self.q_rnn, self.q_dense = q_rnn, q_dense

    def _lava_images(self):
        n = len(self.x_te) if self.config.lava_images <= 0 else min(self.config.lava_images, len(self.x_te))
        return self.x_te[:n].numpy().astype(np.float64), self.y_te[:n]

    def lava_float(self) -> None:
        self.lava_logits_float = run_lava(self.float_path, self._lava_images()[0], "floating_pt",
                                          self.config.lava_batch)

    def lava_fixed(self) -> None:
        self.lava_logits_fixed = run_lava(self.fixed_path, self._lava_images()[0], "fixed_pt", self.config.lava_batch)

    def results(self) -> dict:
        config, ops = self.config, self.ops
        macs_dense, macs_eff = ops.dense + self.macs_readout[0], ops.effective + self.macs_readout[1]
        report = {
            "task": "digits",
            "config": asdict(config),
            "decision": "argmax of the readout logits averaged over the 8 steps",
            "n_train": len(self.x_tr), "n_test": len(self.x_te),
            "files": {"float": str(self.float_path), "fixed": str(self.fixed_path)},
            "accuracy": {"torch_dense_float": self.acc_dense, "torch_float": self.acc_float,
                         "torch_integer": self.acc_int},
            "integer_overflow": sum(sum(v.values()) for v in self.overflow.values()),
            "qat_forward_equals_integer": self.qat_exact,
            "activity_sparsity": {"egru_l0": ops.activity_sparsity["layer0"], "readout": 0.0},
            "weight_sparsity": _weight_sparsity(self.model),
            "macs_per_step": {"dense_gru": macs_dense, "egru_effective": macs_eff,
                              "reduction": macs_dense / macs_eff if macs_eff else math.inf},
            "quantization": {"frac_input": self.q_rnn.frac_input, "egru": asdict(self.q_rnn.layers[0]),
                             "readout": asdict(self.q_dense)},
        }
        if self.lava:
            report.update(self._lava_results(report["accuracy"]))
        return report

    def _lava_results(self, acc: dict) -> dict:
        """The Lava accuracies (added to ``acc``) and the torch/Lava agreement on the Lava images."""
        images, labels = self._lava_images()
        n = len(images)
        lava_float, lava_fixed = self.lava_logits_float, self.lava_logits_fixed
        pred_lf = lava_float.mean(axis=1).argmax(axis=1)
        pred_lx = lava_fixed.mean(axis=1).argmax(axis=1)
        tf = self.logits_float[:n].numpy()
        ti = self.logits_int[:n].numpy()
        acc["lava_float"] = accuracy(pred_lf, labels)
        acc["lava_fixed"] = accuracy(pred_lx, labels)
        acc["torch_float_on_lava_subset"] = accuracy(tf.mean(axis=1).argmax(axis=1), labels)
        acc["torch_integer_on_lava_subset"] = accuracy(ti.mean(axis=1).argmax(axis=1), labels)
        return {
            "lava": {"images": n,
                     "how": f"{n} test images, {self.config.lava_batch} per Lava call as independent block-diagonal "
                            f"replicas (each image from the zero state)"},
            "agreement": {
                "float": {"identical_predictions": float((pred_lf == tf.mean(axis=1).argmax(axis=1)).mean()),
                          "max_abs_logit_diff": float(np.abs(lava_float - tf).max())},
                "fixed": {"identical_predictions": float((pred_lx == ti.mean(axis=1).argmax(axis=1)).mean()),
                          "max_abs_logit_diff_int": int(np.abs(lava_fixed - ti).max()),
                          "bit_exact": bool(np.array_equal(lava_fixed, ti))},
            },
        }

    def plots(self) -> list:
        self.model.load_state_dict(self.float_state)
        return _plots(self.model, self.x_te, self.y_te, self.output_dir)


def run_pipeline(config: PipelineConfig, output_dir, *, lava: bool = True, log=print) -> dict:
    """Run every phase; write the network files, ``report.json`` and the PNGs to ``output_dir``; return the report."""
    return DigitsPipeline(config, output_dir, lava=lava, log=log).run()


def format_report(report: dict) -> str:
    acc = report["accuracy"]

    def pct(key):
        return f"{acc[key]:.4f}" if key in acc else "n/a"

    lines = ["", "EGRU digits pipeline report", "=" * 60,
             f"decision rule        : {report['decision']}",
             f"EGRU neuron          : {report['config'].get('polarity', 'positive')} events, "
             f"{report['config']['hidden']} units",
             f"test set             : {report['n_test']} sequences (train {report['n_train']})"]
    if "lava" in report:
        lines.append(f"Lava evaluation      : {report['lava']['how']}")
    lines += ["", f"{'accuracy':<34}{'value':>10}", "-" * 44,
              f"{'torch float (dense, before pruning)':<34}{pct('torch_dense_float'):>10}",
              f"{'torch float (pruned)':<34}{pct('torch_float'):>10}",
              f"{'torch integer (pruned, QAT)':<34}{pct('torch_integer'):>10}"]
    if "lava" in report:
        lines += [f"{'torch float   (Lava subset)':<34}{pct('torch_float_on_lava_subset'):>10}",
                  f"{'Lava floating_pt':<34}{pct('lava_float'):>10}",
                  f"{'torch integer (Lava subset)':<34}{pct('torch_integer_on_lava_subset'):>10}",
                  f"{'Lava fixed_pt':<34}{pct('lava_fixed'):>10}"]
        ag = report["agreement"]
        lines += ["", "torch vs Lava agreement", "-" * 44,
                  f"float: identical predictions {ag['float']['identical_predictions']:.4f}, "
                  f"max |logit diff| {ag['float']['max_abs_logit_diff']:.3g}",
                  f"fixed: identical predictions {ag['fixed']['identical_predictions']:.4f}, "
                  f"max |logit diff| {ag['fixed']['max_abs_logit_diff_int']} LSB, "
                  f"bit exact: {ag['fixed']['bit_exact']}"]
    m = report["macs_per_step"]
    lines += ["", "sparsity and operations", "-" * 44,
              f"activity sparsity    : egru_l0 {report['activity_sparsity']['egru_l0']:.3f} "
              f"(readout: dense output, 0)",
              "weight sparsity      : " + ", ".join(f"{k} {v:.3f}" for k, v in report["weight_sparsity"].items()),
              f"MACs per step        : dense GRU {m['dense_gru']:.0f}, EGRU effective {m['egru_effective']:.1f} "
              f"({m['reduction']:.1f}x fewer)",
              f"integer overflows    : {report['integer_overflow']}; QAT forward == integer mode: "
              f"{report['qat_forward_equals_integer']}",
              f"files                : {report['files']['float']}, {report['files']['fixed']}",
              f"plots                : {', '.join(report['plots'])}",
              f"timings (s)          : {report['timings_s']}; wall time {report['wall_time_s']} s", ""]
    return "\n".join(lines)
