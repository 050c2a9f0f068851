"""The end-to-end pipelines of the ``egru pipeline`` command, on one run skeleton.

- :mod:`egru.pipelines.run`: the skeleton (:class:`~egru.pipelines.run.Pipeline`,
  :class:`~egru.pipelines.run.Phase`): phase timings, plots written once, ``report.json``
  written atomically.
- :mod:`egru.pipelines.digits`: scikit-learn's handwritten digits (bundled, minutes on a CPU).
- :mod:`egru.pipelines.lm`: a word-level language model on a PTB / WikiText-2 directory.

Both go train -> prune -> export -> quantise -> Lava (floating and fixed point) -> report.
The submodules import torch when imported; this package imports nothing.
"""
