"""torchvision detectors on the offline ImageNet MobileNetV2: features at strides 8, 16 and 32 with an FPN.

A :class:`Detector` wraps the torchvision model. Its ``losses`` train it; its ``forward`` is the deployable
graph: ImageNet normalisation, backbone, FPN, head, and the box decode against the anchors of the fixed
input size, ending in novadet's dense layout (``engines/dense.py``). NMS stays outside the graph, shared
with every engine, so an exported graph keeps a dynamic batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn
from torchvision.models import mobilenet_v2
from torchvision.models.detection import FCOS, RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.fcos import FCOSHead
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.retinanet import RetinaNetHead
from torchvision.models.detection.ssd import SSD
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from novadet.engines.torchvision.ssdlite import build_ssdlite, ssd_losses
from novadet.errors import ConfigError

RETURN_LAYERS = {"6": "0", "13": "1", "18": "2"}  # MobileNetV2 features at strides 8, 16, 32
IN_CHANNELS = [32, 96, 1280]
FPN_CHANNELS = 64  # the head's width: 64 rather than torchvision's 256 keeps a CPU step affordable
STRIDES = (8, 16, 32, 64, 128)  # P3..P7
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # the ImageNet statistics the backbone learned with
BACKBONE_PREFIX = "det.backbone.body."  # a Detector's backbone tensors; "features." in the pretrained file


@dataclass(frozen=True)
class ModelSpec:
    """What a checkpoint needs to rebuild its Detector."""

    name: str
    num_classes: int
    imgsz: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "num_classes": self.num_classes, "imgsz": self.imgsz}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelSpec:
        return cls(str(values["name"]), int(values["num_classes"]), int(values["imgsz"]))


MODELS = ("fcos-mobilenetv2", "retinanet-mobilenetv2", "ssdlite-mobilenetv2")
POSITIVES = "positives"  # the extra entry of _CountingFCOSHead's losses


@dataclass(frozen=True)
class Losses:
    """A batch's losses, and the positives (matched anchors) they were divided by: FCOS and SSD divide by the
    count of the whole batch, RetinaNet each image by its own (``positives`` None)."""

    values: dict[str, Tensor]
    positives: int | None


class Detector(nn.Module):
    """A torchvision FCOS or RetinaNet whose forward pass ends in the dense layout."""

    det: Any  # torchvision's FCOS, RetinaNet or SSD: its backbone, head, anchor generator, box coder and losses
    mean: Tensor
    std: Tensor

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        if spec.name not in MODELS:
            raise ConfigError(f"unknown torchvision model {spec.name!r}; choose one of {', '.join(MODELS)}")
        self.spec = spec
        self.det = _build(spec)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)
        with torch.no_grad():  # in eval mode: SSDlite's BatchNorm cannot train on one image's 1x1 maps
            features = self.eval().features(torch.zeros(1, 3, spec.imgsz, spec.imgsz))
            images = ImageList(torch.zeros(1, 3, spec.imgsz, spec.imgsz), [(spec.imgsz, spec.imgsz)])
            anchors = self.det.anchor_generator(images, features)[0]
        self.train()
        self.level_sizes = [f.shape[2] * f.shape[3] * self.det.anchor_generator.num_anchors_per_location()[0]
                            for f in features]
        self.decode = DenseDecode(spec.name.split("-")[0], self.det.box_coder, anchors)

    @property
    def backbone(self) -> nn.Module:
        """The ImageNet MobileNetV2 features (the part that may be frozen)."""
        return cast(nn.Module, self.det.backbone.body)

    def backbone_maps(self, x: Tensor) -> list[Tensor]:
        """The ImageNet backbone's own maps of a [0, 1] RGB batch, before any trained layer (for drift checks)."""
        x = (x - self.mean) / self.std
        if isinstance(self.det, SSD):
            return list(self.det.backbone(x).values())[:2]
        return list(self.backbone(x).values())

    def features(self, x: Tensor) -> list[Tensor]:
        """FPN levels P3..P7 of a [0, 1] RGB batch."""
        return list(self.det.backbone((x - self.mean) / self.std).values())

    @property
    def normalised_by_batch(self) -> bool:
        """Whether the losses are divided by the whole batch's positives (then processes that each hold a slice
        must be weighted by their positives, not their images, to add up to one process's losses)."""
        return not isinstance(self.det, RetinaNet)

    def losses(self, x: Tensor, targets: list[dict[str, Tensor]], *, bf16: bool = False) -> Losses:
        """torchvision's losses (focal classification, box regression, FCOS' centreness) for a batch; with
        ``bf16`` the network runs in bf16 autocast, the losses always in fp32 (in bf16 the box losses'
        gradients blow up: a norm of 1e16 on the first step, measured)."""
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            raw = self.det.head(self.features(x))
        outputs = {k: v.float() for k, v in raw.items()}
        anchors = [self.decode.anchors] * len(targets)
        if isinstance(self.det, FCOS):
            result: dict[str, Tensor] = self.det.compute_loss(targets, outputs, anchors, self.level_sizes)
            return Losses(result, int(result.pop(POSITIVES)))
        if isinstance(self.det, SSD):
            return Losses(*ssd_losses(self.det, targets, outputs, anchors))
        return Losses(self.det.compute_loss(targets, outputs, anchors), None)

    def forward(self, x: Tensor) -> Tensor:
        """(B, 4 + C, N): every candidate box as centre and size in input pixels, then its class scores."""
        return cast(Tensor, self.decode(self.det.head(self.features(x))))


