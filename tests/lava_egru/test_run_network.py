"""EGRUNetwork is a Lava Process of its own, and ``simulate`` runs the network it is given.

- EGRUNetwork derives from Lava's ``AbstractProcess`` (not from lava-dl netx's ``Network``);
  Lava's model discovery finds its SubProcessModel;
- ``simulate(network, x)`` compiles and runs ``network`` itself, its own blocks, from their
  Vars, and returns it uncompiled: only its own chain connected, no Var aliases, no
  runtime, so it runs again (also after a failed run); in the other precision it runs a
  network of that precision built from the network's parameters;
- a network compiled for a run of its own, or wired to other processes (also at a
  block's port), is refused with a clear error.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from egru_format import (DenseLayer, DenseQuantization, EGRULayer, EGRUQuantization, InputLayer, InputQuantization,
                         NetworkSpec)
from tests.numpy_reference import random_language_model, random_vector_network

pytestmark = pytest.mark.lava


@pytest.fixture(scope="module")
def lava_egru():
    return importlib.import_module("lava_egru")


def quantized_spec() -> NetworkSpec:
    rng = np.random.default_rng(0)
    weights = lambda rows, cols: rng.uniform(-1.5, 1.5, (rows, cols)).astype(np.float32)  # noqa: E731
    return NetworkSpec([
        InputLayer(3, quantization=InputQuantization(8)),
        EGRULayer(weights(12, 3), weights(12, 4), rng.uniform(-1, 1, 12).astype(np.float32), None,
                  np.full(4, 0.1, np.float32),
                  quantization=EGRUQuantization(frac_preact=12, frac_state=10, scale_exp_ih=-6, scale_exp_hh=-6)),
        DenseLayer(weights(2, 4), np.zeros(2, np.float32), DenseQuantization(frac_state=10, scale_exp=-6)),
    ])


def assert_uncompiled(net):
    """Not compiled, no runtime; inp -> layers[0] -> ... -> layers[-1] -> out and nothing else; no aliases."""
    blocks = net.layers
    assert not net.is_compiled and net.runtime is None
    assert (net.inp.in_connections, net.inp.out_connections) == ([], [blocks[0].inp])
    assert (net.out.in_connections, net.out.out_connections) == ([blocks[-1].out], [])
    for k, block in enumerate(blocks):
        assert not block.is_compiled and block.runtime is None and block.procs.is_empty()
        assert block.inp.in_connections == [net.inp if k == 0 else blocks[k - 1].out]
        assert block.inp.out_connections == [] and block.out.in_connections == []
        assert block.out.out_connections == [net.out if k == len(blocks) - 1 else blocks[k + 1].inp]
        assert all(var.aliased_var is None for var in block.vars.members)


def spy_runs(monkeypatch):
    """Record, for each ``run_steps`` of ``simulate``, the process it ran and what its blocks showed."""
    from lava_egru import simulation

    runs, real = [], simulation.run_steps

    def spying(process, num_steps, run_cfg, guard=None):
        real(process, num_steps, run_cfg, guard)
        runs.append((process, [block.is_compiled for block in process.layers],
                     [np.asarray(block.c.get()).copy() for block in process.layers if hasattr(block, "c")]))

    monkeypatch.setattr(simulation, "run_steps", spying)
    return runs


def test_network_is_a_lava_process_of_its_own():
    from lava.magma.compiler.compiler_graphs import ProcGroupDiGraphs
    from lava.magma.core.model.sub.model import AbstractSubProcessModel
    from lava.magma.core.process.process import AbstractProcess
    from lava_egru.proc.network.process import EGRUNetwork

    assert EGRUNetwork.__bases__ == (AbstractProcess,)
    assert not any(cls.__module__.startswith("lava.lib") for cls in EGRUNetwork.__mro__)
    models = ProcGroupDiGraphs._find_proc_models(EGRUNetwork(random_vector_network(0, 3, [4])))
    assert [cls.__name__ for cls in models] == ["SubEGRUNetworkModel"]
    assert issubclass(models[0], AbstractSubProcessModel)


def test_simulate_runs_the_given_network(lava_egru, monkeypatch):
    net = lava_egru.EGRUNetwork(random_vector_network(0, 3, [6, 5]))
    assert_uncompiled(net)
    runs = spy_runs(monkeypatch)
    x = np.random.default_rng(1).standard_normal((8, 3))
    y = lava_egru.simulate(net, x)
    (process, compiled, states), = runs
    assert process is net and all(compiled)                  # its own blocks were compiled
    assert all(np.any(c != 0) for c in states)                # their Vars were live during the run
    assert_uncompiled(net)
    np.testing.assert_array_equal(lava_egru.simulate(net, x), y)
    assert runs[1][0] is net
    assert_uncompiled(net)


def test_simulate_reads_the_blocks_vars(lava_egru):
    rng = np.random.default_rng(2)
    spec = NetworkSpec([InputLayer(3), DenseLayer(rng.standard_normal((2, 3)).astype(np.float32),
                                                  np.zeros(2, np.float32))])
    net = lava_egru.EGRUNetwork(spec)
    x = rng.standard_normal((5, 3))
    before = lava_egru.simulate(net, x)
    net.layers[1].bias.init = np.array([1.0, -2.0])
    np.testing.assert_allclose(lava_egru.simulate(net, x), before + [1.0, -2.0], rtol=0, atol=1e-12)


def test_the_other_precision_runs_a_network_of_that_precision(lava_egru, monkeypatch):
    fixed = lava_egru.EGRUNetwork(quantized_spec())
    floating = lava_egru.EGRUNetwork(quantized_spec(), precision="floating_pt")
    x = np.random.default_rng(3).standard_normal((6, 3))
    runs = spy_runs(monkeypatch)
    in_float = lava_egru.simulate(fixed, x)
    in_fixed = lava_egru.simulate(floating, x, precision="fixed_pt", return_details=True)
    (float_run, *_), (fixed_run, *_) = runs
    assert float_run is not fixed and float_run.precision == "floating_pt"
    assert fixed_run is not floating and fixed_run.precision == "fixed_pt"
    assert float_run.sparse_weights == fixed.sparse_weights
    assert_uncompiled(fixed)
    assert_uncompiled(floating)
    np.testing.assert_array_equal(in_float, lava_egru.simulate(floating, x))
    same = lava_egru.simulate(fixed, x, precision="fixed_pt", return_details=True)
    assert runs[-1][0] is fixed
    np.testing.assert_array_equal(in_fixed.output_int, same.output_int)


def test_a_compiled_or_connected_network_is_refused(lava_egru):
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer

    from lava.proc.io.sink import RingBuffer as Sink

    tapped = lava_egru.EGRUNetwork(random_vector_network(0, 3, [4, 2]))
    tapped.layers[1].out.connect(Sink(shape=(4,), buffer=2).a_in)
    with pytest.raises(ValueError, match=r"layers\[1\]\.out is connected to other Lava processes"):
        lava_egru.simulate(tapped, np.zeros((2, 3)))
    ran = lava_egru.EGRUNetwork(random_vector_network(0, 3, [4]))
    source = RingBuffer(data=np.ones((3, 2)))
    source.s_out.connect(ran.inp)
    with pytest.raises(ValueError, match="inp is connected to other Lava processes"):
        lava_egru.simulate(ran, np.zeros((2, 3)))
    try:
        ran.run(RunSteps(2), Loihi2SimCfg(select_tag="floating_pt"))
    finally:
        ran.stop()
    with pytest.raises(ValueError, match="compiled for a Lava run of its own"):
        lava_egru.simulate(ran, np.zeros((2, 3)))


def test_the_network_runs_again_after_a_failing_run(lava_egru):
    from lava_egru.simulation import run_network

    net = lava_egru.EGRUNetwork(random_language_model(0, 7, 4, [5]))
    with pytest.raises(RuntimeError, match=r"token id 99 out of range \[0, 7\)"):
        run_network(net, np.array([[1.0], [99.0], [2.0]]), "floating_pt")  # bypasses the validation
    assert_uncompiled(net)
    tokens = np.array([1, 2, 3, 4])
    np.testing.assert_array_equal(lava_egru.simulate(net, tokens),
                                  lava_egru.simulate(lava_egru.EGRUNetwork(net.spec), tokens))
    with pytest.raises(ValueError, match="holds floating_pt parameters"):
        run_network(net, tokens.reshape(-1, 1).astype(float), "fixed_pt")
