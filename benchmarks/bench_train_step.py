"""Training images/s of the style recipe, one saving at a time.

Each row adds one change to the one before, starting from the former recipe (VGG19 up to relu5_1,
the painting's Gram matrices recomputed every step, 256 px crops, fp32):

    PYTHONPATH=. python benchmarks/bench_train_step.py [--steps 4] [--batch-size 4] [--threads 2]

Real VGG19 weights, the light network with conditional instance norm over ``--styles`` paintings,
random photo crops of the shared training photos (none of the held-out ones).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import torch

from painterly.devices import autocast
from painterly.features import load_vgg19
from painterly.losses import total_variation
from painterly.models.transformer import TransformerNet, variant_config
from painterly.train.photos import list_paintings, training_photos, default_photo_folder
from painterly.train.styles import VaryingCrops, _load_painting, content_distance, painting_targets, style_distance


@dataclass
class Setting:
    label: str
    deepest: str  # last VGG19 layer built and run
    targets_once: bool
    crop: int
    bf16_channels_last: bool


SETTINGS = [
    Setting("former: relu5_1, targets every step, 256 px, fp32", "relu5_1", False, 256, False),
    Setting("loss network cut at relu4_1", "relu4_1", False, 256, False),
    Setting("+ style targets once per painting", "relu4_1", True, 256, False),
    Setting("+ 160 px crops (128–192 range)", "relu4_1", True, 160, False),
    Setting("+ bf16 + channels-last", "relu4_1", True, 160, True),
]


def measure(setting: Setting, steps: int, batch_size: int, paintings: list, photos: list) -> float:
    device = torch.device("cpu")
    style_layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1"] + (["relu5_1"] if setting.deepest == "relu5_1" else [])
    content_layers = ["relu2_2"]
    dtype = torch.bfloat16 if setting.bf16_channels_last else torch.float32
    layout = torch.channels_last if setting.bf16_channels_last else torch.contiguous_format
    vgg = load_vgg19(last_layer=setting.deepest, device=device).to(memory_format=layout)
    torch.manual_seed(0)
    net = TransformerNet(variant_config("light", styles=len(paintings))).to(memory_format=layout)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    images = [_load_painting(p.path, 384 if setting.crop < 256 else 512, device) for p in paintings]
    targets = painting_targets(vgg, images, style_layers, "gram", dtype) if setting.targets_once else None
    crops = VaryingCrops(photos, sizes=[setting.crop], batch_size=batch_size, steps=steps + 1)
    batches = [crops[k].images.contiguous(memory_format=layout) for k in range(steps + 1)]
    elapsed = 0.0
    for k, content in enumerate(batches):
        start = time.perf_counter()
        index = torch.randint(len(paintings), (batch_size,))
        step_targets = targets
        if step_targets is None:  # the former recipe: the paintings through VGG19 again, every step
            used = sorted(set(index.tolist()))
            step_targets = painting_targets(vgg, [images[i] for i in used], style_layers, "gram", dtype)
            index = torch.tensor([used.index(i) for i in index.tolist()])
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad(), autocast(device, dtype):
            content_targets = {k2: v.float() for k2, v in vgg(content, content_layers).items()}
        with autocast(device, dtype):
            output = net(content, index)
            features = vgg(output, sorted(set(style_layers + content_layers), key=vgg.layer_names.index))
        loss = content_distance(features, content_targets) + 10 * style_distance(features, step_targets, index, "gram")
        loss = loss + 0.05 * total_variation(output.float())
        loss.backward()
        optimizer.step()
        if k > 0:  # the first step warms up oneDNN
            elapsed += time.perf_counter() - start
    return steps * batch_size / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--styles", type=int, default=8, help="paintings in the multi-style network")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    paintings = list_paintings()[:: max(1, 244 // args.styles)][: args.styles]
    photos = training_photos(default_photo_folder())
    baseline = None
    for setting in SETTINGS:
        speed = measure(setting, args.steps, args.batch_size, paintings, photos)
        baseline = baseline or speed
        print(f"{setting.label:55s} {speed:6.2f} images/s  ×{speed / baseline:.2f}", flush=True)


if __name__ == "__main__":
    main()
