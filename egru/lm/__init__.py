"""Word-level language-model training, the application's (moved here from ``snntorch_egru``).

- :mod:`egru.lm.trainer`: :class:`~egru.lm.trainer.LMConfig` and
  :func:`~egru.lm.trainer.train_language_model` (truncated BPTT, regularisers, pruning,
  checkpoints and resume, DDP), :func:`~egru.lm.trainer.evaluate` (batch size 1);
- :mod:`egru.lm.data`: the Penn Treebank / WikiText-2 corpora;
- :mod:`egru.lm.checkpoint`: atomic checkpoints and random-number-generator states;
- :mod:`egru.lm.progress`: progress bars that leave multiprocessing's start method alone.

The command line over them is :mod:`egru.train_lm`. What they train, the layers and the
language-model module, the pruner, the regularised forward pass, stays in the layer
library :mod:`snntorch_egru`. Importing this package imports nothing else.
"""
