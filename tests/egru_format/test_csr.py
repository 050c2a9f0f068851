"""The CSR helpers of the format (egru_format.csr)."""

from __future__ import annotations

import numpy as np

import egru_format as fmt
from tests.egru_format._helpers import f32


def test_csr_helpers():
    rng = np.random.default_rng(0)
    m = f32(rng, 7, 5, sparsity=0.7)
    data, indices, indptr = fmt.csr_from_dense(m)
    assert indptr[0] == 0 and indptr[-1] == len(data) == np.count_nonzero(m)
    assert fmt.dense_from_csr(data, indices, indptr, m.shape).tobytes() == m.tobytes()
