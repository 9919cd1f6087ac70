"""Training on several processes (CPU machines through gloo, GPUs through NCCL) launched by ``torchrun``.

Every process holds the whole model and steps through the same global batches; each computes the losses of
its slice of a batch, and the gradients (and the losses reported) are averaged over the processes, weighted
so that they add up to one process's losses on the whole batch: by each slice's share of the images for
RetinaNet (each image's loss divided by its own positives), by its share of the positives for FCOS and SSD
(torchvision divides the batch's loss by its positives). Frozen BatchNorm means no statistics to synchronise. Process 0
alone validates and writes the run folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Group:
    """This process's place among the training's processes."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """The process that validates, saves and reports."""
        return self.rank == 0

    def shard(self, batch: list[int]) -> list[int]:
        """This process's contiguous slice of a global batch (the slices of all processes make the batch)."""
        size = -(-len(batch) // self.world)
        return batch[self.rank * size:(self.rank + 1) * size]

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def weight(self, share: float, positives: int | None) -> float:
        """This process's weight in the averages: its ``share`` of the batch's images where each image's loss
        is normalised on its own, else its part of the batch's ``positives``, which one process would have
        divided the whole batch's losses by (each process divided by its own; at least 1, as torchvision)."""
        if self.world == 1 or positives is None:
            return share
        total = torch.tensor([float(positives)], dtype=torch.float64)
        dist.all_reduce(total)
        return max(1, positives) / max(1.0, float(total.item()))

    def average(self, model: nn.Module, values: dict[str, float], share: float) -> dict[str, float]:
        """Sum each gradient, and each loss in ``values``, weighted by ``share`` (this process's weight, from
        ``weight``) over the processes; return the averaged losses."""
        if self.world == 1:
            return values
        for param in model.parameters():
            if param.requires_grad:
                if param.grad is None:  # an empty slice: this process adds nothing, but joins every reduction
                    param.grad = torch.zeros_like(param)
                param.grad.mul_(share)
                dist.all_reduce(param.grad)
        losses = torch.tensor([v * share for v in values.values()], dtype=torch.float64)
        dist.all_reduce(losses)
        return dict(zip(values, losses.tolist(), strict=True))


def process_group() -> Group:
    """The torchrun process group this training runs in; one process alone when torchrun did not start it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Group()
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return Group(dist.get_rank(), world)


def shards(order: list[int], batch: int, group: Group) -> Iterable[tuple[list[int], float]]:
    """This process's slice of each global batch of ``order``, and its share of that batch. A last batch of
    one image joins the batch before it: BatchNorm cannot train on one value per channel (SSDlite's 1x1 maps)."""
    chunks = [order[start:start + batch] for start in range(0, len(order), batch)]
    if len(chunks) > 1 and len(chunks[-1]) == 1:
        chunks[-2:] = [chunks[-2] + chunks[-1]]
    for chunk in chunks:
        mine = group.shard(chunk)
        yield mine, len(mine) / len(chunk)
