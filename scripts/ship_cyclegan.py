#!/usr/bin/env python3
"""Install both generators of a finished CycleGAN run as shipped models, each with its name and a
title that says what it translates (shown by ``painterly styles``).

    python scripts/ship_cyclegan.py RUN --a2b photo2impressionism --b2a impressionism2photo \\
        --a2b-title "photos into impressionist paintings" --b2a-title "impressionist paintings into photos"

The weights, training config and record are the run's own; only the name and ``record["title"]``
are added. Run ``python scripts/export_shipped_graphs.py`` afterwards for their ONNX graphs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRETRAINED = REPO / "painterly" / "models" / "pretrained"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="the run folder of `painterly gan train`")
    parser.add_argument("--a2b", required=True, help="name of the domain A → B generator")
    parser.add_argument("--b2a", required=True, help="name of the domain B → A generator")
    parser.add_argument("--a2b-title", required=True, help="what the A → B generator translates, e.g. 'photos into …'")
    parser.add_argument("--b2a-title", required=True, help="what the B → A generator translates")
    parser.add_argument("--into", type=Path, default=PRETRAINED, help="the models folder to write to")
    args = parser.parse_args()

    from painterly.models.files import read_model_file, save_model
    from painterly.models.transformer import TransformerNet
    from painterly.train.cyclegan import find_run_model

    for direction, name, title in (("a2b", args.a2b, args.a2b_title), ("b2a", args.b2a, args.b2a_title)):
        info, weights = read_model_file(find_run_model(args.run, direction))
        net = TransformerNet(info.network)
        net.load_state_dict({key: value.float() for key, value in weights.items()})
        info.name = name
        info.record = {**info.record, "title": title}
        print(f"wrote {save_model(net, args.into / f'{name}.safetensors', info)}")


if __name__ == "__main__":
    main()
