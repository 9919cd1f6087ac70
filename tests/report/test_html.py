"""`novadet report` on tiny runs: each section present exactly when its data is, and a page with nothing outside it.

The pipeline's tests (tests/test_pipeline.py) check the drift, sufficiency and tune sections on runs that have them;
the browser test loads the fast demo's page in Chromium.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from novadet import evaluate, html_report
from novadet.core.run import RunDir
from novadet.report.pictures import DrawnBox, thumbnail

from ..test_cli import invoke


def section_ids(page: str) -> list[str]:
    """The ids of the page's sections, in order."""
    return re.findall(r'<section id="([a-z]+)"', page)


@pytest.fixture
def run_copy(tiny_trained_run: Path, tmp_path: Path) -> Path:
    """A copy of the tiny run as its training left it (other tests evaluate and export the session's run), to add
    to; its config points at the session's split folder, read only."""
    run = RunDir(Path(shutil.copytree(tiny_trained_run, tmp_path / "run")))
    for folder in (run.eval_root, run.export_dir):
        shutil.rmtree(folder, ignore_errors=True)
    for file in (run.bench_file, run.report_file, run.audit_file):
        file.unlink(missing_ok=True)
    return run.root


def test_sections_follow_what_the_run_holds(run_copy: Path, tmp_path: Path) -> None:
    trained_only = html_report(run_copy)
    assert trained_only == RunDir(run_copy).report_file
    assert section_ids(trained_only.read_text()) == ["data", "training"]  # no evaluation: no verdict either

    evaluate(run_copy, split="val")
    page = html_report(run_copy, tmp_path / "elsewhere.html").read_text()
    assert section_ids(page) == ["verdict", "data", "training", "evaluation"]
    assert "weakest class" in page and "not benchmarked yet" in page
    advice = re.search(r'<section id="verdict".*?</section>', page, re.S)
    assert advice is not None and advice.group(0).count("<li>") <= 3

    record = RunDir(run_copy).config_file  # the split folder moved away (the session's own stays put)
    record.write_text(record.read_text().replace("split_dir: ", "split_dir: /nonexistent"))
    page = html_report(run_copy).read_text()
    assert section_ids(page) == ["verdict", "training", "evaluation"]  # no split and no audit: no data section


def test_the_page_needs_nothing_outside_it(run_copy: Path) -> None:
    evaluate(run_copy, split="val")
    page = html_report(run_copy).read_text()
    assert not re.search(r"https?://|ftp://|//[a-z0-9.-]+\.[a-z]{2,}/", page, re.I)
    assert "<script" not in page and "<link" not in page and "@import" not in page
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sources and all(s.startswith(("data:image/", "#")) for s in sources)
    assert page.count("data:image/jpeg") >= 8  # training samples and the worst test images, inline


def test_the_cli_writes_the_page_and_refuses_a_folder_that_is_no_run(run_copy: Path, tmp_path: Path) -> None:
    code, out, _ = invoke("report", str(run_copy), "-o", str(tmp_path / "r.html"))
    assert code == 0 and "r.html" in out and (tmp_path / "r.html").is_file()
    code, _, err = invoke("report", str(tmp_path / "missing"))
    assert code == 2 and "no config.yaml" in err and "Traceback" not in err


def test_boxes_are_drawn_in_their_colour_and_an_unreadable_image_is_skipped(tmp_path: Path) -> None:
    Image.new("RGB", (720, 480), "white").save(tmp_path / "white.png")
    jpeg = thumbnail(tmp_path / "white.png", [DrawnBox((100, 100, 300, 300), "#ff0000")])
    assert jpeg is not None
    (tmp_path / "t.jpg").write_bytes(jpeg)
    with Image.open(tmp_path / "t.jpg") as shrunk:
        pixels = np.asarray(shrunk.convert("RGB"), dtype=int)
    assert shrunk.size == (360, 240)  # the longer side to 360 px, the boxes scaled with it
    r, g, b = pixels[100, 50]  # the left edge, at x 100/2: red (blurred a little by JPEG)
    assert r > 150 and g < 90 and b < 90
    assert pixels[100, 100].tolist() == pytest.approx([255, 255, 255], abs=20)  # inside: untouched
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    assert thumbnail(tmp_path / "broken.jpg") is None
