r"""A whole EGRU network from an ``egru-network`` file or spec: lava-dl netx's ``Network``, extended.

:class:`EGRUNetwork` subclasses ``lava.lib.dl.netx.hdf5.Network`` and is built as
a netx user expects, from a file: ``EGRUNetwork(path)`` (netx:
``hdf5.Network(net_config=path)``). It can also be built from a
:class:`egru_format.NetworkSpec` in memory: ``EGRUNetwork(spec)``. Either way the
parameters come from a spec: a path is read (and validated) by
:func:`egru_format.read_network`, the only place that opens the file; nothing
here opens HDF5 files. netx's own constructor is therefore not run (it would
open the file a second time with netx's reader); this constructor sets what
netx's does (``filename``, ``net_config`` (the spec), ``layers``, ``in_layer``,
``out_layer``, the ports ``inp`` and ``out``, ``output_message_bits``, netx's options
``num_layers`` ... ``sparse_fc_layer``, the layer table ``str()``) and ``len()``
comes from netx. The positional parameters are netx's; netx's options other than
``sparse_fc_layer`` have no EGRU meaning and accept only their defaults
(``NotImplementedError`` otherwise, see :class:`EGRUNetwork`). ``_create`` is
overridden, because none of netx's own block builders fits an EGRU network:

- netx reads weights through ``NetDict``, which casts ``weight``/``bias`` to int, and
  quantises them with ``optimize_weight_bits`` for Loihi's 8-bit synapses;
- netx knows the neuron types CUBA, SDNN and RF only (an ``identity`` neuron makes
  its ``get_neuron_params`` return None and the block constructor crash);
- netx has no ``egru`` layer, no token input, and SKIPS unknown layer types silently.

The override builds the blocks of :mod:`lava_egru.proc.blocks` by layer type
string, from the spec's arrays (float32, exact): ``input`` ->
:class:`InputBlock` (``vector`` or ``tokens``), ``dense`` -> :class:`DenseBlock`
(identity neuron), ``egru`` -> :class:`EGRUBlock`. An unknown type raises, and
after construction the blocks are checked against the spec's layer list: a layer
that did not become a block raises ``RuntimeError``.

Synapses (``sparse=``): a weight matrix becomes a Lava ``Sparse`` synapse (with
exactly its entries other than +0.0, -0.0 included) or a Lava ``Dense``.
``"keep"`` (default) makes ``Sparse`` exactly the matrices the spec's
``sparse_matrices`` names: for a file, those it stores as CSR; for a spec built in
memory, none unless set. ``"auto"`` chooses ``Sparse`` where at least
:data:`egru_format.SPARSE_AUTO_FRACTION` of the entries are +0.0 (the rule of
``write_network(..., sparse="auto")``), ``True``/``False`` every matrix
``Sparse``/``Dense``. :attr:`EGRUNetwork.sparse_weights` tells the choice.

Precision: ``EGRUNetwork(path, precision=None)`` (keyword-only). ``"floating_pt"`` builds the
float blocks from the float parameters; ``"fixed_pt"`` builds the blocks from the
spec's integer view (:func:`egru_format.integer_network`: Lava integer
weights ``2k``, ``weight_exp``, integer biases and thresholds, the formats), to be
run with ``select_tag="fixed_pt"``; it needs a quantised (version 2) spec and
raises :class:`~egru_format.FormatError` naming the missing
``layer/0/quantization`` otherwise. ``None`` (default): ``"fixed_pt"`` for a
quantised spec, ``"floating_pt"`` for a float one. :attr:`EGRUNetwork.precision`
tells which.

Timing (details: :mod:`lava_egru.proc.blocks.process`): every synapse delays by
one step. With :math:`n` layers (the input layer included), element :math:`t` of
the input sequence enters ``inp`` at step :math:`t + 1` and its output leaves
``out`` at step :math:`t + n` = :math:`t + 1 +` :attr:`EGRUNetwork.latency`;
``out`` sends zeros before step :math:`n`. :func:`lava_egru.simulate` removes
this latency.

Importing this module imports netx, and with it torch and lava-dl's slayer: a few
seconds once per interpreter. The rest of :mod:`lava_egru.proc` does not. That
import prints two notices that do not concern an EGRU network (slayer's
object-detection datasets: "Prophesee Dataset Toolbox could not be found";
torch's C++ extension helper on a machine without a CUDA runtime: "No CUDA
runtime is found, using CUDA_HOME=..."): exactly these lines are dropped, any
other output of the import is passed on.

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
    >>> weight_hh = np.where(rng.random((12, 4)) < 0.2, f32(12, 4), 0)   # pruned
    >>> spec = NetworkSpec([InputLayer(3), EGRULayer(f32(12, 3), weight_hh, None, None,
    ...                                              np.full(4, 0.1, np.float32))], {"class": "EGRU"})
    >>> path = write_network(spec, os.path.join(tempfile.mkdtemp(), "net.h5"))   # weight_hh as CSR
    >>> net = EGRUNetwork(path)
    >>> [block.layer_type for block in net.layers], net.latency, net.sparse_weights
    (['input', 'egru'], 1, {(1, 'weight_ih'): False, (1, 'weight_hh'): True})
    >>> EGRUNetwork(spec).sparse_weights                        # in memory: no layout, all Dense
    {(1, 'weight_ih'): False, (1, 'weight_hh'): False}
    >>> EGRUNetwork(spec, sparse="auto").sparse_weights == net.sparse_weights
    True
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

import contextlib
import copy
import io
import os
import re
import sys
import typing as ty

import numpy as np
import scipy.sparse
from egru_format import (
    SPARSE_AUTO_FRACTION,
    SPEC_SOURCE,
    DenseLayer,
    EGRULayer,
    InputLayer,
    NetworkSpec,
    csr_from_dense,
    integer_network,
    read_network,
    validate_spec,
    zero_fraction,
)
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess

from lava_egru.proc.blocks.process import DenseBlock, EGRUBlock, InputBlock

PRECISIONS = ("floating_pt", "fixed_pt")
#: Layer type -> name in netx's layer table (``str(network)``).
TABLE_NAMES = {"input": "Input", "dense": "Dense", "egru": "EGRU"}
#: Weight matrices of each layer type, in the order the blocks take them.
WEIGHT_NAMES = {"input": (), "dense": ("weight",), "egru": ("weight_ih", "weight_hh")}
SparseChoice = ty.Union[str, bool]
#: netx's ``hdf5.Network`` options (lava-dl 0.6.0) that have no meaning for an EGRU network, with their
#: defaults: only the default is accepted (any other value raises ``NotImplementedError``).
NETX_UNSUPPORTED = {
    "num_layers": None,
    "skip_layers": 0,
    "input_message_bits": 0,
    "input_shape": None,
    "reset_interval": None,
    "reset_offset": 0,
    "spike_exp": 6,
}

#: The whole lines lava-dl's netx import prints on stdout/stderr that concern no EGRU network.
NETX_IMPORT_NOTICES = re.compile(
    r"^WARNING: Prophesee Dataset Toolbox could not be found!\n"
    r" +Only Prophesee DVS demo will not run properly\.\n"
    r" +Please install it from \S+\n"
    r"|^No CUDA runtime is found, using CUDA_HOME='[^'\n]*'\n",
    re.MULTILINE,
)


def _import_netx_hdf5():
    """``lava.lib.dl.netx.hdf5``, imported with :data:`NETX_IMPORT_NOTICES` dropped from its output.

    Both notices are ``print`` calls run by the import (slayer's Prophesee dataset
    module, torch's ``cpp_extension``), not warnings: the import's stdout and stderr
    are captured and passed on without those lines, also when the import fails.
    """
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            from lava.lib.dl.netx import hdf5
    finally:
        sys.stdout.write(NETX_IMPORT_NOTICES.sub("", stdout.getvalue()))
        sys.stderr.write(NETX_IMPORT_NOTICES.sub("", stderr.getvalue()))
    return hdf5


hdf5 = _import_netx_hdf5()


def scipy_csr(matrix, values=None) -> scipy.sparse.csr_matrix:
    """A ``scipy.sparse.csr_matrix`` (what Lava's ``Sparse`` takes) of exactly the entries of ``matrix``
    other than +0.0 (-0.0 included), as :func:`egru_format.csr_from_dense` stores them.

    ``values`` (an array of ``matrix``'s shape, e.g. its Lava integer weights): the
    entries take their values from it instead, on ``matrix``'s pattern.
    """
    matrix = np.asarray(matrix)
    data, indices, indptr = csr_from_dense(matrix)
    if values is not None:
        rows = np.repeat(np.arange(matrix.shape[0]), np.diff(indptr))
        data = np.asarray(values)[rows, indices]
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=matrix.shape)


class EGRUNetwork(hdf5.Network):
    """The Lava network an ``egru-network`` file or spec describes (see the module docstring).

    The positional parameters are netx's (``hdf5.Network`` of lava-dl 0.6.0:
    ``net_config, num_layers, skip_layers, input_message_bits, input_shape,
    reset_interval, reset_offset, spike_exp, sparse_fc_layer``), so that a call written
    for a netx network means the same here or fails; ``precision`` and ``sparse`` are
    keyword-only.

    Parameters
    ----------
    net_config : str, os.PathLike or egru_format.NetworkSpec
        The network file (validated by :func:`egru_format.read_network`:
        ``FileNotFoundError``, ``FormatError`` on a bad file), or a spec in memory
        (validated by :func:`egru_format.validate_spec` and copied).
    num_layers, skip_layers, input_message_bits, input_shape, reset_interval, reset_offset, spike_exp
        netx's options that an EGRU network does not support (:data:`NETX_UNSUPPORTED`):
        the whole network is always built (``num_layers=None``, ``skip_layers=0``), the
        input layer's encoding fixes the input (``input_message_bits=0``,
        ``input_shape=None``: the block's shape), the EGRU neurons have no periodic reset
        (``reset_interval=None``, ``reset_offset=0``) and no graded-spike exponent
        (``spike_exp=6``). Any other value raises ``NotImplementedError``; the defaults
        are stored as netx stores its arguments.
    sparse_fc_layer : bool, optional
        netx's switch: True makes every weight matrix a ``Sparse`` synapse, as
        ``sparse=True`` (then ``sparse`` must be ``"keep"`` or True); default False.
    precision : str, optional, keyword-only
        ``"floating_pt"``, ``"fixed_pt"`` or None (default: ``"fixed_pt"`` if the spec
        is quantised, else ``"floating_pt"``); see the module docstring.
    sparse : {"keep", "auto", True, False}, optional, keyword-only
        Which weight matrices become Lava ``Sparse`` synapses (module docstring);
        default ``"keep"``: those the spec's ``sparse_matrices`` names.

    Attributes
    ----------
    spec : egru_format.NetworkSpec
        The spec as read or given (metadata for export; the live parameters are
        the blocks' Vars).
    filename : str or None
        The network file, None for a network built from a spec.
    net_config : egru_format.NetworkSpec
        netx's parsed network description (netx: a ``NetDict`` of the file); here the
        spec (the same object as ``spec``: the file is read once, by
        :func:`egru_format.read_network`).
    num_layers, skip_layers, input_message_bits, input_shape, reset_interval, reset_offset, spike_exp, sparse_fc_layer
        netx's options as given (always their defaults, but ``sparse_fc_layer``).
    source : str
        What error messages name: ``filename``, or ``<NetworkSpec>``.
    layers : list
        One block per layer, in spec order.
    sparse_weights : dict
        ``(layer index, weight name) -> bool``: which weight matrices are Lava
        ``Sparse`` synapses.
    precision : str
        ``"floating_pt"`` or ``"fixed_pt"``: which parameters the blocks hold.
    fixed_point : list or None
        The spec's integer view (:func:`egru_format.integer_network`) for a
        ``fixed_pt`` network, else None.
    latency : int
        Steps between an input element entering ``inp`` and its output leaving ``out``
        (one per synapse on the path: ``len(layers) - 1``).
    """

    def __init__(self, net_config: ty.Union[str, os.PathLike, NetworkSpec], num_layers: ty.Optional[int] = None,
                 skip_layers: int = 0, input_message_bits: ty.Optional[int] = 0,
                 input_shape: ty.Optional[ty.Tuple[int, ...]] = None, reset_interval: ty.Optional[int] = None,
                 reset_offset: int = 0, spike_exp: int = 6, sparse_fc_layer: bool = False, *,
                 precision: ty.Optional[str] = None, sparse: SparseChoice = "keep") -> None:
        from_spec = isinstance(net_config, NetworkSpec)
        # netx's constructor is skipped (it would open the file again): AbstractProcess's runs instead,
        # first, so that a Process failing its checks below can still be deleted.
        AbstractProcess.__init__(self, net_config=None if from_spec else net_config, num_layers=num_layers,
                                 input_message_bits=input_message_bits)
        given = dict(num_layers=num_layers, skip_layers=skip_layers, input_message_bits=input_message_bits,
                     input_shape=input_shape, reset_interval=reset_interval, reset_offset=reset_offset,
                     spike_exp=spike_exp)
        for name, default in NETX_UNSUPPORTED.items():
            value = given[name]
            is_default = value is None if default is None else (
                isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) and value == default)
            if not is_default:
                raise NotImplementedError(
                    f"EGRUNetwork does not support netx's {name}={value!r} (only the default {default!r}); "
                    "precision= and sparse= are keyword-only"
                )
        if precision is not None and precision not in PRECISIONS:
            raise ValueError(f"precision must be None or one of {PRECISIONS}, got {precision!r}")
        if not (isinstance(sparse, bool) or sparse in ("keep", "auto")):
            raise ValueError(f"sparse must be 'keep', 'auto', True or False, got {sparse!r}")
        if not isinstance(sparse_fc_layer, (bool, np.bool_)):
            raise TypeError(f"sparse_fc_layer must be a bool, got {type(sparse_fc_layer).__name__}")
        if sparse_fc_layer:
            if sparse not in ("keep", True):
                raise ValueError(f"sparse_fc_layer=True makes every matrix Sparse: it contradicts sparse={sparse!r}")
            sparse = True
        if from_spec:
            spec, filename = copy.deepcopy(net_config), None
            spec.model = validate_spec(spec, source=SPEC_SOURCE)
        else:
            filename = os.fspath(net_config)
            spec = read_network(filename)
        self.filename = filename
        self.spec = self.net_config = spec
        # netx's options, stored as netx's constructor stores them (only their defaults get here).
        self.num_layers, self.skip_layers = num_layers, skip_layers
        self.input_message_bits, self.input_shape = input_message_bits, input_shape
        self.reset_interval, self.reset_offset, self.spike_exp = reset_interval, reset_offset, spike_exp
        self.sparse_fc_layer = bool(sparse_fc_layer)
        self.sparse_weights = self._synapse_layout(sparse)
        self._requested_precision = precision
        self.net_str = ""
        self.layers = self._create()
        built_types = [block.layer_type for block in self.layers]
        spec_types = [layer.type for layer in spec.layers]
        if built_types != spec_types:
            raise RuntimeError(
                f"{self.source}: the spec's layers {spec_types} did not all become blocks "
                f"(built {built_types}); a layer type was skipped"
            )
        self.in_layer, self.out_layer = self.layers[0], self.layers[-1]
        self.inp = InPort(shape=self.in_layer.inp.shape)
        self.out = OutPort(shape=self.out_layer.out.shape)
        self.inp.connect(self.in_layer.inp)
        self.out_layer.out.connect(self.out)
        self.output_message_bits = self.out_layer.output_message_bits
        self.latency = len(self.layers) - 1

    @property
    def source(self) -> str:
        """The file the network was built from, or ``<NetworkSpec>`` (named in error messages)."""
        return SPEC_SOURCE if self.filename is None else self.filename

    def _synapse_layout(self, sparse: SparseChoice) -> ty.Dict[ty.Tuple[int, str], bool]:
        """``(k, name) -> bool``: which weight matrices become ``Sparse`` under the ``sparse`` choice."""
        matrices = {(k, name): getattr(layer, name) for k, layer in enumerate(self.spec.layers)
                    for name in WEIGHT_NAMES.get(layer.type, ())}
        if sparse == "keep":
            unknown = sorted(set(self.spec.sparse_matrices) - {f"layer/{k}/{name}" for k, name in matrices})
            if unknown:
                raise ValueError(f"{self.source}: sparse_matrices names {unknown}, which are not weight matrices")
            return {(k, name): f"layer/{k}/{name}" in self.spec.sparse_matrices for k, name in matrices}
        if sparse == "auto":
            return {key: zero_fraction(matrix) >= SPARSE_AUTO_FRACTION for key, matrix in matrices.items()}
        return {key: sparse for key in matrices}

    def _create(self) -> ty.List[AbstractProcess]:
        precision = self._requested_precision
        if precision is None:
            precision = "fixed_pt" if self.spec.quantized else "floating_pt"
        self.precision = precision
        # FormatError naming layer/0/quantization for a float spec.
        self.fixed_point = integer_network(self.spec, source=self.source) if precision == "fixed_pt" else None
        factories = {"input": self._create_input, "dense": self._create_dense, "egru": self._create_egru}
        self.net_str += self._table_str(header=True) + "\n"
        layers = []
        for k, layer in enumerate(self.spec.layers):
            if layer.type not in factories:
                raise RuntimeError(f"{self.source}: layer/{k} has type {layer.type!r}, which has no block")
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
        synapse takes it: scipy CSR (exactly the entries other than +0.0) if it is to be ``Sparse``."""
        if not self.sparse_weights[(k, name)]:
            return dense if integer is None else integer
        if integer is None:
            return scipy_csr(dense)
        return scipy_csr(dense, np.asarray(integer, dtype=np.int64))

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

