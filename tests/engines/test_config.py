from __future__ import annotations

import pytest

from novadet.engines.base import TrainConfig, get_engine, list_engines
from novadet.errors import ConfigError


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"imgsz": 100}, "imgsz must be a multiple of 32"),
    ({"epochs": 0}, "epochs must be >= 1"),
    ({"augment": "wild"}, "augment must be one of none, light, default, heavy"),
    ({"sampler": "oversample"}, "sampler must be one of"),
    ({"freeze": "half"}, "freeze must be backbone, none or a number"),
    ({"freeze": "none", "unfreeze_at": 3}, "needs something frozen"),
    ({"epochs": 5, "unfreeze_at": 5}, "unfreeze-at must be between 1 and epochs - 1"),
    ({"backbone_lr_scale": 0}, "backbone lr scale must be > 0"),
    ({"focal_gamma": -1}, "focal gamma must be >= 0"),
])
def test_bad_train_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)  # type: ignore[arg-type]


def test_registry() -> None:
    assert list_engines() == ["ultralytics"]
    with pytest.raises(ConfigError, match="unknown engine 'mmdet'"):
        get_engine("mmdet")
