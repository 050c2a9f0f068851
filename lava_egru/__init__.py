"""The EGRU as a Lava process (not implemented yet).

This package will hold the Event-based GRU as a Lava (lava-nc 0.10.0)
process, with a floating-point and a fixed-point process model, loaded from
the versioned HDF5 format of ``converters``.

Nothing is implemented yet: the Lava process is not implemented yet (planned:
format, converters and Lava float model). This package defines nothing else.

Rule: modules here never import ``snntorch_egru``, ``torch`` or ``snntorch``
(checked by tests/test_architecture.py). Lava needs Python 3.10 and numpy<2.
"""
