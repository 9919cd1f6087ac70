"""Structured channel pruning of an Ultralytics detector with torch-pruning (DepGraph).

Whole channels are removed from the neck and head (and, if asked, the backbone), least L2 magnitude first,
in small steps until the model's multiply-accumulates fall to the target share. The class and box outputs
of the Detect head and its fixed DFL projection keep their channels. The result is a smaller dense model,
saved as an Ultralytics checkpoint whose pickled module carries its new shapes; fine-tuning then starts
from that module instead of rebuilding the model from its YAML.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from novadet.core.atomic import atomic_path
from novadet.core.compression import PruneStats
from novadet.errors import ConfigError

STEPS = 40  # the pruning ratio is raised in this many steps, checking the FLOPs after each
MAX_RATIO = 0.95  # of any one layer's channels
ROUND_TO = 8  # channel counts stay multiples of this (vector widths)


class SplitC2f(nn.Module):
    """Ultralytics' C2f (and C3k2) with its first 1x1 convolution split in two.

    C2f chunks one convolution's output into halves, which DepGraph cannot map channel by channel; two
    convolutions on the same input compute the same thing and prune cleanly.
    """

    def __init__(self, block: Any) -> None:
        super().__init__()
        self.first, self.second = _halves(block.cv1)
        self.m, self.cv2 = block.m, block.cv2
        for attribute in ("f", "i", "type", "np"):  # how DetectionModel routes its layers
            if hasattr(block, attribute):
                setattr(self, attribute, getattr(block, attribute))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.first(x), self.second(x)]
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))  # type: ignore[no-any-return]


def prune_checkpoint(source: Path, target: Path, *, target_flops: float, imgsz: int, backbone: bool,
                     backbone_layers: int) -> PruneStats:
    """Prune the model of checkpoint ``source`` until its MACs are ``target_flops`` of today's; save it to
    ``target`` as a fresh checkpoint (no optimizer, epoch -1). ``backbone_layers`` leading layers are left
    whole unless ``backbone``."""
    import torch_pruning as tp

    loaded = torch.load(source, map_location="cpu", weights_only=False)
    model = (loaded.get("ema") or loaded["model"]).float().eval()
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    _split_chunks(model)
    example = torch.zeros(1, 3, imgsz, imgsz)
    macs_before, params_before = (int(v) for v in tp.utils.count_ops_and_params(model, example))
    leading = 0 if backbone else backbone_layers
    ignored = _kept_whole(model, leading)
    prunable = 1.0 - _macs_of([model.model[i] for i in range(leading)], example, model) / macs_before
    if target_flops < 1.0 - prunable + 0.05 * prunable:
        where = "neck and head" if not backbone else "its prunable layers"
        raise ConfigError(f"{source}: {where} hold {prunable:.0%} of this model's FLOPs, so --target-flops "
                          f"{target_flops:g} cannot be reached{'; add --backbone' if not backbone else ''}")
    macs_after, params_after = _prune_until(model, example, ignored, macs_before * target_flops)
    _save(model, loaded, target)
    return PruneStats(target_flops, backbone, macs_before, macs_after, params_before, params_after, prunable)


def _split_chunks(model: nn.Module) -> None:
    """Replace every C2f-style block of the Ultralytics layer list (recursively) by :class:`SplitC2f`."""
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if _is_c2f(child):
                setattr(parent, name, SplitC2f(child))


def _is_c2f(module: nn.Module) -> bool:
    from ultralytics.nn.modules.block import C2f

    return isinstance(module, C2f) and type(module).forward is C2f.forward


def _halves(conv: Any) -> tuple[nn.Module, nn.Module]:
    """Two copies of an Ultralytics Conv (conv, bn, act), each with one half of its output channels."""
    import copy

    half: int = conv.conv.out_channels // 2
    parts = []
    for lo, hi in ((0, half), (half, 2 * half)):
        part = copy.deepcopy(conv)
        part.conv = _sliced_conv(conv.conv, lo, hi)
        part.bn = _sliced_bn(conv.bn, lo, hi)
        parts.append(part)
    return parts[0], parts[1]


def _sliced_conv(conv: nn.Conv2d, lo: int, hi: int) -> nn.Conv2d:
    out = nn.Conv2d(conv.in_channels, hi - lo, conv.kernel_size, conv.stride, conv.padding, conv.dilation,  # type: ignore[arg-type]
                    conv.groups, bias=conv.bias is not None)
    out.weight = nn.Parameter(conv.weight.detach()[lo:hi].clone())
    if conv.bias is not None:
        out.bias = nn.Parameter(conv.bias.detach()[lo:hi].clone())
    return out


def _sliced_bn(bn: nn.BatchNorm2d, lo: int, hi: int) -> nn.BatchNorm2d:
    out = nn.BatchNorm2d(hi - lo, eps=bn.eps, momentum=bn.momentum)
    out.weight = nn.Parameter(bn.weight.detach()[lo:hi].clone())
    out.bias = nn.Parameter(bn.bias.detach()[lo:hi].clone())
    out.running_mean = bn.running_mean[lo:hi].clone()  # type: ignore[index]
    out.running_var = bn.running_var[lo:hi].clone()  # type: ignore[index]
    return out


def _kept_whole(model: Any, leading: int) -> list[nn.Module]:
    """Layers whose output channels must stay: the Detect head's outputs and DFL, and ``leading`` layers."""
    detect = model.model[-1]
    kept: list[nn.Module] = [detect.dfl] if hasattr(detect, "dfl") else []
    for branch in (*detect.cv2, *detect.cv3):
        kept.append(branch[-1])
    kept.extend(model.model[i] for i in range(leading))
    return kept


def _macs_of(layers: list[nn.Module], example: torch.Tensor, model: Any) -> float:
    """MACs spent inside ``layers`` during one forward pass of ``model``."""
    if not layers:
        return 0.0
    import torch_pruning as tp

    total = 0.0
    inputs: dict[int, Any] = {}
    hooks = [layer.register_forward_pre_hook(lambda m, a: inputs.__setitem__(id(m), a)) for layer in layers]
    with torch.no_grad():
        model(example)
    for hook in hooks:
        hook.remove()
    for layer in layers:
        args = inputs[id(layer)]
        total += tp.utils.count_ops_and_params(layer, args[0] if len(args) == 1 else args)[0]
    return total


def _prune_until(model: nn.Module, example: torch.Tensor, ignored: list[nn.Module],
                 target_macs: float) -> tuple[int, int]:
    """Raise the pruning ratio step by step until the model's MACs are at most ``target_macs``; return the
    MACs and parameters it has then."""
    import torch_pruning as tp

    logging.getLogger("torch_pruning").setLevel(logging.ERROR)
    pruner = tp.pruner.BasePruner(model, example, importance=tp.importance.GroupMagnitudeImportance(p=2),
                                  pruning_ratio=MAX_RATIO, iterative_steps=STEPS, ignored_layers=ignored,
                                  round_to=ROUND_TO)
    for _ in range(STEPS):
        pruner.step()
        macs, params = (int(v) for v in tp.utils.count_ops_and_params(model, example))
        if macs <= target_macs:
            break
    return macs, params


def _save(model: nn.Module, loaded: dict[str, Any], target: Path) -> None:
    """An Ultralytics checkpoint of the pruned module, ready to be fine-tuned (no optimizer, no epoch)."""
    checkpoint = {key: value for key, value in loaded.items() if key not in ("optimizer", "ema", "updates")}
    checkpoint.update(model=model.half(), ema=None, optimizer=None, epoch=-1, updates=None)
    with atomic_path(target) as tmp:
        torch.save(checkpoint, tmp)
