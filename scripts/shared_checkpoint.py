"""Keep a long training resumable across sessions with a small committed checkpoint: the shared
network's pre-training, or (``--network anystyle``) the any-painting network's.

    python scripts/shared_checkpoint.py pack /work/runs/shared      # latest checkpoint → checkpoints/
    python scripts/shared_checkpoint.py unpack /work/runs/shared    # checkpoints/ → the run folder, then --resume
    python scripts/shared_checkpoint.py pack /work/runs/anystyle/anystyle.run --network anystyle
    python scripts/shared_checkpoint.py pack /work/runs/photo2impressionism.run --network gan

``pack`` writes ``checkpoints/shared-step-NNNNNN.pt`` (weights in fp16, Adam's moments in bf16:
its second moments reach 1e-10 and below, which fp16 flushes to zero and which would blow up the
first steps after resuming; random generator states and step count as they were) and
``painterly/models/shared/shared.safetensors`` (shipped in the package), the model file
``--init shared`` starts from, with the style
table (``--network anystyle``: ``checkpoints/anystyle-step-NNNNNN.pt`` and
``painterly/models/shared/anystyle.safetensors``, the network of the anystyle method;
``--network gan``: ``checkpoints/gan-step-NNNNNN.pt`` of a ``painterly gan train`` run, nothing
shipped, see :func:`_pack_gan_extra`). ``unpack`` puts the packed checkpoint into a run folder as its latest checkpoint, so
``painterly train --styles … --resume`` goes on from it (from fp16-rounded weights: not
bit-identical to the uninterrupted run, but the same run).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

import torch

from painterly.models.files import ModelInfo, save_model
from painterly.models.transformer import TransformerConfig, TransformerNet
from painterly.train.checkpoints import checkpoint_path, checkpoint_paths
from painterly.train.photos import pick_paintings
from painterly.train.styles import SHARED_MODEL, StylesConfig

REPO = Path(__file__).resolve().parents[1]
FOLDER = REPO / "checkpoints"


def _cast(value, dtype):
    """Floating tensors of a nested state to ``dtype``; everything else as it is."""
    if isinstance(value, torch.Tensor):
        return value.to(dtype) if value.is_floating_point() and value.dim() > 0 else value
    if isinstance(value, dict):
        return {key: _cast(item, dtype) for key, item in value.items()}
    if isinstance(value, list):
        return [_cast(item, dtype) for item in value]
    return value


def config_of(data: dict) -> StylesConfig:
    known = {item.name for item in fields(StylesConfig)}
    values = {key: tuple(value) if isinstance(value, list) else value for key, value in data.items() if key in known}
    if values.get("network") is not None:
        values["network"] = TransformerConfig.from_dict(values["network"])
    return StylesConfig(**values)


def pack(run_dir: Path, network: str = "shared") -> None:
    paths = checkpoint_paths(run_dir)
    if not paths:
        raise SystemExit(f"no checkpoints in {run_dir}")
    data = torch.load(paths[-1], map_location="cpu", weights_only=True)
    data["model"] = _cast(data["model"], torch.float16)
    data["optimizer"] = _cast(data["optimizer"], torch.bfloat16)
    FOLDER.mkdir(exist_ok=True)
    for old in FOLDER.glob(f"{network}-step-*.pt"):
        old.unlink()
    target = FOLDER / f"{network}-step-{data['step']:06d}.pt"
    if network == "gan":
        data["extra"] = _pack_gan_extra(data["extra"])
    torch.save(data, target)
    if network == "anystyle":
        return _ship_anystyle(data, target)
    if network == "gan":
        print(f"wrote {target.relative_to(REPO)} ({target.stat().st_size / 1e6:.2f} MB) at step {data['step']}; "
              f"losses {json.dumps(data['losses'])}")  # fmt: skip
        return None

    config = config_of(data["config"])
    paintings = pick_paintings(config.styles)
    net = TransformerNet(config.network_config(len(paintings)))
    net.load_state_dict({key: value.float() for key, value in data["model"].items()})
    table = [{"name": p.name, "credit": p.credit, "file": p.path.name} for p in paintings]
    record = {"steps": data["step"], "seconds": data["seconds"], "losses": data["losses"], "checkpoint": target.name}
    training = {**config.to_dict(), "data": "train-photos (held-out share excluded)"}
    save_model(net, SHARED_MODEL, ModelInfo(net.config, training, record, "shared", table))
    print(f"wrote {target.relative_to(REPO)} ({target.stat().st_size / 1e6:.2f} MB) and {SHARED_MODEL.relative_to(REPO)} "
          f"at step {data['step']}; losses {json.dumps(data['losses'])}")


def _pack_gan_extra(extra: dict) -> dict:
    """A CycleGAN run's discriminators as the generators (weights fp16, Adam's moments bf16), and its
    pools of past fakes empty: 50 full-size crops a domain would be most of the file, and the pools
    fill again from the next 50 steps' fakes."""
    packed = {}
    for key, value in extra.items():
        if key.startswith("judge_"):
            packed[key] = {"weights": _cast(value["weights"], torch.float16), "optimizer": _cast(value["optimizer"], torch.bfloat16)}
        elif key.startswith("pool_"):
            packed[key] = {"images": torch.zeros(0)}
        else:
            packed[key] = value
    return packed


