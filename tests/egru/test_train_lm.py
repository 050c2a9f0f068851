"""The trainer's command line (``python -m egru.train_lm``, the application's): flags, help texts,
usage errors and nonsense values (one error line), --resume, the documented full-size command, and DDP
through torchrun."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import torch

from egru import train_lm
from egru.lm.checkpoint import load_checkpoint, save_checkpoint
from egru.lm.trainer import CHECKPOINT_NAME, LOG_NAME, LMConfig
from egru.train_lm import build_parser, main
from tests.conftest import REPO_ROOT, sigint_default_in_child
from tests.egru._helpers import BAD_UTF8, REFERENCE_NEURON, TINY_LM, exit_code, one_error_line, small_corpus


def test_new_flags_parse_into_the_config():
    args = vars(build_parser().parse_args([
        "--data", "x", "--surrogate-dampening", "3.6", "--surrogate-width", "3.6", "--threshold-init", "beta",
        "--threshold", "0.01", "--threshold-beta", "3", "--threshold-max", "1", "--threshold-lr-scale", "0",
        "--min-threshold", "0.002", "--weight-decay", "0.1", "--rnn-type", "egru", "--device", "cuda:1",
        "--tie-weights", "false", "--hidden-sizes", "16", "8"]))
    assert args["surrogate_dampening"] == args["surrogate_width"] == 3.6 and args["threshold_init"] == "beta"
    assert args["threshold"] == 0.01 and args["threshold_beta"] == 3.0 and args["threshold_max"] == 1.0
    assert args["threshold_lr_scale"] == 0.0 and args["min_threshold"] == 0.002 and args["weight_decay"] == 0.1
    assert args["rnn_type"] == "egru" and args["device"] == "cuda:1" and args["tie_weights"] is False
    assert args["hidden_sizes"] == [16, 8]
    defaults = vars(build_parser().parse_args(["--data", "x"]))
    assert {k: defaults[k] for k in ("threshold_init", "rnn_type", "device", "threshold_lr_scale")} == {
        "threshold_init": "constant", "rnn_type": "egru", "device": "cpu", "threshold_lr_scale": 1.0}


@pytest.mark.parametrize("argv", [["--threshold-init", "normal"], ["--rnn-type", "rnn"],
                                  ["--tie-weights", "maybe"], ["--prune-scope", "layer"]])
def test_bad_flag_values_are_rejected(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--data", "x", *argv])
    assert exit_info.value.code == 2
    assert f"argument {argv[0]}:" in capsys.readouterr().err


def test_every_flag_has_a_help_text():
    parser = build_parser()
    text = parser.format_help()
    for flag in ("--threshold-init {constant,beta}", "--rnn-type {egru,gru,lstm}", "--device DEVICE",
                 "--locked-dropout {true,false}", "--threshold-lr-scale"):
        assert flag in text, flag
    for action in parser._actions:
        assert action.help, action.dest
    assert "except the thresholds" in next(a.help for a in parser._actions if a.dest == "weight_decay")


def test_inconsistent_options_are_a_usage_error(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["--data", str(tmp_path), "--rnn-type", "gru", "--threshold-init", "beta"])
    assert exit_info.value.code == 2
    assert "threshold_init='beta' is an EGRU option" in capsys.readouterr().err


def test_the_documented_full_size_command_is_the_reference_recipe():
    import shlex
    from pathlib import Path
    text = (REPO_ROOT / "docs" / "lm-recipe.md").read_text()
    section = text.split("## 1.")[1].split("## 2.")[0]
    assert "not a flag" not in section and "not trainer flags" not in section
    command = section.split("```bash\n")[1].split("```")[0].split("\n#")[0].replace("\\\n", " ")
    argv = shlex.split(command)[3:]
    args = vars(build_parser().parse_args(argv))
    for name in ("data", "output_dir", "resume", "checkpoint_every", "max_steps", "no_progress", "no_test",
                 "backend"):
        args.pop(name)
    config = LMConfig(**args)
    assert {k: getattr(config, k) for k in REFERENCE_NEURON} == REFERENCE_NEURON
    assert (config.weight_decay, config.lr, config.clip, config.bptt, config.batch_size) == (0.1, 1.2e-3, 0.1, 70, 64)
    assert list(config.hidden_sizes) == [1350, 1350, 750] and config.embedding_size == 750 and config.tie_weights
    assert (config.dropout_words, config.dropout_embedding, config.dropout_between, config.dropconnect) == (
        0.1, 0.6, 0.25, 0.7)
    assert config.dropout_output == 0.5        # the reference LM's constructor default, set on no command line
    assert (config.epochs, config.cosine_fraction, config.rnn_type, config.device) == (1000, 0.3, "egru", "cuda")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_corpus(directory: Path) -> None:
    g = torch.Generator().manual_seed(5)
    words = [f"w{i}" for i in range(15)]
    directory.mkdir()
    for split, lines in (("train", 60), ("valid", 6), ("test", 6)):
        text = []
        for _ in range(lines):
            n = int(torch.randint(3, 12, (), generator=g))
            text.append(" ".join(words[int(i)] for i in torch.randint(0, 15, (n,), generator=g)))
        (directory / f"ptb.{split}.txt").write_text("\n".join(text) + "\n")


def test_ddp_two_ranks_equal_single_process_on_the_global_batch(tmp_path):
    _write_corpus(tmp_path / "corpus")
    args = ["--data", str(tmp_path / "corpus"), "--embedding-size", "8", "--hidden-sizes", "12", "8",
            "--epochs", "2", "--batch-size", "4", "--bptt", "9", "--lr", "0.01", "--clip", "0.5",
            "--weight-decay", "0.1", "--cosine-fraction", "0.5", "--no-progress", "--no-test",
            "--checkpoint-every", "4"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    env.pop("WORLD_SIZE", None)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--nnodes", "1",
               "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
               "-m", "egru.train_lm", *args, "--output-dir", str(tmp_path / "ddp")]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[:6000]
    assert main([*args, "--output-dir", str(tmp_path / "single")]) == 0
    ddp = torch.load(tmp_path / "ddp" / "model.pt")
    single = torch.load(tmp_path / "single" / "model.pt")
    assert ddp.keys() == single.keys()
    for key in single:
        torch.testing.assert_close(ddp[key], single[key], rtol=1e-4, atol=1e-5, msg=key)
    assert load_checkpoint(tmp_path / "ddp" / CHECKPOINT_NAME)["world_size"] == 2
    ddp_log = (tmp_path / "ddp" / LOG_NAME).read_text().splitlines()
    single_log = (tmp_path / "single" / LOG_NAME).read_text().splitlines()
    assert len(ddp_log) == len(single_log) == 2
    for a, b in zip(ddp_log, single_log):
        assert abs(json.loads(a)["train_loss"] - json.loads(b)["train_loss"]) < 1e-4


def test_every_numeric_trainer_field_has_an_explicit_type():
    for field in fields(LMConfig):
        value = field.default
        if isinstance(value, (tuple, list)):
            value = value[0]
        if value is None or isinstance(value, (bool, int, float)):
            assert field.name in train_lm.FLAG_TYPES, field.name


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "argument --epochs: must be a positive integer"),
    (["--lr", "nan"], "argument --lr: must be a finite number"),
    (["--lr=-1e-3"], "argument --lr: must be a finite number > 0"),
    (["--dropout-embedding", "1.0"], "argument --dropout-embedding: must be in [0, 1)"),
    (["--dropconnect", "-0.1"], "argument --dropconnect: must be in [0, 1)"),
    (["--prune-sparsity", "1"], "argument --prune-sparsity: must be in [0, 1)"),
    (["--batch-size", "0"], "argument --batch-size: must be a positive integer"),
    (["--hidden-sizes", "16", "0"], "argument --hidden-sizes: must be a positive integer"),
    (["--clip", "-1"], "argument --clip: must be a finite number >= 0"),
    (["--weight-decay", "inf"], "argument --weight-decay: must be a finite number"),
    (["--cosine-fraction", "1.5"], "argument --cosine-fraction: must be in [0, 1]"),
    (["--betas", "0.9"], "argument --betas: expected 2 arguments"),
    (["--betas", "0.9", "1.0"], "argument --betas: must be in [0, 1)"),
    (["--max-train-tokens", "1"], "argument --max-train-tokens: must be an integer >= 2"),
    (["--checkpoint-every", "-1"], "argument --checkpoint-every: must be a non-negative integer"),
    (["--seed", "-1"], "argument --seed: must be a non-negative integer"),
    (["--threshold", "0"], "argument --threshold: must be a finite number > 0"),
    (["--tie-weights", "on"], "argument --tie-weights: expected true or false"),
    (["--random-bptt", "maybe"], "argument --random-bptt: expected true or false"),
])
def test_trainer_rejects_nonsense_values(argv, message, capsys):
    code, _, err = exit_code(train_lm.main, ["--data", "x", *argv], capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_python_m_egru_train_lm_reports_one_line(tmp_path):
    data = small_corpus(tmp_path / "corpus", BAD_UTF8)
    proc = subprocess.run([sys.executable, "-m", "egru.train_lm", "--data", str(data), *TINY_LM], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2, proc.stderr
    one_error_line(proc.stderr, "line 3")


def test_resume_without_a_checkpoint_is_an_error(tmp_path, capsys):
    data = small_corpus(tmp_path / "corpus")
    code, out, err = exit_code(train_lm.main, ["--data", str(data), "--output-dir", str(tmp_path / "run"), "--resume",
                                               *TINY_LM], capsys)
    assert code == 2 and out == ""
    one_error_line(err, "--resume: no checkpoint", str(tmp_path / "run" / "checkpoint.pt"), "--resume-if-exists")
    code, _, err = exit_code(train_lm.main, ["--data", str(data), "--resume", *TINY_LM], capsys)
    assert code == 2
    one_error_line(err, "--resume needs --output-dir")


def test_resume_if_exists_starts_from_scratch_without_a_checkpoint(tmp_path, capsys):
    data = small_corpus(tmp_path / "corpus")
    run = tmp_path / "run"
    assert train_lm.main(["--data", str(data), "--output-dir", str(run), "--resume-if-exists", "--max-steps", "1",
                          *TINY_LM]) == 0
    assert (run / "model.pt").is_file()
    code, _, err = exit_code(train_lm.main, ["--data", str(data), "--resume", "--resume-if-exists", *TINY_LM], capsys)
    assert code == 2 and "not allowed with argument" in err


def test_resume_with_other_settings_or_a_foreign_checkpoint_is_one_error_line(tmp_path, capsys):
    data, run = small_corpus(tmp_path / "corpus"), tmp_path / "run"
    assert train_lm.main(["--data", str(data), "--output-dir", str(run), "--max-steps", "1", "--checkpoint-every",
                          "1", *TINY_LM]) == 0
    checkpoint = run / "checkpoint.pt"
    assert checkpoint.is_file()
    code, _, err = exit_code(train_lm.main, ["--data", str(data), "--output-dir", str(run), "--resume", "--lr", "0.5",
                                             *TINY_LM], capsys)
    assert code == 2
    one_error_line(err, "cannot resume", str(checkpoint), "settings differ", "lr")
    save_checkpoint(checkpoint, {"config": {}, "weights": torch.zeros(3)})  # a dict, but not this trainer's
    code, _, err = exit_code(train_lm.main, ["--data", str(data), "--output-dir", str(run), "--resume", *TINY_LM],
                             capsys)
    assert code == 2
    one_error_line(err, str(checkpoint), "not a training checkpoint", "model")


def test_every_trainer_option_has_a_help_text():
    for action in train_lm.build_parser()._actions:
        assert action.help, action.dest


def test_trainer_usage_errors_are_one_line(capsys):
    from egru.train_lm import main as train_main
    with pytest.raises(SystemExit) as info:
        train_main(["--data", "x", "--lr", "nan"])
    assert info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("egru: error: argument --lr"), lines


# --------------------------------------------------------------------------- issue 21: one error line, not a traceback


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_one_error_line(tmp_path, capsys):
    data = small_corpus(tmp_path / "corpus")
    code, _, err = exit_code(train_lm.main, ["--data", str(data), *TINY_LM, "--device", "cuda"], capsys)
    assert code == 2
    one_error_line(err, "device='cuda'", "no CUDA device", "use device='cpu'")


def test_a_model_too_large_for_the_memory_is_refused_before_it_is_allocated(tmp_path, capsys):
    data = small_corpus(tmp_path / "corpus")
    code, out, err = exit_code(train_lm.main, ["--data", str(data), *TINY_LM, "--embedding-size", "8",
                                               "--hidden-sizes", "200000", "8"], capsys)
    assert code == 2 and "epoch" not in out
    one_error_line(err, "training needs about 2.2 TB of memory", "120,011,000,329 parameters",
                   "cpu has", "available", "use smaller hidden_sizes")


def test_tied_weights_with_an_embedding_and_last_layer_that_differ_name_both_sizes(tmp_path, capsys):
    data = small_corpus(tmp_path / "corpus")
    for sizes in (["--embedding-size", "16", "--hidden-sizes", "8"], ["--hidden-sizes", "200000", "8"]):
        code, _, err = exit_code(train_lm.main, ["--data", str(data), *TINY_LM, *sizes], capsys)
        assert code == 2
        one_error_line(err, "tie_weights", "hidden_sizes[-1] = 8", "embedding_size = ", "must equal")


@pytest.mark.parametrize("corpus, argv, count", [
    (None, ["--batch-size", "5000"], 205),                                 # the batch larger than the corpus
    (b"a b\n", ["--batch-size", "2"], 3),                                 # one step per stream: no training step
    (None, ["--batch-size", "8", "--max-train-tokens", "10"], 10),
])
def test_a_corpus_too_short_for_one_training_step_is_one_error_line(tmp_path, capsys, corpus, argv, count):
    data = small_corpus(tmp_path / "corpus", corpus)
    code, out, err = exit_code(train_lm.main, ["--data", str(data), *TINY_LM, *argv], capsys)
    assert code == 2 and "train_loss" not in out
    one_error_line(err, f"{count} training tokens", "too few for batch size", "at least 2 tokens")


def test_resume_with_a_corpus_of_another_vocabulary_is_one_error_line(tmp_path, capsys):
    run = tmp_path / "run"
    first = small_corpus(tmp_path / "first")
    assert train_lm.main(["--data", str(first), "--output-dir", str(run), "--max-steps", "1", "--checkpoint-every",
                          "1", *TINY_LM]) == 0
    other = small_corpus(tmp_path / "other", b" ".join(b"v%d" % (i % 11) for i in range(200)) + b"\n")
    code, _, err = exit_code(train_lm.main, ["--data", str(other), "--output-dir", str(run), "--resume", *TINY_LM],
                             capsys)
    assert code == 2
    one_error_line(err, "cannot resume", str(run / CHECKPOINT_NAME), "vocabulary of 9 words", "this corpus has 13")


def test_a_full_disk_is_one_error_line_and_keeps_the_previous_model(tmp_path, small_disk, capsys):
    from tests.conftest import fill_disk

    data, run = small_corpus(tmp_path / "corpus"), small_disk / "run"
    assert train_lm.main(["--data", str(data), "--output-dir", str(run), *TINY_LM]) == 0
    model = (run / "model.pt").read_bytes()
    capsys.readouterr()
    fill_disk(small_disk)
    code, _, err = exit_code(train_lm.main, ["--data", str(data), "--output-dir", str(run), *TINY_LM, "--seed", "1"],
                             capsys)
    assert code == 2
    one_error_line(err, "no space left on device (", str(run))
    assert (run / "model.pt").read_bytes() == model
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def test_ctrl_c_is_one_line_and_exit_code_130(tmp_path):
    import signal

    data = small_corpus(tmp_path / "corpus")
    proc = subprocess.Popen([sys.executable, "-m", "egru.train_lm", "--data", str(data), *TINY_LM, "--epochs",
                             "100000", "--output-dir", str(tmp_path / "run")], cwd=REPO_ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=sigint_default_in_child)
    try:
        assert proc.stdout.readline().startswith("epoch 1 ")         # training is under way
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err == "egru: interrupted\n"
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]
