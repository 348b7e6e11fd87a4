#!/usr/bin/env python3
"""Export torchvision models to ONNX with torch.onnx.export, as real users do.

Run with Debian's python3 (it has python3-torch / python3-torchvision), not the pyenv one:

    /usr/bin/python3 scripts/export-torch.py --out-dir /tmp/tv --models resnet18,mobilenet_v2 --size 64

Every model is written in each of --variants (default the first two):
  <name>.bnfold.onnx  eval-mode export with constant folding: BatchNorm folded into Conv
  <name>.bnkept.onnx  do_constant_folding=False, training=PRESERVE: BatchNormalization nodes kept
  <name>.bninit.onnx  as bnfold, BatchNorm left at its initial values (a freshly built or
                      BN-recalibrated net): the folded biases are equal, so the exporter
                      de-duplicates them into shared initializers read through Identity nodes
Besides torchvision's models, resnext26_32x4d: a ResNeXt-26 (grouped 3x3 convs).
Weights are random but seeded, and BatchNorm statistics/affine parameters are randomised so
that folding them is visible in the numbers. Prints one JSON line per file written.
"""
import argparse
import json
import os
import sys
import time


def build(name, num_classes):
    import torchvision.models as tvm
    if name == "resnext26_32x4d":
        # ResNeXt-26 (32 groups of 4 channels in the first stage): torchvision's ResNet with
        # grouped bottlenecks, two blocks per stage.
        from torchvision.models.resnet import Bottleneck, ResNet
        return ResNet(Bottleneck, [2, 2, 2, 2], num_classes=num_classes, groups=32, width_per_group=4)
    ctor = getattr(tvm, name, None)
    if ctor is None:
        raise SystemExit(f"unknown torchvision model {name}")
    kwargs = {"num_classes": num_classes}
    if name == "googlenet" or name.startswith("inception"):
        kwargs.update(aux_logits=False, init_weights=False)
    return ctor(weights=None, **kwargs)


def randomise_bn(model, gen):
    import torch
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            with torch.no_grad():
                m.weight.copy_(torch.rand(n, generator=gen) * 1.0 + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--models", default="resnet18,mobilenet_v2,squeezenet1_1,densenet121,shufflenet_v2_x0_5")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--variants", default="bnfold,bnkept")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    import torch
    torch.set_num_threads(1)
    os.makedirs(a.out_dir, exist_ok=True)
    for name in [m for m in a.models.split(",") if m]:
        gen = torch.Generator().manual_seed(a.seed)
        torch.manual_seed(a.seed)
        model = build(name, a.classes)
        model.eval()
        x = torch.rand(1, 3, a.size, a.size, generator=gen)
        variants = [v for v in a.variants.split(",") if v]
        if "bninit" in variants:
            path = os.path.join(a.out_dir, f"{name}.bninit.onnx")
            t0 = time.time()
            torch.onnx.export(model, x, path, opset_version=a.opset, input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
            print(json.dumps({"model": name, "variant": "bninit", "path": path, "seconds": round(time.time() - t0, 2)}), flush=True)
        randomise_bn(model, gen)
        for variant in [v for v in variants if v != "bninit"]:
            path = os.path.join(a.out_dir, f"{name}.{variant}.onnx")
            t0 = time.time()
            kept = variant == "bnkept"
            torch.onnx.export(
                model, x, path,
                opset_version=a.opset,
                input_names=["input"], output_names=["logits"],
                dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                do_constant_folding=not kept,
                training=torch.onnx.TrainingMode.PRESERVE if kept else torch.onnx.TrainingMode.EVAL,
            )
            print(json.dumps({"model": name, "variant": variant, "path": path, "seconds": round(time.time() - t0, 2)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
