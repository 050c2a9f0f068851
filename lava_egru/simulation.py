r"""Run an EGRU network on Lava's CPU backend and get its outputs aligned with its inputs.

:func:`simulate` feeds a whole input sequence through a network and returns one
output row per input row. Timing: element :math:`t` (0-based) enters the network's
``inp`` at time step :math:`t + 1` and, as every Dense/Sparse synapse delays by
one step, its output leaves ``out`` at step :math:`t + 1 + D` with
:math:`D` = ``network.latency`` (the number of synapses on the path, one per layer
after the input). ``simulate`` runs :math:`T + D` steps (the last :math:`D` feed
"no input": zeros, or no token), drops the first :math:`D` outputs and returns
rows :math:`0 .. T-1`: ``output[t]`` depends on ``x[0..t]`` only, exactly as in
the step-by-step equations.

``simulate`` runs ``network`` itself, on a runtime of its own: it connects a source
to ``inp`` and an Extractor to ``out``, compiles the network, runs it, stops the
runtime, and returns the network to the uncompiled state it was given in
(:func:`lava_egru.lifecycle.recompilable`; Lava compiles a Process once and cannot
restart a stopped runtime). Every call thus starts from the zero state and from the
blocks' Var values (their ``init``); afterwards the network can be simulated again,
exported, or wired into a Lava graph of your own. It needs a network that is not
compiled and connected to no other Lava process (``ValueError`` otherwise: a network
that was ``run()``, or whose ports or blocks' ports are connected elsewhere). No file
is written or read. Lava keeps every Process it ever created alive (its
``ProcessServer`` registry), so each call retains the memory of the sub-Processes it
compiled.

A network holds the parameters of one precision (:attr:`EGRUNetwork.precision`), and
runs in it. Asked for the other one, ``simulate`` runs the network of that precision
built in memory from the network's current parameters:
``EGRUNetwork(network_spec(network), precision=precision)`` with the same synapses
(:func:`lava_egru.network_spec`: the parameters :func:`lava_egru.export` writes;
a quantised network's own float parameters, or its changed integers dequantised).

Precision. ``precision="floating_pt"`` (default) runs the float models.
``precision="fixed_pt"`` runs the Loihi-style integer arithmetic of
docs/fixed-point.md with ``Loihi2SimCfg(select_tag="fixed_pt")``: Lava's own
bit-accurate ``Dense``/``Sparse`` models (integer weights ``2k``, ``weight_exp``,
8 weight bits, 24-bit graded messages) and this package's ``fixed_pt`` neuron
models (the source and the Extractor, whose Lava models are float-only, are mapped
explicitly). It needs a quantised (version 2) network file: a float one raises
:class:`~egru_format.FormatError` naming ``layer/0/quantization``. The
returned floats are the output layer's integers divided by ``2**frac_state`` of
that layer (float64; exact). Whenever an overflow counter fires, ``simulate`` emits a
:class:`SaturationWarning` naming the counts (in the default API too).
``return_details=True`` returns a
:class:`SimulationResult` with the raw integers too and the overflow counters
(docs/fixed-point.md, section 8) per layer: ``{"layer/0": {"input": n}}`` for a
vector input, ``{"output": n}`` for a dense layer, ``{"preact": n, "candidate": n,
"state": n}`` for an EGRU layer. The ``dense`` counter of the reference (a Dense
output wrapped at int32) has no counterpart: Lava's Dense wraps silently in its
int32 ``a_out`` port, where nothing can observe it.

The runtime is stopped on every exit path (return, exception, Ctrl-C, SIGTERM), so
no Lava OS process outlives the call (:mod:`lava_egru.lifecycle`): Ctrl-C to the whole
process group raises ``KeyboardInterrupt`` here and the workers ignore it; SIGTERM
stops the runtime and then ends the process as SIGTERM does; the workers die with a
SIGKILLed parent; a worker that raises, exits or is killed gives a ``RuntimeError``
naming it (``a Lava ProcessModel failed during the run: ...``) within seconds.

Example::

    >>> import os, tempfile
    >>> import numpy as np
    >>> from egru_format import EGRULayer, InputLayer, NetworkSpec, write_network
    >>> from lava_egru import EGRUNetwork, simulate
    >>> rng = np.random.default_rng(0)
    >>> f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    >>> spec = NetworkSpec([InputLayer(3), EGRULayer(f32(12, 3), f32(12, 4), None, None,
    ...                                              np.full(4, 0.1, np.float32))], {"class": "EGRU"})
    >>> net = EGRUNetwork(write_network(spec, os.path.join(tempfile.mkdtemp(), "net.h5")))
    >>> x = rng.standard_normal((10, 3))
    >>> y = simulate(net, x)
    >>> y.shape, bool((y[0] != 0).any())                  # row 0 already answers x[0]
    ((10, 4), True)
    >>> bool(np.array_equal(simulate(net, x[:4]), y[:4])) # causal: the prefix gives the prefix
    True
    >>> simulate(net, x, precision="fixed_pt")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    egru_format.FormatError: ...layer/0/quantization: missing: the network is not quantised (a float network)
"""

