from __future__ import annotations

import pytest

from novadet.core.training import TrainConfig
from novadet.engines.base import get_engine, list_engines
from novadet.errors import ConfigError


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"imgsz": 100}, "imgsz must be auto or a multiple of 32"),
    ({"epochs": 0}, "epochs must be auto or >= 1"),
    ({"augment": "wild"}, "augment must be one of none, light, default, heavy"),
    ({"sampler": "oversample"}, "sampler must be one of"),
    ({"freeze": "half"}, "freeze must be backbone, none or a number"),
    ({"freeze": "none", "unfreeze_at": 3}, "needs something frozen"),
    ({"epochs": 5, "unfreeze_at": 5}, "unfreeze-at must be half, none or between 1 and epochs - 1"),
    ({"backbone_lr_scale": 0}, "backbone lr scale must be > 0"),
    ({"focal_gamma": -1}, "focal gamma must be >= 0"),
])
def test_bad_train_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("values", "message"), [
    ({"epochs": "many"}, "cfg.yaml: epochs: Input should be a valid integer"),
    ({"grayscale": "sometimes"}, "cfg.yaml: grayscale: Input should be a valid boolean"),
    ({"extra": [1]}, "cfg.yaml: extra: Input should be a valid dictionary"),
    ({"augment": 3}, "augment must be one of none, light, default, heavy"),
])
def test_from_dict_names_a_wrongly_typed_option(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(values, "cfg.yaml")


@pytest.mark.parametrize(("kwargs", "epoch"), [
    ({"epochs": 44}, 22), ({"epochs": 10}, 5), ({"epochs": 1}, None), ({"freeze": "none"}, None),
    ({"unfreeze_at": 3}, 3), ({"unfreeze_at": None}, None),
])
def test_unfreeze_half_opens_the_backbone_half_way(kwargs: dict[str, object], epoch: int | None) -> None:
    assert TrainConfig(**kwargs).unfreeze_epoch == epoch  # type: ignore[arg-type]


def test_the_command_line_spells_none_half_and_auto() -> None:
    config = TrainConfig.from_dict({"unfreeze_at": "none", "imgsz": "416", "focal_gamma": "none"}, "command line")
    assert (config.unfreeze_at, config.imgsz, config.focal_gamma) == (None, 416, None)
    assert TrainConfig.from_dict({"unfreeze_at": "half", "imgsz": "auto", "epochs": "44"}).unfreeze_epoch == 22
    assert TrainConfig.from_dict({"epochs": "auto"}).epochs == "auto"
    with pytest.raises(ConfigError, match="command line: unfreeze_at"):
        TrainConfig.from_dict({"unfreeze_at": "soon"}, "command line")


def test_from_dict_takes_yaml_scalars() -> None:
    config = TrainConfig.from_dict({"freeze": 3, "epochs": "12", "workers": None, "focal_gamma": 2})
    assert (config.freeze, config.epochs, config.workers, config.focal_gamma) == ("3", 12, None, 2.0)


def test_registry() -> None:
    assert list_engines() == ["torchvision", "ultralytics"]
    with pytest.raises(ConfigError, match="unknown engine 'mmdet'"):
        get_engine("mmdet")
