"""Tiny networks, model files and photo folders for the feed-forward tests."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from conftest import make_gradient_image
from painterly.models import ModelInfo, TransformerConfig, TransformerNet, save_model

TINY = TransformerConfig(variant="tiny", channels=(4, 8, 8), residual_blocks=1, outer_kernel=3)


def tiny_net(seed: int = 0) -> TransformerNet:
    """A tiny network whose norm layers are perturbed, so statistics and affine terms matter."""
    torch.manual_seed(seed)
    net = TransformerNet(TINY)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    return net.eval()


def tiny_model_file(folder: Path, seed: int = 0, half: bool = False) -> Path:
    return save_model(tiny_net(seed), folder / "tiny.safetensors", ModelInfo(TINY, name="tiny"), half=half)


def tiny_checkpoint_file(folder: Path, seed: int = 1) -> Path:
    """A checkpoint of a tiny training run, as ``painterly train`` writes into ``RUN/checkpoints/``."""
    from painterly.train.checkpoints import Checkpoint, checkpoint_path, save_checkpoint
    from painterly.train.config import TrainConfig

    config = TrainConfig(style="starry-night", data=str(folder), out=str(folder / "tiny.safetensors"), network=TINY)
    path = checkpoint_path(config.run_path(), 5)
    state = {name: value.clone() for name, value in tiny_net(seed).state_dict().items()}
    save_checkpoint(path, Checkpoint(5, 1.5, state, {}, torch.get_rng_state(), {"total": 2.0}), config)
    return path


def tiny_torchscript_file(folder: Path) -> Path:
    """A tiny model exported to TorchScript, as ``painterly export --format torchscript`` writes it."""
    from painterly.export import export_model

    return export_model(tiny_model_file(folder), folder / "tiny.pt", format="torchscript", check=False)


def photo_folder(folder: Path, count: int = 8) -> Path:
    """``count`` small generated photos in nested folders."""
    for index in range(count):
        sub = folder / ("a" if index % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        pixels = make_gradient_image(40 + index, 48 + 2 * index, seed=index)
        Image.fromarray(pixels).save(sub / f"photo{index}.png")
    return folder




def run_method(method: str, content: Image.Image, styles: list, *, device: torch.device = torch.device("cpu"),
               progress=None, feature_network=None, **options) -> Image.Image:  # fmt: skip
    """One image through a registered method, as every interface runs it (the registry's resolver)."""
    from painterly.registry import create_stylizer

    model = options.pop("model", None)
    stylizer = create_stylizer(method, model=model, paintings=styles, options=options, device=device,
                               feature_network=feature_network)  # fmt: skip
    return stylizer.stylize_image(content, progress)
