r"""A whole EGRU network from an ``egru-network`` file or spec, as one hierarchical Lava Process.

:class:`EGRUNetwork` is a Lava ``AbstractProcess`` of its own, with the ports ``inp``
and ``out`` and a SubProcessModel
(:class:`~lava_egru.proc.network.models.SubEGRUNetworkModel`): its behaviour is that
of its blocks, one per layer (:mod:`lava_egru.proc.blocks`), chained
``inp -> layers[0] -> ... -> layers[-1] -> out``. The constructor builds and chains
the blocks, as lava-dl netx's ``Network`` does, rather than leaving it to the model as
Lava's composite Processes do: the blocks hold the parameters as their Vars before any
compilation (``network.layers[k].weight_ih.init``), so that a network can be inspected,
changed and exported (:func:`lava_egru.export`) without running it, and a block's
ports can be tapped (``network.layers[1].out.connect(sink.a_in)``: Lava's compiler
finds the processes of a graph through port connections made before compilation, and
through them the blocks). The model therefore has nothing to build. Nothing here
imports lava-dl or torch.

It is built from a file, ``EGRUNetwork(path)``, or from a :class:`egru_format.NetworkSpec`
in memory, ``EGRUNetwork(spec)``. Either way the parameters come from a spec: a path
is read (and validated) by :func:`egru_format.read_network`, the only place that opens
the file. A layer type string picks its block: ``input`` -> :class:`InputBlock`
(``vector`` or ``tokens``), ``dense`` -> :class:`DenseBlock` (identity neuron),
``egru`` -> :class:`EGRUBlock`, from the spec's arrays (float32, exact); an unknown type
raises, and after construction the blocks are checked against the spec's layer list (a
layer that did not become a block raises ``RuntimeError``).

lava-dl netx compatibility. The constructor keeps the signature of lava-dl 0.6.0's
``netx.hdf5.Network`` (``EGRUNetwork(path)`` as ``hdf5.Network(net_config=path)``:
the same positional parameters, :data:`NETX_UNSUPPORTED` of them accepting only their
defaults) and sets the attributes a netx user reads (``filename``, ``net_config``,
``layers``, ``in_layer``, ``out_layer``, ``inp``, ``out``, ``output_message_bits``,
netx's options, ``net_str``; ``len()`` and ``str()``, the layer table in netx's
layout). It is not a subclass of netx's ``Network`` (netx imports torch): it is not an
instance of it and has none of netx's builder methods (``create_dense``,
``get_neuron_params``, ...; none of them fits an EGRU layer).

Synapses (``sparse=``): a weight matrix becomes a Lava ``Sparse`` synapse (with
exactly its entries other than +0.0, -0.0 included) or a Lava ``Dense``.
``"keep"`` (default) makes ``Sparse`` exactly the matrices the spec's
``sparse_matrices`` names: for a file, those it stores as CSR; for a spec built in
memory, none unless set. ``"auto"`` chooses ``Sparse`` where at least
:data:`egru_format.SPARSE_AUTO_FRACTION` of the entries are +0.0 (the rule of
``write_network(..., sparse="auto")``), ``True``/``False`` every matrix
``Sparse``/``Dense``. :attr:`EGRUNetwork.sparse_weights` tells the choice.

Precision: ``EGRUNetwork(path, precision=None)`` (keyword-only), one of
:data:`PRECISIONS`. ``"floating_pt"`` builds the float blocks from the float
parameters; ``"fixed_pt"`` builds the blocks from the spec's integer view
(:func:`egru_format.integer_network`: Lava integer weights ``2k``, ``weight_exp``,
integer biases and thresholds, the formats), to be run with ``select_tag="fixed_pt"``;
it needs a quantised (version 2) spec and raises :class:`~egru_format.FormatError`
naming the missing ``layer/0/quantization`` otherwise. ``None`` (default):
``"fixed_pt"`` for a quantised spec, ``"floating_pt"`` for a float one.
:attr:`EGRUNetwork.precision` tells which; as every Lava Process, a network runs with
the run configuration's ``select_tag`` equal to the precision of its Vars.

Timing (details: :mod:`lava_egru.proc.blocks.process`): every synapse delays by
one step. With :math:`n` layers (the input layer included), element :math:`t` of
the input sequence enters ``inp`` at step :math:`t + 1` and its output leaves
``out`` at step :math:`t + n` = :math:`t + 1 +` :attr:`EGRUNetwork.latency`;
``out`` sends zeros before step :math:`n`. :func:`lava_egru.simulate` removes
this latency.

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

import copy
import os
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

__all__ = ["EGRUNetwork", "PRECISIONS", "NETX_UNSUPPORTED", "scipy_csr", "layer_table"]

#: The two precisions: the ``select_tag`` of a run configuration and the ``precision`` of a network.
PRECISIONS = ("floating_pt", "fixed_pt")
#: Layer type -> name in the layer table (``str(network)``, netx's layout).
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


def layer_table(rows: ty.Sequence[ty.Tuple[str, int]]) -> str:
    """The layer table of ``str(network)``, in lava-dl netx's layout: a header, then one line per
    ``(type name, channels)`` with width and height 1 and no kernel, stride, padding, dilation,
    groups or delay.

    >>> print(layer_table([("Input", 3), ("EGRU", 16)]))
    |   Type   |  W  |  H  |  C  | ker | str | pad | dil | grp |delay|
    |Input     |    1|    1|    3|     |     |     |     |     |False|
    |EGRU      |    1|    1|   16|     |     |     |     |     |False|
    """
    lines = ["|   Type   |  W  |  H  |  C  | ker | str | pad | dil | grp |delay|"]
    lines += [f"|{name:10s}|{1:-5d}|{1:-5d}|{channels:-5d}|" + f"{'':5s}|" * 5 + f"{'False':5s}|"
              for name, channels in rows]
    return "\n".join(lines)


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


class EGRUNetwork(AbstractProcess):
    """The Lava network an ``egru-network`` file or spec describes (see the module docstring).

    The positional parameters are those of lava-dl 0.6.0's ``netx.hdf5.Network``
    (``net_config, num_layers, skip_layers, input_message_bits, input_shape,
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
        One block per layer, in spec order (``in_layer`` the first, ``out_layer`` the last).
    inp, out : InPort, OutPort
        The input of the first block and the output of the last one.
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
    net_str : str
        The layer table (``str(network)``, :func:`layer_table`).
    """

    def __init__(self, net_config: ty.Union[str, os.PathLike, NetworkSpec], num_layers: ty.Optional[int] = None,
                 skip_layers: int = 0, input_message_bits: ty.Optional[int] = 0,
                 input_shape: ty.Optional[ty.Tuple[int, ...]] = None, reset_interval: ty.Optional[int] = None,
                 reset_offset: int = 0, spike_exp: int = 6, sparse_fc_layer: bool = False, *,
                 precision: ty.Optional[str] = None, sparse: SparseChoice = "keep") -> None:
        from_spec = isinstance(net_config, NetworkSpec)
        # First, so that a Process failing its checks below can still be deleted (Lava's __del__ needs it).
        super().__init__(net_config=None if from_spec else net_config, num_layers=num_layers,
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
        if precision is None:
            precision = "fixed_pt" if spec.quantized else "floating_pt"
        self.precision = precision
        # FormatError naming layer/0/quantization for a float spec.
        self.fixed_point = integer_network(spec, source=self.source) if precision == "fixed_pt" else None
        self.layers = self._build_blocks()
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
        for before, after in zip(self.layers, self.layers[1:]):
            before.out.connect(after.inp)
        self.out_layer.out.connect(self.out)
        self.output_message_bits = self.out_layer.output_message_bits
        self.latency = len(self.layers) - 1
        self.net_str = layer_table([(TABLE_NAMES[block.layer_type], block.shape[0]) for block in self.layers])

    def __len__(self) -> int:
        """The number of layers (blocks), the input layer included."""
        return len(self.layers)

    def __str__(self) -> str:
        """The layer table (:attr:`net_str`)."""
        return self.net_str

    @property
    def source(self) -> str:
        """The file the network was built from, or ``<NetworkSpec>`` (named in error messages)."""
        return SPEC_SOURCE if self.filename is None else self.filename

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

    def _build_blocks(self) -> ty.List[AbstractProcess]:
        """One block per layer of the spec, in the network's precision (not yet chained)."""
        builders = {"input": self._input_block, "dense": self._dense_block, "egru": self._egru_block}
        blocks = []
        for k, layer in enumerate(self.spec.layers):
            if layer.type not in builders:
                raise RuntimeError(f"{self.source}: layer/{k} has type {layer.type!r}, which has no block")
            # Block k sees sequence element 0 at step k + 1: one synapse delay per block after the input.
            blocks.append(builders[layer.type](k, layer, first_step=k + 1,
                                               input_message_bits=blocks[-1].output_message_bits if blocks else 0))
        return blocks

    def _weight(self, k: int, name: str, dense, integer=None):
        """The matrix of ``layer/k/name`` (``integer``: its Lava integer weights instead) as the
        synapse takes it: scipy CSR (exactly the entries other than +0.0) if it is to be ``Sparse``."""
        if not self.sparse_weights[(k, name)]:
            return dense if integer is None else integer
        if integer is None:
            return scipy_csr(dense)
        return scipy_csr(dense, np.asarray(integer, dtype=np.int64))

    def _input_block(self, k: int, layer: InputLayer, first_step: int, input_message_bits: int) -> InputBlock:
        fixed = self.fixed_point[k] if self.fixed_point is not None else None
        frac_input = fixed.frac_input if fixed is not None and layer.encoding == "vector" else None
        return InputBlock(size=layer.size, encoding=layer.encoding, frac_input=frac_input)

    def _dense_block(self, k: int, layer: DenseLayer, first_step: int, input_message_bits: int) -> DenseBlock:
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

    def _egru_block(self, k: int, layer: EGRULayer, first_step: int, input_message_bits: int) -> EGRUBlock:
        if self.fixed_point is not None:
            fixed = self.fixed_point[k]
            return EGRUBlock(
                weight_ih=self._weight(k, "weight_ih", layer.weight_ih, fixed.weight_ih),
                weight_hh=self._weight(k, "weight_hh", layer.weight_hh, fixed.weight_hh),
                threshold=fixed.threshold if fixed.events else np.ones(layer.hidden_size, np.int64),
                bias_ih=fixed.bias_ih,
                bias_hh=fixed.bias_hh,
                reset_mechanism=layer.reset_mechanism,
                polarity=fixed.polarity,
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
            polarity=layer.polarity,
            events=layer.events,
            first_step=first_step,
            input_message_bits=input_message_bits,
        )
