"""Make Ultralytics offline, quiet and tidy before it is imported, and give torch every core.

Ultralytics reads these variables once, at import, so they are set here, just before the engine's
first import of it: settings under novadet's cache (never the home folder), no network probe, no
per-batch logging. Values the user already set are kept. Ultralytics also downloads Arial.ttf when
it cannot find it; matplotlib's DejaVu Sans (installed with Ultralytics) is put in its place.
"""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from functools import cache
from pathlib import Path

from novadet.core.cache import cache_dir
from novadet.core.hardware import usable_cores
from novadet.engines.telemetry import decline_openvino_telemetry

_FONTS = ("Arial.ttf", "Arial.Unicode.ttf")


@cache
def configure() -> None:
    """Set Ultralytics' environment (once per process) and torch's thread count."""
    os.environ.setdefault("YOLO_CONFIG_DIR", str(cache_dir("ultralytics")))
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    _provide_fonts(Path(os.environ["YOLO_CONFIG_DIR"]) / "Ultralytics")
    _quiet_exporters()
    decline_openvino_telemetry()
    _keep_pil_open()
    import torch

    torch.set_num_threads(usable_cores())


def _keep_pil_open() -> None:
    """Ultralytics replaces ``PIL.Image.open``, process-wide, when it is imported: for an image PIL cannot
    identify, the replacement tries to pip-install pi-heif and, offline, raises ModuleNotFoundError instead
    of PIL's own error, so one corrupt image crashed an audit run after a training. Its patch is applied
    here, once, and PIL's own function put back."""
    from PIL import Image

    original = Image.open
    import ultralytics.utils.patches  # noqa: F401 - applies the patch now, so it is never applied again

    Image.open = original


def _quiet_exporters() -> None:
    """Export would print torch.jit deprecation warnings, a CUDA probe on CPU-only machines and one NNCF
    line per graph node it leaves alone; none of them is for the user to act on."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
    # NNCF sets its logger's level when it is imported; a filter outlives that.
    logging.getLogger("nncf").addFilter(lambda record: record.levelno >= logging.WARNING)
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)


def _provide_fonts(settings_dir: Path) -> None:
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    settings_dir.mkdir(parents=True, exist_ok=True)
    for name in _FONTS:
        if not (settings_dir / name).exists():
            shutil.copyfile(source, settings_dir / name)
