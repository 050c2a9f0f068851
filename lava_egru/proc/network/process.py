r"""A whole EGRU network from an ``egru-network`` file: lava-dl netx's ``Network``, extended.

:class:`EGRUNetwork` subclasses ``lava.lib.dl.netx.hdf5.Network``: netx's
constructor opens the file, calls ``_create`` to build one block per layer, and
wires the network's ``inp`` to the first block and the last block to ``out``;
``len()``, ``str()`` (the layer table), ``layers``, ``in_layer``, ``out_layer`` and
``output_message_bits`` come from netx as well. ``_create`` is overridden, because
none of netx's own block builders fits a floating-point EGRU network:

- netx reads weights through ``NetDict``, which casts ``weight``/``bias`` to int, and
  quantises them with ``optimize_weight_bits`` for Loihi's 8-bit synapses;
- netx knows the neuron types CUBA, SDNN and RF only (an ``identity`` neuron makes
  its ``get_neuron_params`` return None and the block constructor crash);
- netx has no ``egru`` layer, no token input, and SKIPS unknown layer types silently.

The override builds the blocks of :mod:`lava_egru.proc.blocks` by layer type
string, from the arrays :func:`egru_format.read_network` validated (float32,
exact): ``input`` -> :class:`InputBlock` (``vector`` or ``tokens``), ``dense`` ->
:class:`DenseBlock` (identity neuron), ``egru`` -> :class:`EGRUBlock`. A matrix
stored as CSR in the file becomes a Lava ``Sparse`` synapse with exactly the
stored entries; a dense dataset becomes a Lava ``Dense``. An unknown type raises,
and after construction the blocks are checked against the file's layer list: a
layer that did not become a block raises ``RuntimeError``.

Precision: ``EGRUNetwork(path, precision=None)``. ``"floating_pt"`` builds the
float blocks from the float parameters; ``"fixed_pt"`` builds the blocks from the
file's integer view (:func:`egru_format.integer_network`: Lava integer
weights ``2k``, ``weight_exp``, integer biases and thresholds, the formats), to be
run with ``select_tag="fixed_pt"``; it needs a quantised (version 2) file and
raises :class:`~egru_format.FormatError` naming the missing
``layer/0/quantization`` otherwise. ``None`` (default): ``"fixed_pt"`` for a
quantised file, ``"floating_pt"`` for a float one. :attr:`EGRUNetwork.precision`
tells which.

Timing (details: :mod:`lava_egru.proc.blocks.process`): every synapse delays by
one step. With :math:`n` layers (the input layer included), element :math:`t` of
the input sequence enters ``inp`` at step :math:`t + 1` and its output leaves
``out`` at step :math:`t + n` = :math:`t + 1 +` :attr:`EGRUNetwork.latency`;
``out`` sends zeros before step :math:`n`. :func:`lava_egru.simulate` removes
this latency.

Importing this module imports netx, and with it torch and lava-dl's slayer: a few
seconds once per interpreter. The rest of :mod:`lava_egru.proc` does not.

Example (a network file, built as a Lava process and run with a source and a sink)::

    >>> import os, tempfile
    >>> import numpy as np
    >>> from egru_format import EGRULayer, InputLayer, NetworkSpec, write_network
    >>> from lava.magma.core.run_conditions import RunSteps
    >>> from lava.magma.core.run_configs import Loihi2SimCfg
    >>> from lava.proc.io.sink import RingBuffer as Sink
    >>> from lava.proc.io.source import RingBuffer as Source
    >>> from lava_egru.proc.network.process import EGRUNetwork
    >>> rng = np.random.default_rng(0)
    >>> f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    >>> spec = NetworkSpec([InputLayer(3), EGRULayer(f32(12, 3), f32(12, 4), None, None,
    ...                                              np.full(4, 0.1, np.float32))], {"class": "EGRU"})
    >>> path = write_network(spec, os.path.join(tempfile.mkdtemp(), "net.h5"))
    >>> net = EGRUNetwork(path)
    >>> [block.layer_type for block in net.layers], net.latency
    (['input', 'egru'], 1)
    >>> source, sink = Source(data=f32(3, 6)), Sink(shape=(4,), buffer=6)
    >>> source.s_out.connect(net.inp)
    >>> net.out.connect(sink.a_in)
    >>> try:
    ...     net.run(RunSteps(6), Loihi2SimCfg(select_tag="floating_pt"))
    ...     y = sink.data.get().T                # [step, unit]; row s holds element s - 1
    ... finally:
    ...     net.stop()
    >>> y.shape, y[0].tolist()
    ((6, 4), [0.0, 0.0, 0.0, 0.0])
"""

