"""Build models with megatron-core on CPU (one gloo process) and report what they hold.

Run as a script by tests/test_plan_memory.py so megatron's global state stays out of pytest:
  python tests/plan_probe.py BLEND.json '[{"preset": "tiny"}, ...]'
prints one JSON object per model: parameter count, and the bytes of the weights, the DDP
gradient buffers and the optimizer states after one (zero-gradient) Adam step.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import warnings


def main(blend: str, models: list[dict]) -> None:
    import torch

    from trainer.config import resolve
    from trainer.worker import build_optimizer, setup_distributed

    warnings.filterwarnings("ignore")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0", WORLD_SIZE="1",
                      LOCAL_RANK="0")
    from megatron.core import parallel_state as ps

    from trainer import model as model_mod

    for i, m in enumerate(models):
        cfg = resolve({"model": m, "data": {"blend": blend},
                       "training": {"seq_len": 32, "micro_batch": 1, "global_batch": 1}},
                      world_size=1, cuda=False)
        if i == 0:
            setup_distributed(cfg)
        chunks = model_mod.build_model(cfg)
        opt = build_optimizer(cfg, chunks)
        params = [p for c in chunks for p in c.module.parameters()]
        for c in chunks:
            c.zero_grad_buffer()
        opt.step()  # Adam creates its states lazily, on the first step
        grad_bytes = sum(b.grad_data.numel() * b.grad_data.element_size()
                         for c in chunks for b in c.buffers)
        state_bytes = 0
        for st in opt.optimizer.state.values():
            for v in st.values():
                if torch.is_tensor(v):
                    state_bytes += v.numel() * v.element_size()
        print(json.dumps({"model": cfg["model"], "params": sum(p.numel() for p in params),
                          "weight_bytes": sum(p.numel() * p.element_size() for p in params),
                          "grad_bytes": grad_bytes, "optimizer_bytes": state_bytes}), flush=True)
        del chunks, opt
    ps.destroy_model_parallel()
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]))
