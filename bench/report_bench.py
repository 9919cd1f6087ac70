"""How long `novadet report` takes and how big its page is, for finished runs; optionally a screenshot in Chromium.

    python bench/report_bench.py novadet-demo/run bench/out/engines/ultralytics-50-0 --repeats 5 \
        --screenshot docs/report.png

Each run's report is written to a scratch file (the run's own report.html is left alone) ``--repeats`` times in
this process after one untimed warm-up (imports, matplotlib's font cache); the median is printed. The
screenshot is the first screen of the first run's page in headless Chromium, scaled to 1000 px wide.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from novadet.report.html import html_report


def measure(run: Path, repeats: int, scratch: Path) -> tuple[float, float, Path]:
    """(median seconds, MB, the page) of writing ``run``'s report."""
    page = scratch / f"{run.name}.html"
    html_report(run, page)  # warm-up
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        html_report(run, page)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), page.stat().st_size / 1e6, page


def screenshot(page: Path, out: Path, height: int = 1500) -> None:
    """The top ``height`` px of ``page`` at 1280 px wide, in Chromium, scaled to 1000 px and saved as PNG."""
    from PIL import Image
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1280, "height": height})
        tab.goto(page.as_uri(), wait_until="load")
        tab.screenshot(path=str(out))
        browser.close()
    with Image.open(out) as shot:
        shot.convert("RGB").resize((1000, round(shot.height * 1000 / shot.width)), Image.Resampling.LANCZOS) \
            .quantize(colors=128).save(out, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--screenshot", type=Path, help="PNG of the first run's page (top of the page)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        pages = []
        print("| run | write time, median s | size, MB |\n|---|---|---|")
        for run in args.runs:
            seconds, mb, page = measure(run, args.repeats, Path(scratch))
            pages.append(page)
            print(f"| {run} | {seconds:.2f} | {mb:.2f} |")
        if args.screenshot:
            screenshot(pages[0], args.screenshot)
            print(f"{args.screenshot}: {args.screenshot.stat().st_size / 1e3:.0f} KB")


if __name__ == "__main__":
    main()