def _ship_anystyle(data: dict, target: Path) -> None:
    """The packed any-painting checkpoint as the shipped model file."""
    from painterly.models.anystyle import AnyStyleInfo, AnyStyleNet, PredictorConfig, save_anystyle
    from painterly.models.lookup import SHIPPED_ANYSTYLE
    from painterly.models.transformer import variant_config
    from painterly.train.anystyle import AnyStyleConfig

    known = {item.name for item in fields(AnyStyleConfig)}
    config = AnyStyleConfig(**{key: tuple(value) if isinstance(value, list) else value
                               for key, value in data["config"].items() if key in known})  # fmt: skip
    state = {key.removeprefix("module."): value.float() for key, value in data["model"].items()}
    network = variant_config(config.variant, styles=config.styles)
    net = AnyStyleNet(network, PredictorConfig(hidden=config.hidden, styles=config.styles))
    net.load_state_dict(state)
    record = {"steps": data["step"], "seconds": data["seconds"], "losses": data["losses"], "checkpoint": target.name}
    training = {**config.to_dict(), "data": "train-photos (held-out share excluded)"}
    save_anystyle(net, SHIPPED_ANYSTYLE, AnyStyleInfo(network, net.predictor.config, training, record))
    print(f"wrote {target.relative_to(REPO)} ({target.stat().st_size / 1e6:.2f} MB) and {SHIPPED_ANYSTYLE.relative_to(REPO)} "
          f"at step {data['step']}; losses {json.dumps(data['losses'])}")


def unpack(run_dir: Path, network: str = "shared") -> None:
    packed = sorted(FOLDER.glob(f"{network}-step-*.pt"))
    if not packed:
        raise SystemExit("no packed checkpoint in checkpoints/")
    data = torch.load(packed[-1], map_location="cpu", weights_only=True)
    target = checkpoint_path(run_dir, data["step"])
    if target.exists():
        raise SystemExit(f"{target} exists already: the run folder is at least as far")
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, target)  # loading casts the weights and moments back to float32
    command = {"anystyle": "train-anystyle", "gan": "gan train"}.get(network, "train --styles …")
    print(f"wrote {target}: resume with painterly {command} --run-dir {run_dir} --resume")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["pack", "unpack"])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--network", choices=["shared", "anystyle", "gan"], default="shared")
    args = parser.parse_args()
    (pack if args.action == "pack" else unpack)(args.run_dir, args.network)


if __name__ == "__main__":
    main()
