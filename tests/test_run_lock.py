"""One run per output folder: a second run stops at once and names the first."""
from __future__ import annotations

import json
import os
import socket
import time

import pytest

from conftest import read_stats, run_garden, write_jsonl, write_recipe
from garden.run_lock import Holder, LockedError, RunLock


def _recipe(tmp_path):
    path = write_jsonl(tmp_path / "in" / "a.jsonl", [{"id": str(i), "text": "a few words here"} for i in range(10)])
    return write_recipe(tmp_path, [{"length_filter": {"min_words": 1}}], [{"path": path, "source": "a"}])


@pytest.mark.slow
def test_second_run_on_a_locked_folder_stops_at_once_naming_the_first(tmp_path):
    recipe = _recipe(tmp_path)
    run_garden("run", recipe, "-q")
    out = tmp_path / "out"
    stats_before = (out / "stats.json").read_bytes()
    with RunLock(str(out)):
        proc = run_garden("run", recipe, "-q", "--no-resume", check=False)
    assert proc.returncode == 2
    assert f"pid {os.getpid()} on {socket.gethostname()}" in proc.stderr and "Traceback" not in proc.stderr
    assert (out / "stats.json").read_bytes() == stats_before  # --no-resume removed nothing
    run_garden("run", recipe, "-q")  # released: the next run goes on


@pytest.mark.slow
def test_lock_of_a_dead_run_is_taken_over_with_a_message(tmp_path):
    recipe = _recipe(tmp_path)
    run_garden("run", recipe, "-q")
    out = tmp_path / "out"
    dead = Holder(pid=999999, host="gone-host", started=time.time() - 60)
    (out / ".garden-lock").write_bytes(dead.encode())  # written, never released: the holder died
    proc = run_garden("run", recipe)
    assert "taking over the lock" in proc.stderr + proc.stdout and "pid 999999 on gone-host" in proc.stderr + proc.stdout
    assert read_stats(out)["accounting_ok"]


def test_lease_on_an_object_store_refuses_a_live_holder_and_takes_over_a_stale_one(tmp_path, monkeypatch):
    import garden.run_lock as rl

    monkeypatch.setattr(rl, "SETTLE_S", 0.0)
    root = f"file://{tmp_path}/bucket/run"
    os.makedirs(tmp_path / "bucket" / "run")
    lease = tmp_path / "bucket" / "run" / ".garden-lock"
    live = Holder(pid=1, host="other", started=time.time(), heartbeat=time.time(), token="other")
    lease.write_bytes(live.encode())
    with pytest.raises(LockedError, match="pid 1 on other"):
        RunLock(root).__enter__()
    stale = Holder(pid=1, host="other", started=0, heartbeat=time.time() - rl.LEASE_S - 5, token="other")
    lease.write_bytes(stale.encode())
    messages = []
    with RunLock(root, messages.append):
        assert json.loads(lease.read_bytes())["pid"] == os.getpid()
        with pytest.raises(LockedError):
            RunLock(root).__enter__()
    assert any("taking over the lease" in m for m in messages)
    assert not lease.exists()  # released
    killed = Holder(pid=999999, host=socket.gethostname(), started=time.time(), heartbeat=time.time(), token="k")
    lease.write_bytes(killed.encode())  # fresh, but its process on this host is gone (kill -9)
    with RunLock(root, messages.append):
        assert json.loads(lease.read_bytes())["pid"] == os.getpid()
