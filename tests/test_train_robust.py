"""Trainer robustness: per-group weight decay, verified checkpoints with fallback, explicit
checkpoint.load, checkpoint.keep, graceful SIGINT/SIGTERM, one-line config/data errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from trainer import cli
from trainer_helpers import ROOT, losses, make_blend, run_train, tiny_config

pytestmark = [pytest.mark.train, pytest.mark.timeout(400)]


@pytest.fixture(scope="module")
def blend(tmp_path_factory):
    return make_blend(tmp_path_factory.mktemp("robust") / "data", [
        {"name": "general", "tokens": 1024, "weights": {"a": 1.0}},
        {"name": "anneal", "tokens": 1024, "weights": {"a": 0.5, "b": 0.5}}], docs=200)


def _dry(config, *args):
    return CliRunner().invoke(cli.train_command, [str(config), "--dry-run", *args])


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text, text[-3000:]


# --- one-line errors, before launch -------------------------------------------------------

@pytest.mark.parametrize("override,message", [
    ("training.lr=abc", "training.lr must be a number, got 'abc'"),
    ("training.train_iters=1.5", "training.train_iters must be a whole number, got 1.5"),
    ("eval.tokens=[1]", "eval.tokens must be a whole number"),
    ("training.lr=!!python/object/apply:os.system [true]", "training.lr="),
])
def test_bad_override_names_the_key(tmp_path, blend, override, message):
    r = _dry(tiny_config(tmp_path, blend), override)
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.output
    assert message in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_python_tag_in_config_is_refused(tmp_path, blend):
    cfg = tiny_config(tmp_path, blend)
    marker = tmp_path / "pwned"
    cfg.write_text(cfg.read_text() + f"name: !!python/object/apply:os.system ['touch {marker}']\n")
    r = _dry(cfg)
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.output
    assert f"{cfg}:" in r.output and "python/object/apply:os.system" in r.output
    assert len(r.output.strip().splitlines()) == 1 and not marker.exists()


def test_truncated_bin_in_the_blend_is_named(tmp_path):
    path = make_blend(tmp_path / "data", [{"name": "m", "tokens": 1000, "weights": {"a": 1.0}}],
                      sources=("a",), docs=50, split="100,0,0")
    binf = tmp_path / "data/tokens/a.bin"
    binf.write_bytes(binf.read_bytes()[:-10])
    r = _dry(tiny_config(tmp_path, path))
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.output
    assert f"{binf} is truncated" in r.output and len(r.output.strip().splitlines()) == 1


def test_plan_that_cuts_the_phases_warns_and_strict_refuses(tmp_path, blend):
    cfg = tiny_config(tmp_path, blend)  # train_iters 6; phases budget 4 + 4 iterations
    r = _dry(cfg)
    assert r.exit_code == 0, r.output
    assert "plan: general iterations 0-4, anneal iterations 4-6" in r.output
    assert "WARNING: phase 'anneal' is cut to 2 of its 4 budgeted iterations" in r.output
    r = _dry(cfg, "training.train_iters=12")
    assert "WARNING: phase 'anneal' is stretched to 8 iterations (budget 4)" in r.output
    r = _dry(cfg, "--strict")
    assert r.exit_code == 1 and "--strict refuses" in r.output
    assert "WARNING" not in _dry(cfg, "training.train_iters=null").output  # the blend's plan


def test_cpu_threads_per_process(monkeypatch):
    from trainer.launch import worker_env

    cores = len(os.sched_getaffinity(0))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert worker_env(False, 1)["OMP_NUM_THREADS"] == str(cores)
    assert worker_env(False, 1)["OMP_WAIT_POLICY"] == "PASSIVE"
    assert worker_env(False, 2 * cores)["OMP_NUM_THREADS"] == "1"
    assert "OMP_NUM_THREADS" not in worker_env(True, 1)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert worker_env(False, 1)["OMP_NUM_THREADS"] == "3"  # the user's choice stays


def test_cpu_log_line_has_no_mfu():
    from trainer.metrics import format_row

    row = {"iteration": 1, "consumed_tokens": 10, "phase": "m", "loss": 1.0, "lr": 1e-3,
           "grad_norm": 1.0, "tokens_per_s": 5.0, "mfu": None}
    assert "mfu" not in format_row(row)
    assert "mfu 12.5%" in format_row({**row, "mfu": 0.125})


# --- weight decay --------------------------------------------------------------------------

GROUPS = r"""
import json, sys
from trainer import worker, model as model_mod
from trainer.config import load_raw, resolve
cfg = resolve(load_raw(sys.argv[1]), world_size=1, cuda=False)
worker.setup_distributed(cfg)
model = model_mod.build_model(cfg)
opt = worker.build_optimizer(cfg, model)
names = {id(p): n for n, p in model[0].module.named_parameters()}
print(json.dumps([{"weight_decay": g["weight_decay"], "lr": g["lr"],
                   "params": [[names[id(p)], p.dim()] for p in g["params"]]}
                  for g in opt.param_groups]))