class DenseDecode(nn.Module):
    """The head's raw outputs -> boxes against the fixed anchors, and scores as torchvision computes them."""

    anchors: Tensor

    def __init__(self, kind: str, box_coder: Any, anchors: Tensor) -> None:
        super().__init__()
        self.kind, self.box_coder = kind, box_coder
        self.register_buffer("anchors", anchors, persistent=False)

    def forward(self, outputs: dict[str, Tensor]) -> Tensor:
        regression, logits = outputs["bbox_regression"].float(), outputs["cls_logits"].float()
        if self.kind == "fcos":
            boxes = self.box_coder.decode(regression, self.anchors)
            scores = torch.sqrt(torch.sigmoid(logits) * torch.sigmoid(outputs["bbox_ctrness"].float()))
        else:
            batch = regression.shape[0]
            boxes = self.box_coder.decode_single(regression.reshape(-1, 4), self.anchors.repeat(batch, 1))
            boxes = boxes.reshape(batch, -1, 4)
            scores = torch.softmax(logits, dim=-1)[..., 1:] if self.kind == "ssdlite" else torch.sigmoid(logits)
        size = boxes[..., 2:] - boxes[..., :2]
        return torch.cat([boxes[..., :2] + size / 2, size, scores], dim=2).permute(0, 2, 1)


class _CountingFCOSHead(FCOSHead):  # type: ignore[misc]
    """torchvision's FCOS head, whose losses also carry the positives they were divided by."""

    def compute_loss(self, targets: list[dict[str, Tensor]], head_outputs: dict[str, Tensor], anchors: list[Tensor],
                     matched_idxs: list[Tensor]) -> dict[str, Tensor]:
        losses: dict[str, Tensor] = super().compute_loss(targets, head_outputs, anchors, matched_idxs)
        losses[POSITIVES] = torch.stack([(m >= 0).sum() for m in matched_idxs]).sum()
        return losses


def _build(spec: ModelSpec) -> Any:
    if spec.name.startswith("ssdlite"):
        return build_ssdlite(spec.num_classes, spec.imgsz)
    backbone = BackboneWithFPN(mobilenet_v2().features, RETURN_LAYERS, IN_CHANNELS, FPN_CHANNELS,
                               extra_blocks=Fp32P6P7(FPN_CHANNELS, FPN_CHANNELS))
    common: dict[str, Any] = {"min_size": spec.imgsz, "max_size": spec.imgsz}  # unused: Detector skips the transform
    if spec.name.startswith("fcos"):
        anchors = AnchorGenerator(tuple((s,) for s in STRIDES), ((1.0,),) * len(STRIDES))
        head = _CountingFCOSHead(FPN_CHANNELS, 1, spec.num_classes)
        return FCOS(backbone, spec.num_classes, anchor_generator=anchors, head=head, **common)
    # Three scales an octave apart from twice the stride: small objects at small input sizes get anchors
    sizes = tuple(tuple(int(s * 2 * 2 ** (k / 3)) for k in range(3)) for s in STRIDES)
    anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(STRIDES))
    # torchvision's "v2" RetinaNet head: GroupNorm in its towers and a GIoU box loss. Without them it had learned
    # next to nothing in 5 epochs on BCCD (val mAP50-95 0.002, measured), where FCOS, which has both, had 0.40.
    head = RetinaNetHead(FPN_CHANNELS, anchors.num_anchors_per_location()[0], spec.num_classes,
                         norm_layer=partial(nn.GroupNorm, 32))
    head.regression_head._loss_type = "giou"
    return RetinaNet(backbone, spec.num_classes, anchor_generator=anchors, head=head, **common)


class Fp32P6P7(LastLevelP6P7):  # type: ignore[misc]
    """P6 and P7 computed in fp32 under bf16 autocast: on maps of a pixel or two, the bf16 weight gradient
    of P7's strided convolution comes out inf (measured at 64 px; fine at 320). Their cost is negligible."""

    def forward(self, p: list[Tensor], c: list[Tensor], names: list[str]) -> tuple[list[Tensor], list[str]]:
        with torch.autocast("cpu", enabled=False):
            result: tuple[list[Tensor], list[str]] = super().forward([t.float() for t in p], [t.float() for t in c],
                                                                     names)
            return result


def load_backbone(detector: Detector, weights: Path) -> None:
    """The ImageNet MobileNetV2 file's ``features.*`` tensors into the detector's backbone, all of them."""
    state = torch.load(weights, map_location="cpu", weights_only=True)
    features = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    detector.backbone.load_state_dict(features, strict=True)


def backbone_tensors(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """A Detector state dict's backbone tensors, named as in the pretrained file (``features.0.0.weight``)."""
    return {f"features.{k.removeprefix(BACKBONE_PREFIX)}": v for k, v in state.items()
            if k.startswith(BACKBONE_PREFIX)}


def detector_from(checkpoint: Path) -> Detector:
    """The EMA weights of a checkpoint (best.pt or last.pt), in eval mode on the CPU."""
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    detector = Detector(ModelSpec.from_dict(saved["spec"]))
    detector.load_state_dict(saved["ema"])
    return detector.eval()
