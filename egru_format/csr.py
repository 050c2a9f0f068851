"""CSR (compressed sparse row) helpers of the format, numpy only.

A weight matrix stored as CSR keeps every entry other than +0.0 (so -0.0 survives),
with column indices sorted in each row: reading it back gives the identical matrix.

    >>> import numpy as np
    >>> from egru_format.csr import csr_from_dense, dense_from_csr, zero_fraction
    >>> m = np.array([[0, 2, 0], [-0.0, 0, 3]], np.float32)
    >>> data, indices, indptr = csr_from_dense(m)
    >>> data.tolist(), indices.tolist(), indptr.tolist()
    ([2.0, -0.0, 3.0], [1, 0, 2], [0, 1, 3])
    >>> dense_from_csr(data, indices, indptr, m.shape).tobytes() == m.tobytes(), zero_fraction(m)
    (True, 0.5)
"""

from __future__ import annotations

import numpy as np

__all__ = ["zero_fraction", "csr_from_dense", "dense_from_csr"]


def _nonzero_mask(matrix: np.ndarray) -> np.ndarray:
    # -0.0 is kept as an explicit entry: reading back must give the identical bits.
    return (matrix != 0) | np.signbit(matrix)


def zero_fraction(matrix) -> float:
    """Fraction of entries that are exactly +0.0 (what ``sparse="auto"`` looks at)."""
    matrix = np.asarray(matrix)
    if matrix.size == 0:
        return 0.0
    return float(1.0 - np.count_nonzero(_nonzero_mask(matrix)) / matrix.size)


def csr_from_dense(matrix) -> tuple:
    """``(data, indices, indptr)`` of a 2-D matrix in CSR form, column indices sorted per row.

    Every entry other than +0.0 is stored (including -0.0), so :func:`dense_from_csr`
    gives back the identical matrix. Indices are int32 when they fit, else int64.
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2:
        raise ValueError(f"CSR needs a 2-D matrix, got shape {matrix.shape}")
    rows, cols = np.nonzero(_nonzero_mask(matrix))
    data = matrix[rows, cols]
    index_dtype = np.int32 if max(matrix.shape[1], rows.size) < 2**31 - 1 else np.int64
    indptr = np.zeros(matrix.shape[0] + 1, dtype=index_dtype)
    np.cumsum(np.bincount(rows, minlength=matrix.shape[0]), out=indptr[1:])
    return data, cols.astype(index_dtype), indptr


def dense_from_csr(data, indices, indptr, shape) -> np.ndarray:
    """The dense matrix of a CSR triple (no validation: :func:`egru_format.read_network` does that)."""
    data = np.asarray(data)
    out = np.zeros(tuple(int(s) for s in shape), dtype=data.dtype)
    row_ids = np.repeat(np.arange(out.shape[0]), np.diff(np.asarray(indptr)))
    out[row_ids, np.asarray(indices)] = data
    return out

