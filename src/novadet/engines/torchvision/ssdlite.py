"""SSDlite on the ImageNet MobileNetV2, for the smallest devices: no FPN, six maps from stride 16 down.

As in the MobileNetV3 paper (section 6.3) and torchvision's ``ssdlite320_mobilenet_v3_large``: the first map
is the expansion layer of the block that halves stride 16, the second the backbone's last layer, then four
cheap extra blocks. The backbone stays one ``features`` module, so its tensors keep their pretrained names.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial
from itertools import pairwise
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.models import mobilenet_v2
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
from torchvision.models.detection.ssd import SSD
from torchvision.models.detection.ssdlite import SSDLiteHead
from torchvision.ops import box_iou
from torchvision.ops.misc import Conv2dNormActivation

C4_BLOCK = 14  # MobileNetV2's block from stride 16 to 32; its expansion layer (576 channels) is the first map
EXTRA_CHANNELS = (512, 256, 256, 128)
MAP_CHANNELS = [576, 1280, *EXTRA_CHANNELS]
# Default boxes from 0.1 to 0.9 of the input side (torchvision: 0.2 to 0.95, made for COCO's larger objects)
MIN_RATIO, MAX_RATIO = 0.1, 0.9
_NORM = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)


class MobileNetV2Maps(nn.Module):
    """MobileNetV2's features as SSDlite's six maps."""

    def __init__(self) -> None:
        super().__init__()
        self.body = mobilenet_v2().features
        channels = [1280, *EXTRA_CHANNELS]
        self.extra = nn.ModuleList(_extra_block(a, b) for a, b in pairwise(channels))

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        for layer in self.body[:C4_BLOCK]:
            x = layer(x)
        block: Any = self.body[C4_BLOCK]
        c4 = block.conv[0](x)
        x = block.conv[1:](c4)
        for layer in self.body[C4_BLOCK + 1:]:
            x = layer(x)
        maps = [c4, x]
        # In fp32 under bf16 autocast: over maps of a pixel or two the bf16 gradients overflow (measured at 64 px)
        with torch.autocast(x.device.type, enabled=False):
            for extra in self.extra:
                maps.append(extra(maps[-1].float()))
        return OrderedDict((str(i), m) for i, m in enumerate(maps))


def _extra_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Halve the map: 1x1 down to half the channels, 3x3 depthwise at stride 2, 1x1 up; ReLU6 throughout."""
    mid = out_channels // 2
    return nn.Sequential(
        Conv2dNormActivation(in_channels, mid, 1, norm_layer=_NORM, activation_layer=nn.ReLU6),
        Conv2dNormActivation(mid, mid, 3, stride=2, groups=mid, norm_layer=_NORM, activation_layer=nn.ReLU6),
        Conv2dNormActivation(mid, out_channels, 1, norm_layer=_NORM, activation_layer=nn.ReLU6))


def build_ssdlite(num_classes: int, imgsz: int) -> SSD:
    """torchvision's SSD with an SSDlite head; class 0 is SSD's background, so novadet's class k is k + 1."""
    anchors = DefaultBoxGenerator([[2, 3]] * len(MAP_CHANNELS), min_ratio=MIN_RATIO, max_ratio=MAX_RATIO)
    head = SSDLiteHead(MAP_CHANNELS, anchors.num_anchors_per_location(), num_classes + 1, _NORM)
    return SSD(MobileNetV2Maps(), anchors, (imgsz, imgsz), num_classes + 1, head=head)


def ssd_losses(det: SSD, targets: list[dict[str, Tensor]], outputs: dict[str, Tensor],
               anchors: list[Tensor]) -> tuple[dict[str, Tensor], int]:
    """SSD's losses (hard-negative-mined softmax, smooth L1), each box matched to the default boxes first, and
    the matched default boxes of the batch, which SSD divides them by."""
    shifted = [{"boxes": t["boxes"], "labels": t["labels"] + 1} for t in targets]
    matched = [det.proposal_matcher(box_iou(t["boxes"], a)) if t["boxes"].numel()
               else torch.full((a.size(0),), -1, dtype=torch.int64) for a, t in zip(anchors, shifted, strict=True)]
    losses: dict[str, Tensor] = det.compute_loss(shifted, outputs, anchors, matched)
    return losses, int(sum((m >= 0).sum() for m in matched))
