"""Ship the average of two (or more) any-painting models of one lineage as the anystyle network.

    python scripts/average_anystyle.py STAGE2.safetensors STAGE3.safetensors [--weights 0.5 0.5] [--out FILE]

The models must come from one run continued in stages (``--init`` an earlier stage), so that their
weights lie in one basin; their weighted average (a "model soup") then paints between them. The
shipped network is the average of two stages trained with content weights 2.0 and 1.5: closer to
the paintings than either stage and keeping the photo better than the second
(``docs/models.md``). The result records its sources and their training records.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from painterly.models.anystyle import AnyStyleInfo, load_anystyle, save_anystyle
from painterly.models.lookup import SHIPPED_ANYSTYLE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--weights", nargs="+", type=float, help="one per model (default: equal)")
    parser.add_argument("--out", type=Path, default=SHIPPED_ANYSTYLE)
    args = parser.parse_args()
    weights = args.weights or [1.0] * len(args.models)
    if len(weights) != len(args.models) or min(weights) < 0 or sum(weights) <= 0:
        raise SystemExit("give one non-negative weight per model")
    loaded = [load_anystyle(path) for path in args.models]
    first, info = loaded[0]
    states = [net.state_dict() for net, _ in loaded]
    for (_, other), state in zip(loaded[1:], states[1:]):
        if other.network != info.network or other.predictor != info.predictor:
            raise SystemExit("the models differ in shape: average stages of one run only")
        for key in ("predictor.input_mean", "predictor.input_std"):  # one standardization: one lineage
            if not state[key].equal(states[0][key]):
                raise SystemExit("the models standardize paintings differently: average stages of one run only")
    total = sum(weights)
    first.load_state_dict({key: sum(w * state[key] for w, state in zip(weights, states)) / total for key in states[0]})
    sources = [{"file": path.name, "weight": w / total, "training": other.training, "record": other.record}
               for path, w, (_, other) in zip(args.models, weights, loaded)]  # fmt: skip
    save_anystyle(first, args.out, AnyStyleInfo(info.network, info.predictor, loaded[-1][1].training, {"average_of": sources}))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): {' + '.join(f'{w / total:g}·{p.name}' for p, w in zip(args.models, weights))}")


if __name__ == "__main__":
    main()
