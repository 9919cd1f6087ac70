"""The scratch float export the INT8 makers and the pruning verb start from."""

from __future__ import annotations

from pathlib import Path

import pytest

from novadet.core.artifacts import ExportTarget
from novadet.core.run import RunDir
from novadet.deploy import scratch
from novadet.deploy.scratch import float_export


class _Engine:
    def export(self, run: RunDir, target: ExportTarget, *, out_dir: Path) -> Path:
        path = out_dir / f"best.{target.format}"
        path.write_text("float")
        return path


def test_float_export_is_removed_even_when_the_work_on_it_fails(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scratch, "engine_for", lambda run: _Engine())
    run = RunDir(tmp_path / "run")
    with pytest.raises(RuntimeError, match="quantiser failed"), float_export(run, "onnx") as artifact:
        assert artifact.read_text() == "float" and artifact.parent.parent == run.export_dir
        raise RuntimeError("quantiser failed")
    assert not artifact.exists() and list(run.export_dir.iterdir()) == []


def test_float_export_can_live_outside_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scratch, "engine_for", lambda run: _Engine())
    with float_export(RunDir(tmp_path / "run"), "openvino", within=tmp_path / "elsewhere") as artifact:
        assert artifact.parent.parent == tmp_path / "elsewhere"
    assert list((tmp_path / "elsewhere").iterdir()) == []
