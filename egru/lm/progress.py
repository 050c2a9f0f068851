"""Progress bars that leave Python's multiprocessing start method alone.

tqdm creates a ``multiprocessing.RLock`` for its first bar, and creating it fixes the
process's multiprocessing context. Lava (lava-nc 0.10.0) calls
``multiprocessing.set_start_method("fork")`` when it is first imported, which raises
``RuntimeError: context has already been set`` if anything fixed the context before.
A script that trains with a progress bar and then imports Lava (``egru pipeline``, a
notebook) would fail. :func:`progress_bar` gives tqdm a thread lock instead, unless the
program has already chosen a tqdm lock.

Example::

    >>> from egru.lm.progress import progress_bar
    >>> sum(progress_bar(range(3), desc="demo", disable=True))
    3
"""

from __future__ import annotations

import threading

__all__ = ["progress_bar"]


def progress_bar(iterable=None, **kwargs):
    """``tqdm(iterable, **kwargs)`` with a ``threading.RLock`` as tqdm's lock (see the module docstring)."""
    from tqdm import tqdm

    if not hasattr(tqdm, "_lock"):     # tqdm.get_lock() would create the multiprocessing lock
        tqdm.set_lock(threading.RLock())
    return tqdm(iterable, **kwargs)