from __future__ import annotations

import typing as ty
import warnings

import numpy as np
from egru_format import EGRU_OVERFLOW_KEYS, integer_network
from egru_format.signals import Interrupted, SignalGuard
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.io.extractor import Extractor, PyLoihiExtractorModel
from lava.proc.io.source import PySendModelFloat, RingBuffer

from lava_egru.exchange import network_spec
from lava_egru.lifecycle import FAILURE_PREFIX, WorkerFailed, recompilable, run_steps, teardown
from lava_egru.proc.network.process import PRECISIONS, EGRUNetwork

__all__ = ["simulate", "SimulationResult", "SaturationWarning"]

#: Upper bound on the output buffered between Lava and Python (outputs are read in chunks of steps).
OUTPUT_BUFFER_BYTES = 64 * 2**20
#: Input sent on the flush steps of a token network: a negative id sends no spike.
NO_TOKEN = -1


class SaturationWarning(RuntimeWarning):
    """A ``fixed_pt`` simulation saturated (an overflow counter fired): its outputs are clipped.

    Emitted by :func:`simulate` (once per call, with the counts per layer) in the default
    API as well as with ``return_details=True``. Silence it with
    ``warnings.simplefilter("ignore", SaturationWarning)``; make it an error with ``"error"``.
    """


def saturation_message(overflow: dict) -> ty.Optional[str]:
    """The text of a :class:`SaturationWarning` for these counters, or None when none fired."""
    fired = {layer: {name: n for name, n in counts.items() if n} for layer, counts in overflow.items()}
    fired = {layer: counts for layer, counts in fired.items() if counts}
    if not fired:
        return None
    total = sum(sum(counts.values()) for counts in fired.values())
    detail = "; ".join(f"{layer}: " + ", ".join(f"{name} {n}" for name, n in counts.items())
                       for layer, counts in fired.items())
    return (f"fixed_pt simulation saturated {total} time(s) ({detail}); the affected values were clipped "
            f"(docs/fixed-point.md, section 8)")


class SimulationResult(ty.NamedTuple):
    """What ``simulate(..., return_details=True)`` returns.

    Attributes:
        output: ``[T, out]`` float64, as ``simulate`` returns it.
        output_int: ``[T, out]`` int64, the output layer's integers (``fixed_pt``), else None.
        frac: fractional bits of ``output_int`` (``output = output_int / 2**frac``), else None.
        overflow: ``{"layer/k": {counter: count}}`` over the whole run (``fixed_pt``; the
            float models count nothing: all zero).
    """

    output: np.ndarray
    output_int: ty.Optional[np.ndarray]
    frac: ty.Optional[int]
    overflow: dict

    @property
    def overflow_total(self) -> int:
        return sum(sum(counts.values()) for counts in self.overflow.values())


