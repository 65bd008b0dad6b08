"""``autogtkd train``: train a generic teacher + supernet (or a baseline) into a run directory."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from autogtkd._config import read_yaml, to_dict
from autogtkd.exceptions import ConfigError

__all__ = ["register"]

_METHOD_HELP = (
    "a registered training method: gtn: generic teacher + supernet (default); vanilla: teacher with CE "
    "only; inplace: supernet with in-place distillation from its largest subnet; supernet-kd: vanilla "
    "teacher, then supernet distilled from it; sftn: one student-friendly teacher for --sftn-arch"
)


def register(sub: Any) -> None:
    """Add the ``train`` sub-command (the --method and --arch-loss choices are the registries' names)."""
    from autogtkd.gtn import list_arch_losses
    from autogtkd.train import list_methods

    p = sub.add_parser(
        "train",
        help="train a generic teacher and a student supernet (GTN) or a baseline into a run directory",
        description="Train with GTN (or a baseline) and write RUN/ with config.json, checkpoint.pt, "
        "metrics.jsonl/.csv and done.json. Re-running the same command resumes a killed run. Options "
        "on the command line override those of --config. Under torchrun every process runs it (data "
        "parallel; rank 0 writes).",
    )
    p.add_argument("--space", default="mbv3-cifar", metavar="NAME|FILE", help="search space (default mbv3-cifar)")
    p.add_argument("--dataset", default="digits", help="digits | cifar10 | cifar100 | imagefolder (default digits)")
    p.add_argument("--data-dir", metavar="PATH", help="dataset folder (CIFAR: cifar-10-batches-py or its parent)")
    p.add_argument("--image-size", type=int, help="image side in pixels (default: the space's input size)")
    p.add_argument("--subset", type=int, help="use at most this many train+val images")
    p.add_argument("--val-fraction", type=float, default=0.2, help="held-out validation share (default 0.2)")
    p.add_argument("--teacher", default="resnet20", help="registered teacher (default resnet20)")
    p.add_argument("--method", choices=list_methods(), help=_METHOD_HELP)
    p.add_argument("--config", metavar="YAML", help="TrainConfig as YAML (keys of autogtkd.train.TrainConfig)")
    p.add_argument("--epochs", type=int, help="epochs (default 30)")
    p.add_argument("--batch-size", type=int, help="batch size per process (default 64)")
    p.add_argument("--lr", type=float, help="peak SGD learning rate (default 0.05)")
    p.add_argument("--paths", type=int, help="GTN: student paths per step (default 4)")
    p.add_argument(
        "--sandwich", action="store_true", default=None, help="GTN: also train smallest and largest each step"
    )
    p.add_argument(
        "--arch-loss",
        choices=list_arch_losses(),
        help="GTN: architecture-loss mode, a registered name (default uniform)",
    )
    p.add_argument("--cond-weight", type=float, help="GTN: λ_c, weight of the conditioning loss (default 1)")
    p.add_argument(
        "--full-path",
        choices=("off", "distill", "mutual"),
        help="GTN: the full student path's term (default distill: learns from the detached teacher)",
    )
    p.add_argument(
        "--kl-direction", choices=("forward", "reverse"), help="GTN: KL(teacher‖student) or KL(student‖teacher)"
    )
    p.add_argument(
        "--detach-teacher", action="store_true", default=None, help="GTN: the conditioning loss moves only the students"
    )
    p.add_argument("--pool", metavar="ARCHS.json", help="GTN: explicit pool, a JSON list of architectures")
    p.add_argument("--sftn-arch", metavar="ARCH.json", help="sftn: the student architecture (JSON object)")
    p.add_argument("--max-steps-per-epoch", type=int, help="cut epochs short (quick runs)")
    p.add_argument("--seed", type=int, help="seed of initialisation, data order and sampling (default 0)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), help="device (default auto)")
    p.add_argument("--no-amp", action="store_true", help="disable mixed precision on GPUs")
    p.add_argument("--threads", type=int, help="torch CPU threads while training (1 is fastest on a shared CPU)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--out", required=True, metavar="RUN", help="run directory to write (or resume)")
    p.set_defaults(func=_train)


def _read_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} {path} is not valid JSON: {exc.msg}") from None


def _train(args: argparse.Namespace) -> int:
    from autogtkd.space import load_space
    from autogtkd.train import DatasetSpec, train, train_config_from_dict

    base: dict[str, Any] = {}
    if args.config:
        data = read_yaml(args.config)
        if not isinstance(data, dict):
            raise ConfigError(f"{args.config}: expected a mapping of TrainConfig keys")
        base = data
    cfg = train_config_from_dict(base, where=args.config or "train")
    top = {
        k: v
        for k, v in {
            "method": args.method,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "device": args.device,
            "threads": args.threads,
            "max_steps_per_epoch": args.max_steps_per_epoch,
        }.items()
        if v is not None
    }
    if args.no_amp:
        top["amp"] = False
    if args.sftn_arch:
        top["sftn_arch"] = _read_json(args.sftn_arch, "architecture file")
    gtn = {
        k: v
        for k, v in {
            "paths": args.paths,
            "sandwich": args.sandwich,
            "arch_loss": args.arch_loss,
            "cond_weight": args.cond_weight,
            "full_path": args.full_path,
            "kl_direction": args.kl_direction,
            "detach_teacher": args.detach_teacher,
        }.items()
        if v is not None
    }
    if args.pool:
        pool = _read_json(args.pool, "pool file")
        if not isinstance(pool, list):
            raise ConfigError(f"pool file {args.pool} must hold a JSON list of architectures")
        gtn["pool"] = pool
    merged = to_dict(cfg)
    merged.update(top)
    merged["gtn"].update(gtn)
    if args.lr is not None:
        merged["optim"]["lr"] = args.lr
    cfg = train_config_from_dict(merged, where="train options")
    image_size = args.image_size or load_space(args.space).input_size
    spec = DatasetSpec(
        name=args.dataset,
        data_dir=args.data_dir,
        image_size=image_size,
        val_fraction=args.val_fraction,
        seed=cfg.seed,
        subset=args.subset,
    )
    out = train(
        args.out,
        space=args.space,
        dataset=spec,
        teacher=args.teacher,  # train() drops it for methods without a teacher (inplace)
        config=cfg,
        progress=not args.no_progress,
    )
    done = json.loads((out / "done.json").read_text(encoding="utf-8"))
    final = {k: v for k, v in done.get("final", {}).items() if k.startswith("val_top1")}
    shown = ", ".join(f"{k}={100 * v:.1f}%" for k, v in final.items())
    print(f"run {out}: {cfg.method}, {done['wall_time_s']:.0f} s" + (f"; {shown} (validation split)" if shown else ""))
    return 0
