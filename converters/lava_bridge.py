"""The Lava side of the converters: format file <-> :class:`lava_egru.EGRUNetwork`.

- :func:`load_lava` (path, precision=None, sparse="keep"): the Lava network the
  file describes, :class:`lava_egru.EGRUNetwork` ``(path, precision=..., sparse=...)``;
  the file is read once, validated by :func:`egru_format.read_network`
  (``FormatError`` naming the file and the field on a bad file).
- :func:`export_lava` (network, path): write a Lava network's current parameters to
  the format (see :func:`lava_egru.export`).

Importing this module imports nothing; its functions import :mod:`lava_egru`, and
with it Lava (Python 3.10, numpy < 2; neither torch nor lava-dl). The package
:mod:`converters` imports it lazily.

Example::

    >>> import os, tempfile
    >>> import numpy as np
    >>> from egru_format import EGRULayer, InputLayer, NetworkSpec, write_network
    >>> from converters.lava_bridge import export_lava, load_lava
    >>> rng = np.random.default_rng(0)
    >>> f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    >>> spec = NetworkSpec([InputLayer(3), EGRULayer(f32(12, 3), f32(12, 4), None, None,
    ...                                              np.full(4, 0.1, np.float32))], {"class": "EGRU"})
    >>> folder = tempfile.mkdtemp()
    >>> network = load_lava(write_network(spec, os.path.join(folder, "egru.h5")))
    >>> type(network).__name__, [block.layer_type for block in network.layers]
    ('EGRUNetwork', ['input', 'egru'])
    >>> _ = export_lava(network, os.path.join(folder, "again.h5"))
"""

from __future__ import annotations

import os
import typing as ty
from pathlib import Path

__all__ = ["load_lava", "export_lava"]


def load_lava(path: ty.Union[str, os.PathLike], precision: ty.Optional[str] = None, *, sparse="keep"):
    """The :class:`lava_egru.EGRUNetwork` stored in ``path``: ``EGRUNetwork(path, precision=precision, sparse=sparse)``.

    ``precision``: ``"floating_pt"``, ``"fixed_pt"`` or None (the file decides: fixed
    point for a quantised file); ``sparse``: ``"keep"`` (the matrices the file stores
    as CSR become Lava ``Sparse`` synapses), ``"auto"``, True or False (see
    :mod:`lava_egru.proc.network`). The network reads the file once, through
    :func:`egru_format.read_network`: ``FileNotFoundError`` for a missing file,
    :class:`~egru_format.FormatError` naming the file and the field for an invalid one.
    """
    from lava_egru import EGRUNetwork

    return EGRUNetwork(path, precision=precision, sparse=sparse)


def export_lava(network, path: ty.Union[str, os.PathLike], *, sparse="keep") -> Path:
    """Write ``network``'s current weights and thresholds to ``path``; return the path.

    ``sparse="keep"`` stores exactly the Lava ``Sparse`` synapses as CSR; ``"auto"``,
    ``True``, ``False`` as in :func:`egru_format.write_network`.
    """
    from lava_egru import export

    return export(network, path, sparse=sparse)