def simulate(network: EGRUNetwork, x, precision: str = "floating_pt", *, return_details: bool = False):
    """Run ``network`` on the input sequence ``x``; return its outputs ``[T, out]`` (float64).

    Args:
        network: an :class:`~lava_egru.EGRUNetwork`, uncompiled, connected to nothing else;
            it is run itself (in the other precision: the network of that precision
            built from its parameters; module docstring).
        x: ``[T, I]`` real numbers for a ``vector``-input network; ``[T]`` integer
            token ids in ``[0, vocab)`` for a ``tokens``-input network.
        precision: ``"floating_pt"`` (Lava's CPU float models) or ``"fixed_pt"`` (the
            integer arithmetic of docs/fixed-point.md; needs a quantised network file).
            Out-of-range vector inputs saturate to 24 bits and are counted
            (``overflow["layer/0"]["input"]``).
        return_details: return a :class:`SimulationResult` (raw integers, overflow
            counters) instead of the float outputs.

    Returns:
        ``output[t]``: the last layer's output (logits or graded events) for input
        ``x[t]``, the synapse latency removed (module docstring); in ``fixed_pt`` the
        output layer's integers divided by ``2**frac_state`` of that layer.

    Raises:
        TypeError: ``network`` is not an EGRUNetwork; ``x`` has a non-numeric dtype,
            or float token ids.
        ValueError: wrong shape, NaN/Inf, token ids out of range, unknown precision; a
            network compiled for a run of its own or connected to other processes.
        egru_format.FormatError: ``fixed_pt`` on a network without quantization
            (it names the missing field, ``layer/0/quantization``).
        RuntimeError: a Lava worker raised, exited or was killed during the run
            (named, with its traceback or exit status).
        KeyboardInterrupt: Ctrl-C (SIGINT) during the run, after the runtime stopped.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if not isinstance(network, EGRUNetwork):
        raise TypeError(f"expected a lava_egru EGRUNetwork, got {type(network).__name__}")
    inputs = validate_inputs(network, x)
    check_runnable(network)
    network = in_precision(network, precision)
    frac = network.output_frac
    if inputs.shape[0] == 0:
        empty = np.zeros((0, network.out.shape[0]))
        if not return_details:
            return empty
        return SimulationResult(empty, None if frac is None else empty.astype(np.int64), frac, {})
    outputs, overflow = run_network(network, inputs, select_tag=precision)
    message = saturation_message(overflow) if frac is not None else None
    if message is not None:
        warnings.warn(SaturationWarning(message), stacklevel=2)
    if frac is None:
        return SimulationResult(outputs, None, None, overflow) if return_details else outputs
    output_int = np.rint(outputs).astype(np.int64)
    output = np.ldexp(output_int.astype(np.float64), -frac)
    return SimulationResult(output, output_int, frac, overflow) if return_details else output


def in_precision(network: EGRUNetwork, precision: str) -> EGRUNetwork:
    """``network`` if it holds ``precision``'s parameters, else the network of that precision built
    in memory from its current parameters (module docstring), with the same synapses."""
    if precision == network.precision:
        return network
    spec = network_spec(network)
    if precision == "fixed_pt" and not spec.quantized:
        integer_network(spec, source=network.source)  # raises the FormatError naming layer/0/quantization
    return EGRUNetwork(spec, precision=precision)


def check_runnable(network: EGRUNetwork) -> None:
    """``ValueError`` unless ``network`` is uncompiled and connected to no other process, at ``inp``,
    ``out`` or a block's port (what :func:`run_network` needs to connect its source and sink and
    compile it, with nothing else)."""
    if network.is_compiled or network.runtime is not None:
        raise ValueError(
            f"{network.source}: this EGRUNetwork was compiled for a Lava run of its own (run() on it or on a "
            f"process connected to it), and Lava compiles a Process once: build a new EGRUNetwork to simulate"
        )
    own = {network, *network.layers}
    ports = [("inp", network.inp), ("out", network.out)]
    ports += [(f"layers[{k}].{name}", getattr(block, name)) for k, block in enumerate(network.layers)
              for name in ("inp", "out")]
    connected = [name for name, port in ports
                 if any(peer.process not in own for peer in port.in_connections + port.out_connections)]
    if connected:
        raise ValueError(
            f"{network.source}: simulate connects its own source and sink to the network, but its "
            f"{', '.join(connected)} {'is' if len(connected) == 1 else 'are'} connected to other Lava processes "
            f"already: build a new EGRUNetwork to simulate"
        )


def validate_inputs(network: EGRUNetwork, x) -> np.ndarray:
    """``x`` checked against the network's input layer, as float64 rows ``[T, width of inp]``."""
    encoding, size = network.input_encoding, network.in_layer.shape[0]
    array = np.asarray(x)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"x must hold real numbers (int or float), got dtype {array.dtype}")
    if encoding == "tokens":
        if array.dtype.kind == "f":
            raise TypeError(f"x must hold integer token ids for this token-input network, got dtype {array.dtype}")
        if array.ndim != 1:
            raise ValueError(f"x must be [T] token ids for this token-input network, got shape {array.shape}")
        bad = np.flatnonzero((array < 0) | (array >= size))
        if bad.size:
            raise ValueError(
                f"token id {array[bad[0]]} at position {bad[0]} is out of range [0, {size}) "
                f"({bad.size} id(s) out of range)"
            )
        return array.astype(np.float64).reshape(-1, 1)
    if array.ndim != 2 or array.shape[1] != size:
        raise ValueError(f"x must be [T, {size}] for this vector-input network, got shape {array.shape}")
    bad = np.argwhere(~np.isfinite(array))
    if bad.size:
        raise ValueError(f"x contains NaN or Inf (first at [t, i] = {bad[0].tolist()}; {len(bad)} in all)")
    return array.astype(np.float64)