from __future__ import annotations

import os
import typing as ty

import h5py
import numpy as np
import scipy.sparse
from egru_format import DenseLayer, EGRULayer, InputLayer, integer_network, read_network, to_scipy_csr
from lava.lib.dl.netx import hdf5
from lava.magma.core.process.process import AbstractProcess

from lava_egru.proc.blocks.process import DenseBlock, EGRUBlock, InputBlock

PRECISIONS = ("floating_pt", "fixed_pt")
#: Layer type -> name in netx's layer table (``str(network)``).
TABLE_NAMES = {"input": "Input", "dense": "Dense", "egru": "EGRU"}


class EGRUNetwork(hdf5.Network):
    """The Lava network an ``egru-network`` file describes (see the module docstring).

    Parameters
    ----------
    net_config : str or os.PathLike
        The network file. It is validated by :func:`egru_format.read_network`
        (``FormatError`` on a bad file) and closed after construction.
    precision : str, optional
        ``"floating_pt"``, ``"fixed_pt"`` or None (default: ``"fixed_pt"`` if the file
        is quantised, else ``"floating_pt"``); see the module docstring.

    Attributes
    ----------
    spec : egru_format.NetworkSpec
        The file's contents as read (metadata for export; the live parameters are
        the blocks' Vars).
    layers : list
        One block per layer, in file order.
    file_layer_types : list
        The ``type`` of every ``layer/k`` group, read from the file as netx reads it;
        construction fails unless it equals the blocks' ``layer_type`` list.
    sparse_weights : dict
        ``(layer index, weight name) -> bool``: which weight matrices are Lava
        ``Sparse`` synapses (stored as CSR in the file).
    precision : str
        ``"floating_pt"`` or ``"fixed_pt"``: which parameters the blocks hold.
    fixed_point : list or None
        The file's integer view (:func:`egru_format.integer_network`) for a
        ``fixed_pt`` network, else None.
    latency : int
        Steps between an input element entering ``inp`` and its output leaving ``out``
        (one per synapse on the path: ``len(layers) - 1``).
    """

    def __init__(self, net_config: ty.Union[str, os.PathLike], precision: ty.Optional[str] = None) -> None:
        if precision is not None and precision not in PRECISIONS:
            raise ValueError(f"precision must be None or one of {PRECISIONS}, got {precision!r}")
        self._requested_precision = precision  # read by _create, which netx's constructor calls
        path = os.fspath(net_config)
        try:
            super().__init__(net_config=path)
        except OSError:
            read_network(path)  # netx's h5py could not open it: raise the format's precise error
            raise
        finally:
            if hasattr(self, "net_config"):
                self.net_config.f.close()
        built_types = [block.layer_type for block in self.layers]
        if built_types != self.file_layer_types:
            raise RuntimeError(
                f"{self.filename}: the file's layers {self.file_layer_types} did not all become blocks "
                f"(built {built_types}); a layer type was skipped"
            )
        self.latency = len(self.layers) - 1

    def _create(self) -> ty.List[AbstractProcess]:
        self.spec = read_network(self.filename)
        precision = self._requested_precision
        if precision is None:
            precision = "fixed_pt" if self.spec.quantized else "floating_pt"
        self.precision = precision
        # FormatError naming layer/0/quantization for a float file.
        self.fixed_point = integer_network(self.spec, source=self.filename) if precision == "fixed_pt" else None
        layer_root = self.net_config["layer"]
        self.file_layer_types = [layer_root[k]["type"] for k in range(len(layer_root))]
        self.sparse_weights = {}
        factories = {"input": self._create_input, "dense": self._create_dense, "egru": self._create_egru}
        self.net_str += self._table_str(header=True) + "\n"
        layers = []
        for k, layer in enumerate(self.spec.layers):
            if layer.type not in factories:
                raise RuntimeError(f"{self.filename}: layer/{k} has type {layer.type!r}, which has no block")
            # Block k sees sequence element 0 at step k + 1: one synapse delay per block after the input.
            block = factories[layer.type](k, layer, first_step=k + 1,
                                          input_message_bits=layers[-1].output_message_bits if layers else 0)
            if layers:
                layers[-1].out.connect(block.inp)
            layers.append(block)
            self.net_str += self._table_str(type_str=TABLE_NAMES[layer.type], width=1, height=1,
                                            channel=block.shape[0]) + "\n"
        self.net_str = self.net_str[:-1]
        return layers

    def _weight(self, k: int, name: str, dense, integer=None):
        """The matrix of ``layer/k/name`` (``integer``: its Lava integer weights instead) as the
        synapse takes it: scipy CSR if the file stores it as CSR (exactly its stored entries)."""
        stored = self.net_config.f[f"layer/{k}/{name}"]
        sparse = isinstance(stored, h5py.Group)
        self.sparse_weights[(k, name)] = sparse
        if integer is None:
            return to_scipy_csr(dense) if sparse else dense
        if not sparse:
            return integer
        pattern = to_scipy_csr(dense)
        rows = np.repeat(np.arange(pattern.shape[0]), np.diff(pattern.indptr))
        return scipy.sparse.csr_matrix((integer[rows, pattern.indices], pattern.indices, pattern.indptr),
                                       shape=pattern.shape, dtype=np.int64)

    def _create_input(self, k: int, layer: InputLayer, first_step: int, input_message_bits: int) -> InputBlock:
        fixed = self.fixed_point[k] if self.fixed_point is not None else None
        frac_input = fixed.frac_input if fixed is not None and layer.encoding == "vector" else None
        return InputBlock(size=layer.size, encoding=layer.encoding, frac_input=frac_input)

    def _create_dense(self, k: int, layer: DenseLayer, first_step: int, input_message_bits: int) -> DenseBlock:
        if self.fixed_point is not None:
            fixed = self.fixed_point[k]
            return DenseBlock(
                weight=self._weight(k, "weight", layer.weight, fixed.weight),
                bias=0 if fixed.bias is None else fixed.bias,
                first_step=first_step,
                input_message_bits=input_message_bits,
                weight_exp=fixed.weight_exp,
            )
        return DenseBlock(
            weight=self._weight(k, "weight", layer.weight),
            bias=0 if layer.bias is None else layer.bias,
            first_step=first_step,
            input_message_bits=input_message_bits,
        )

    def _create_egru(self, k: int, layer: EGRULayer, first_step: int, input_message_bits: int) -> EGRUBlock:
        if self.fixed_point is not None:
            fixed = self.fixed_point[k]
            return EGRUBlock(
                weight_ih=self._weight(k, "weight_ih", layer.weight_ih, fixed.weight_ih),
                weight_hh=self._weight(k, "weight_hh", layer.weight_hh, fixed.weight_hh),
                threshold=fixed.threshold if fixed.events else np.ones(layer.hidden_size, np.int64),
                bias_ih=fixed.bias_ih,
                bias_hh=fixed.bias_hh,
                reset_mechanism=layer.reset_mechanism,
                events=layer.events,
                first_step=first_step,
                input_message_bits=input_message_bits,
                weight_exp_ih=fixed.weight_exp_ih,
                weight_exp_hh=fixed.weight_exp_hh,
                frac_preact=fixed.frac_preact,
                frac_state=fixed.frac_state,
            )
        return EGRUBlock(
            weight_ih=self._weight(k, "weight_ih", layer.weight_ih),
            weight_hh=self._weight(k, "weight_hh", layer.weight_hh),
            threshold=layer.threshold,
            bias_ih=0 if layer.bias_ih is None else layer.bias_ih,
            bias_hh=0 if layer.bias_hh is None else layer.bias_hh,
            reset_mechanism=layer.reset_mechanism,
            events=layer.events,
            first_step=first_step,
            input_message_bits=input_message_bits,
        )

    @property
    def output_frac(self) -> ty.Optional[int]:
        """Fractional bits of the output layer's integers (fixed point), else None."""
        if self.fixed_point is None:
            return None
        return self.fixed_point[-1].frac_state

    @property
    def input_encoding(self) -> str:
        """``"vector"`` or ``"tokens"`` (the input layer's encoding)."""
        return self.in_layer.encoding

