"""The EGRU application: the ``egru`` command line and the end-to-end pipelines.

It sits on top of the libraries and is imported by none of them:
:mod:`egru_format` (the network format, the hub), :mod:`snntorch_egru` and
:mod:`lava_egru` (the two sides), :mod:`converters` (the only bridge between them).

- :mod:`egru.cli`: the ``egru`` command (``python -m egru``): train, prune, export,
  lava, evaluate, benchmark, pipeline.
- :mod:`egru.train_lm`: the language-model trainer's command line
  (``python -m egru.train_lm``, also under ``torchrun``), over
  :mod:`egru.lm` (the trainer, corpora, checkpoints).
- :mod:`egru.pipelines`: the digits and language-model pipelines on one run skeleton.
- :mod:`egru.delayed_xor`: the delayed-XOR task (``python -m egru.delayed_xor``).

Importing this package imports nothing else; each module imports what it needs.
"""
