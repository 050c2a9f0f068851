r"""The delayed-XOR task: an EGRU learns it while staying activity sparse.

Task: two bits arrive as +-1 pulses on an input channel at random times in the first
half of a noisy sequence; a cue channel switches on for the last ``cue_steps`` steps,
and the network must answer XOR of the two bits. The readout is a linear layer on the
sum of the last layer's graded events during the cue, so the answer has to travel as
events (silent units carry nothing). Loss: cross-entropy plus the activity regulariser
:math:`\sum_l (\bar e_l - a^\ast)^2`.

Public helpers: :class:`DelayedXorConfig` (the task and training settings),
:func:`delayed_xor_batch` (a seeded batch), :class:`DelayedXorNet` (EGRU + readout on
the cue steps), :func:`train_delayed_xor` (train and evaluate, fully seeded).

Run::

    python -m egru.delayed_xor            # full setting, prints a report
    python -m egru.delayed_xor --steps 300 --seed 1
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch
from torch import nn

from snntorch_egru import EGRU, activity_regularizer

__all__ = ["DelayedXorConfig", "delayed_xor_batch", "DelayedXorNet", "train_delayed_xor", "main"]


@dataclass
class DelayedXorConfig:
    """Sequence length, cue length, model size and training budget of the task (defaults: the full setting)."""

    seq_len: int = 16
    cue_steps: int = 4
    hidden_size: int = 64
    num_layers: int = 1
    batch_size: int = 64
    steps: int = 600
    lr: float = 5e-3
    target_activity: float = 0.1
    activity_weight: float = 1.0
    noise: float = 0.1
    threshold: float = 0.1
    seed: int = 0


def delayed_xor_batch(config: DelayedXorConfig, batch_size: int, generator: torch.Generator):
    """Inputs [T, B, 2] (signal, cue) and XOR labels [B]."""
    steps = config.seq_len
    half = (steps - config.cue_steps) // 2
    bits = torch.randint(0, 2, (2, batch_size), generator=generator)
    first = torch.randint(0, half, (batch_size,), generator=generator)
    second = torch.randint(half, steps - config.cue_steps, (batch_size,), generator=generator)
    x = config.noise * torch.randn(steps, batch_size, 2, generator=generator)
    columns = torch.arange(batch_size)
    x[first, columns, 0] += 2.0 * bits[0] - 1.0
    x[second, columns, 0] += 2.0 * bits[1] - 1.0
    x[-config.cue_steps:, :, 1] += 1.0
    return x, bits[0] ^ bits[1]


class DelayedXorNet(nn.Module):
    """EGRU layers and a linear readout of the last layer's events summed over the cue steps."""

    def __init__(self, config: DelayedXorConfig):
        super().__init__()
        self.cue_steps = config.cue_steps
        self.rnn = EGRU(2, config.hidden_size, config.num_layers, threshold=config.threshold)
        self.readout = nn.Linear(config.hidden_size, 2)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.readout(y[-self.cue_steps:].sum(0))


def train_delayed_xor(config: DelayedXorConfig, log=None) -> dict:
    """Train and evaluate; returns accuracy, activity and timing. Fully seeded."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    model = DelayedXorNet(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    start = time.perf_counter()
    for step in range(1, config.steps + 1):
        x, labels = delayed_xor_batch(config, config.batch_size, generator)
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, labels)
        loss = loss + config.activity_weight * activity_regularizer(model.rnn.last_events, config.target_activity)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if log and (step % 100 == 0 or step == config.steps):
            log(f"step {step:5d}  loss {loss.item():.4f}  activity {model.rnn.activity().pooled:.3f}")
    train_seconds = time.perf_counter() - start
    model.eval()
    test_generator = torch.Generator().manual_seed(10_000 + config.seed)
    with torch.no_grad():
        x, labels = delayed_xor_batch(config, 2000, test_generator)
        accuracy = (model(x).argmax(-1) == labels).float().mean().item()
        stats = model.rnn.activity()
    return {
        "accuracy": accuracy,
        "activity_per_layer": stats.per_layer,
        "activity": stats.pooled,
        "activity_sparsity": stats.sparsity,
        "train_seconds": train_seconds,
        "model": model,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = DelayedXorConfig()
    for field in ("seq_len", "hidden_size", "num_layers", "steps", "batch_size", "seed"):
        parser.add_argument(f"--{field.replace('_', '-')}", type=int, default=getattr(defaults, field))
    for field in ("lr", "target_activity", "threshold"):
        parser.add_argument(f"--{field.replace('_', '-')}", type=float, default=getattr(defaults, field))
    args = parser.parse_args(argv)
    config = DelayedXorConfig(**{k: v for k, v in vars(args).items()})
    print(f"Training an EGRU on delayed XOR: {config}")
    result = train_delayed_xor(config, log=print)
    print()
    print("| metric | value |")
    print("|---|---|")
    print(f"| test accuracy (2000 sequences) | {100 * result['accuracy']:.1f}% |")
    print(f"| activity (fraction of nonzero y) | {result['activity']:.3f} |")
    print(f"| activity sparsity | {100 * result['activity_sparsity']:.1f}% |")
    print(f"| training time | {result['train_seconds']:.1f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
