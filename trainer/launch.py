"""Build and run the torchrun command line for a resolved config (stdlib only)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def write_resolved(cfg: dict) -> Path:
    """Write the resolved config the workers read to <run_dir>/config.json."""
    run_dir = Path(cfg["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "config.json"
    path.write_text(json.dumps(cfg, indent=1))
    return path


def torchrun_command(config_json: Path, nproc: int, nnodes: int = 1, node_rank: int = 0,
                     master_addr: str | None = None, master_port: int = 29500) -> list[str]:
    """torchrun: standalone rendezvous on one node, static master address across nodes."""
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}"]
    if nnodes == 1:
        cmd.append("--standalone")
    else:
        if not master_addr:
            raise ValueError("--master-addr is required with --nnodes > 1")
        cmd += [f"--nnodes={nnodes}", f"--node-rank={node_rank}",
                f"--master-addr={master_addr}", f"--master-port={master_port}"]
    return cmd + ["-m", "trainer.worker", str(config_json)]


def run(cmd: list[str]) -> int:
    """Run torchrun in the foreground, streaming its output; return its exit code."""
    return subprocess.call(cmd)
