"""Grow a trained checkpoint's class list without forgetting the classes it already knows.

ultralytics transfers only tensors whose shapes match: a checkpoint trained on 6 classes fine-tuned on
9 gets a freshly initialised class layer, and every class the model knew starts from zero again. Here
the final class convolutions of the Detect head are widened instead: the rows of classes the old
model has (matched by name) are copied, the new classes keep ultralytics' prior initialisation. Every
other tensor is copied as is.
"""

from __future__ import annotations

from pathlib import Path

from training.ultralytics_env import prepare_ultralytics


def widen_classes(weights: Path, names: list[str], out: Path) -> list[str]:
    """Write `out`: the checkpoint at `weights` with the class list `names`; returns the classes whose
    rows were kept.

    Raises ValueError when `names` drops a class the checkpoint has (that would lose what it learnt).
    """
    prepare_ultralytics()
    import copy
    import math

    import torch
    from ultralytics import YOLO

    source = YOLO(str(weights))
    old_model = source.model.float()
    old_names = [old_model.names[i] for i in sorted(old_model.names)]
    missing = [n for n in old_names if n not in names]
    if missing:
        raise ValueError(f"{weights}: the new class list drops {', '.join(missing)}")
    new_model = copy.deepcopy(old_model)
    head = new_model.model[-1]
    with torch.no_grad():
        for i, branch in enumerate(head.cv3):
            old_conv = branch[-1]
            conv = torch.nn.Conv2d(old_conv.in_channels, len(names), kernel_size=1)
            prior = math.log(5 / len(names) / (640 / float(head.stride[i])) ** 2)  # ultralytics' bias_init
            torch.nn.init.normal_(conv.weight, std=0.01)
            conv.bias.fill_(prior)
            for row, name in enumerate(names):
                if name in old_names:
                    conv.weight[row] = old_conv.weight[old_names.index(name)]
                    conv.bias[row] = old_conv.bias[old_names.index(name)]
            branch[-1] = conv
    head.nc = len(names)
    head.no = head.nc + head.reg_max * 4
    new_model.yaml["nc"] = len(names)
    new_model.nc = len(names)
    new_model.names = dict(enumerate(names))
    kept = [n for n in names if n in old_names]
    source.model = new_model
    out.parent.mkdir(parents=True, exist_ok=True)
    source.save(str(out))
    return kept


def main() -> None:
    import argparse

    from detector.taxonomy import load_taxonomy

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, required=True, help="Trained checkpoint (.pt).")
    parser.add_argument("--out", type=Path, required=True, help="Checkpoint to write.")
    args = parser.parse_args()
    kept = widen_classes(args.weights, load_taxonomy().model_names, args.out)
    print(f"wrote {args.out}; kept the rows of {', '.join(kept)}")


if __name__ == "__main__":
    main()
