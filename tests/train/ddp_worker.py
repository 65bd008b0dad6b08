"""Run by tests/train/test_ddp.py under ``torchrun --nproc_per_node 2`` (gloo, CPU)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared _helpers module

from _helpers import SPEC, tiny_config, tiny_space

from autogtkd.data import load_data
from autogtkd.gtn import GTNConfig
from autogtkd.train import (
    _run,
    init_distributed,
    train,
)


def main(out: str) -> None:
    ctx = init_distributed("cpu")
    assert ctx.world_size == 2, ctx
    # gradient averaging: rank r holds gradient r+1 -> both hold 1.5 afterwards
    p = torch.nn.Parameter(torch.zeros(3))
    p.grad = torch.full((3,), float(ctx.rank + 1))
    ctx.sync_grads([p])
    assert torch.allclose(p.grad, torch.full((3,), 1.5)), p.grad

    captured, initial = {}, {}
    original = _run.build_models

    def capture(*a, **k):
        models = original(*a, **k)
        captured.update(models)
        initial.update({n: [p.detach().clone() for p in m.parameters()] for n, m in models.items()})
        return models

    _run.build_models = capture
    data = load_data(
        SPEC.name, image_size=SPEC.image_size, val_fraction=SPEC.val_fraction, seed=SPEC.seed, subset=SPEC.subset
    )
    train(
        out,
        space=tiny_space(),
        dataset=SPEC,
        teacher="resnet8",
        data=data,
        progress=False,
        config=tiny_config(epochs=1, gtn=GTNConfig(paths=1)),
    )
    # every rank ends with the same parameters (same init, averaged gradients, same sampled paths)
    flat = torch.cat([p.detach().reshape(-1) for m in captured.values() for p in m.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(2)]
    dist.all_gather(gathered, flat)
    if ctx.rank == 0:
        Path(out, "ddp.json").write_text(
            json.dumps(
                {
                    "world_size": ctx.world_size,
                    "params_equal": bool(torch.allclose(gathered[0], gathered[1], atol=1e-6)),
                    "params_moved": {  # per module: did training change any of its parameters
                        n: any(not torch.equal(p0, p.detach()) for p0, p in zip(initial[n], m.parameters()))
                        for n, m in captured.items()
                    },
                }
            )
        )
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
