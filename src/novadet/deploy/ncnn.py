"""ncnn, the runtime of ARM boards and phones: a run's float ONNX file converted by pnnx (the converter
ncnn ships on PyPI, its binary inside the wheel), so both engines take one path."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from novadet.core.atomic import staged_dir
from novadet.errors import ConfigError, MissingExtraError

PARAM, WEIGHTS = "model.ncnn.param", "model.ncnn.bin"  # the names Ultralytics gives its ncnn folders


def onnx_to_ncnn(onnx_file: Path, folder: Path, imgsz: int, *, half: bool = False) -> Path:
    """Convert ``onnx_file`` (batch 1 at ``imgsz``) to an ncnn folder at ``folder`` holding ``model.ncnn.param``
    and ``model.ncnn.bin`` (FP16 weights where ``half``). The folder appears whole or not at all."""
    binary = _pnnx()
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".pnnx-") as scratch, \
            staged_dir(folder, overwrite=True) as out:
        work = Path(scratch)
        source = work / "model.onnx"
        shutil.copyfile(onnx_file, source)
        done = subprocess.run([binary, source.name, f"inputshape=[1,3,{imgsz},{imgsz}]", f"fp16={int(half)}"],
                              cwd=work, capture_output=True, text=True)
        if done.returncode != 0 or not (work / PARAM).is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ConfigError(f"{onnx_file}: pnnx could not convert it to ncnn: {tail[0]}")
        for name in (PARAM, WEIGHTS):
            (work / name).replace(out / name)
    return folder


def _pnnx() -> str:
    try:
        import pnnx
    except ImportError as missing:
        raise MissingExtraError("ncnn export needs pnnx: pip install pnnx") from missing
    return str(pnnx.EXEC_PATH)