def read_overflow(network: EGRUNetwork) -> dict:
    """``{"layer/k": {counter: count}}`` from the blocks' ``overflow`` Vars (runtime started)."""
    counters = {}
    for k, block in enumerate(network.layers):
        if not hasattr(block, "overflow"):
            counters[f"layer/{k}"] = {}
            continue
        values = np.rint(np.asarray(block.overflow.get(), dtype=np.float64)).astype(np.int64).tolist()
        names = {"input": ("input",), "dense": ("output",), "egru": EGRU_OVERFLOW_KEYS}[block.layer_type]
        counters[f"layer/{k}"] = dict(zip(names, values))
    return counters


def run_network(network: EGRUNetwork, inputs: np.ndarray, select_tag: str):
    """Run ``network`` itself on rows ``inputs`` (``select_tag``: its precision); the latency removed.

    A source sends ``inputs`` and then ``latency`` flush rows; an Extractor streams
    the outputs back, read after each chunk of steps. The runtime stops on every
    exit path, and the network is then returned to its uncompiled state
    (:func:`~lava_egru.lifecycle.recompilable`). Returns ``(outputs [T, out] float64,
    overflow counters)``.
    """
    if select_tag != network.precision:
        raise ValueError(f"{network.source}: the network holds {network.precision} parameters; "
                         f"it cannot run with select_tag={select_tag!r}")
    check_runnable(network)
    steps, flush = inputs.shape[0] + network.latency, NO_TOKEN if network.input_encoding == "tokens" else 0.0
    data = np.full((steps, inputs.shape[1]), flush)
    data[: inputs.shape[0]] = inputs
    out_size = network.out.shape[0]
    chunk = int(min(steps, max(1, OUTPUT_BUFFER_BYTES // (8 * out_size))))
    # The source sends floats in both precisions (the fixed-point input neurons quantise them);
    # Lava's Extractor model is untagged: both mapped explicitly.
    run_cfg = Loihi2SimCfg(select_tag=select_tag, exception_proc_model_map={
        Extractor: PyLoihiExtractorModel, RingBuffer: PySendModelFloat})
    outputs = np.empty((steps, out_size))
    guard, failure, failures = SignalGuard(), None, ""
    with recompilable([network, *network.layers]):
        source = RingBuffer(data=data.T)
        extractor = Extractor(shape=(out_size,), buffer_size=chunk)
        source.s_out.connect(network.inp)
        network.out.connect(extractor.in_port)
        try:
            with guard:  # SIGINT/SIGTERM raise once in the run; then they are recorded, the runtime stopped first
                try:
                    for start in range(0, steps, chunk):
                        stop = min(start + chunk, steps)
                        run_steps(network, stop - start, run_cfg, guard)
                        for step in range(start, stop):
                            outputs[step] = extractor.receive()
                    overflow = read_overflow(network)
                except WorkerFailed as exc:
                    failure = str(exc)
                except Interrupted as exc:
                    if exc.guard is not guard:
                        raise
                finally:
                    try:
                        guard.active = False
                    finally:
                        failures = teardown(network, graceful=failure is None)
                        # Lava never joins the Python end of an Extractor's pipe: its listener thread would stay.
                        pipe = getattr(extractor.out_port, "external_pipe_csp_recv_port", None)
                        if pipe is not None:
                            pipe.join()
        finally:
            guard.redeliver()  # KeyboardInterrupt, or SIGTERM's default action; an exception in flight is its context
    if failure is not None:
        raise RuntimeError(failure)
    if failures:
        raise RuntimeError(f"{FAILURE_PREFIX}\n{failures}")
    return outputs[network.latency:], overflow
