"""``novadet compare``: round 2 against round 1 on the test images they share, each score equal to the run's
own evaluation, the prediction from round 1's learning curves made at round 2's data, and runs tested on
other images refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from novadet.core.reports import CurvePoint, DataNeed, Estimate, SufficiencyReport
from novadet.core.run import RunDir
from novadet.core.training import TrainConfig
from novadet.data.formats import read_dataset, write_dataset
from novadet.data.grow import grow
from novadet.data.split import split
from novadet.data.synthetic import make_dataset
from novadet.engines.train import train
from novadet.errors import ConfigError
from novadet.evaluate.compare import compare
from novadet.evaluate.evaluator import evaluate
from novadet.evaluate.needs import fit_all

TINY = TrainConfig(epochs=3, imgsz=64, batch=8, device="cpu", freeze="none")


@pytest.fixture(scope="module")
def rounds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Round 1 on 40 images, round 2 on its split grown by 12 labelled images, and a run on another split."""
    root = tmp_path_factory.mktemp("rounds")
    data = make_dataset(root / "data", num_images=40, image_size=(96, 64), seed=4)
    split(data, root / "split1", seed=0)
    batch = write_dataset(read_dataset(make_dataset(root / "new", num_images=12, image_size=(96, 64), seed=8)),
                          root / "batch", "cvat")
    grow(root / "split1", [batch], root / "split2")
    split(data, root / "other", seed=3)
    for name, folder in (("a", "split1"), ("b", "split2"), ("c", "other")):
        train(root / folder, root / name, TINY)
    return root / "a", root / "b", root / "c"


def test_scores_are_the_runs_own_on_the_shared_test_set(rounds: tuple[Path, Path, Path]) -> None:
    a, b, _ = rounds
    c = compare(a, b)
    assert (c.overall.before, c.overall.after) == (32, 44)
    for run, score in ((a, c.overall.score_before), (b, c.overall.score_after)):
        assert evaluate(run, split="test", write=False).coco.map50_95 == score
    assert c.change_interval.images == c.test_images == 4
    assert c.overall.predicted is None and "no learning curves" in c.prediction
    assert sum(g.after - g.before for g in c.classes) > 0


def test_the_prediction_is_round_1s_curve_at_round_2s_data(rounds: tuple[Path, Path, Path]) -> None:
    a, b, _ = rounds
    rng = np.random.default_rng(0)
    truth = lambda n: 0.6 - 0.5 * n ** -0.5  # noqa: E731
    points = []
    for fraction, n in ((0.125, 4), (0.25, 8), (0.5, 16), (1.0, 32)):
        draws = {k: (truth(n) + rng.normal(0, 0.01, 50)).tolist() for k in ("all", "disc", "tile", "wedge")}
        points.append(CurvePoint(fraction, 0, n, {"disc": n, "tile": n, "wedge": n}, truth(n), truth(n),
                                 {k: truth(n) for k in ("disc", "tile", "wedge")}, 1.0, spread=draws))
    need = DataNeed("all", "images", 32, truth(32), 0.6, "power", 0.6, Estimate(None, None, None), "beyond", 0.0, "")
    RunDir(a).write_sufficiency(SufficiencyReport((0.125, 0.25, 0.5, 1.0), (0,), 3, (), tuple(points), need, (),
                                                  None, None, 1.0))
    try:
        c = compare(a, b)
    finally:
        RunDir(a).sufficiency_file.unlink()
    p = c.overall.predicted
    assert p is not None and p.p10 is not None and p.p90 is not None
    assert p.p10 <= truth(44) <= p.p90  # the band holds the curve's truth at B's data
    boot = {(q.fraction, 0): q.spread for q in points}
    fitted = fit_all(points, boot, (0.125, 0.25, 0.5, 1.0), ["disc", "tile", "wedge"])["all"].fit  # type: ignore
    assert fitted is not None
    assert p.p50 == fitted.band(44.0).p50 != fitted.band(32.0).p50  # at B's 44 images, not A's 32
    assert "predicted by A's learning curves" in c.prediction


def test_runs_tested_on_other_images_are_refused(rounds: tuple[Path, Path, Path]) -> None:
    a, _, other = rounds
    with pytest.raises(ConfigError, match="was tested on other images"):
        compare(a, other)


def test_the_command_prints_the_change_and_its_interval(rounds: tuple[Path, Path, Path], tmp_path: Path) -> None:
    from tests.test_cli import invoke

    a, b, _ = rounds
    code, out, _ = invoke("compare", str(a), str(b), "--json", str(tmp_path / "c.json"))
    assert code == 0, out
    assert "paired interval" in out and "no learning curves" in " ".join(out.split())
    assert json.loads((tmp_path / "c.json").read_text())["test_images"] == 4