"""


@pytest.mark.slow
def test_norms_get_no_weight_decay(tmp_path, blend):
    cfg = tiny_config(tmp_path, blend, training={"weight_decay": 0.05})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(port), PYTHONWARNINGS="ignore")
    r = subprocess.run([sys.executable, "-c", GROUPS, str(cfg)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    groups = json.loads(r.stdout.strip().splitlines()[-1])
    decay = {name: (g["weight_decay"], dim) for g in groups for name, dim in g["params"]}
    norms = [n for n, (_, dim) in decay.items() if dim == 1]  # RMSNorm weights (no biases)
    assert len(norms) == 2 * 4 + 1 and all("layernorm" in n for n in norms), norms
    assert all(decay[n][0] == 0.0 for n in norms), decay
    matrices = [n for n, (_, dim) in decay.items() if dim == 2]
    assert len(matrices) > 10 and all(decay[n][0] == 0.05 for n in matrices), decay


# --- checkpoints ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory, blend):
    """4 iterations with checkpoints at 2 and 4."""
    tmp = tmp_path_factory.mktemp("ckpt")
    cfg = tiny_config(tmp, blend, training={"train_iters": 4}, checkpoint={"interval": 2},
                      eval={"interval": 0})
    r = run_train(cfg)
    assert r.returncode == 0, r.stdout + r.stderr
    return {"cfg": cfg, "run": tmp / "run", "ck": tmp / "run/checkpoints"}


@pytest.mark.slow
def test_truncated_latest_checkpoint_falls_back_then_keep_and_load(trained):
    ck = trained["ck"]
    assert (ck / "latest").read_text().strip() == "4"
    biggest = max((f for f in (ck / "iter_0000004").rglob("*") if f.is_file()),
                  key=lambda f: f.stat().st_size)
    biggest.write_bytes(biggest.read_bytes()[: biggest.stat().st_size // 2])
    r = run_train(trained["cfg"], "training.train_iters=6", "checkpoint.keep=2")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    _no_traceback(out)
    assert f"checkpoint unusable: {biggest} has" in r.stdout and "(truncated?)" in r.stdout
    assert f"resuming from the previous complete checkpoint {ck / 'iter_0000002'}" in r.stdout
    assert f"resumed from {ck / 'iter_0000002'}: iteration 2" in r.stdout
    assert len(losses(trained["run"])) == 6  # rows 3-4 redone after the fallback
    # keep: 2 -> the two newest remain (iteration 4 was rewritten whole by the new run)
    assert sorted(p.name for p in ck.glob("iter_*")) == ["iter_0000004", "iter_0000006"]
    assert f"removed checkpoint {ck / 'iter_0000002'} (checkpoint.keep=2)" in r.stdout

    # an explicit checkpoint.load wins over latest (6)
    r = run_train(trained["cfg"], "training.train_iters=6", f"checkpoint.load={ck / 'iter_0000004'}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"resumed from {ck / 'iter_0000004'}: iteration 4" in r.stdout
    assert f"wins over this run's latest checkpoint {ck / 'iter_0000006'}" in r.stdout

    # a damaged explicit checkpoint is an error naming the file, not a silent substitute
    data = bytearray(biggest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    biggest.write_bytes(bytes(data))
    r = run_train(trained["cfg"], "training.train_iters=6", f"checkpoint.load={ck / 'iter_0000004'}")
    assert r.returncode == 2
    _no_traceback(r.stdout + r.stderr)
    assert f"ERROR: checkpoint.load: {biggest} does not match its checksum" in r.stdout


# --- signals -------------------------------------------------------------------------------

@pytest.mark.parametrize("sig,nproc", [(signal.SIGINT, 2), (signal.SIGTERM, 1)],
                         ids=["sigint-2proc", "sigterm-1proc"])
@pytest.mark.slow
def test_signal_saves_at_the_next_step_and_exits_cleanly(tmp_path, blend, sig, nproc):
    cfg = tiny_config(tmp_path, blend, training={"train_iters": 400}, eval={"interval": 0})
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "trainer", str(cfg), "--nproc", str(nproc)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    seen = []
    deadline = time.time() + 300
    for line in proc.stdout:  # wait until training runs
        seen.append(line)
        if line.startswith("iter      2 ") or time.time() > deadline:
            break
    os.kill(proc.pid, sig)  # what a terminal's Ctrl-C or a scheduler's SIGTERM reaches
    rest, _ = proc.communicate(timeout=300)
    out = "".join(seen) + rest
    assert proc.returncode == (130 if sig == signal.SIGINT else 143), out
    _no_traceback(out)
    stops = [x for x in out.splitlines() if x.startswith("stopped by")]
    assert len(stops) == 1 and f"stopped by {sig.name} at iteration" in stops[0], out
    it = int(stops[0].split("at iteration ")[1].split(":")[0])
    ck = Path(tmp_path / "run/checkpoints")
    assert 2 < it < 400 and (ck / "latest").read_text().strip() == str(it)
    assert f"saved checkpoint {ck / f'iter_{it:07d}'}" in stops[0]
    assert "done in" not in out
