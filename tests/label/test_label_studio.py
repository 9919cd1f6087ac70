"""The whole exchange with a real Label Studio server (``label-studio`` from PyPI, SQLite, on loopback):
``next``'s tasks imported with their pre-labels through its API, the predictions there, the images served,
an annotation submitted and a task skipped as a labeller would, the project exported, and the export read
back into a dataset with the labeller's boxes.

Label Studio lives in its own virtual environment (``make test`` installs it into ``.venv-labelstudio``;
its Django pins stay out of novadet's); ``NOVADET_LABEL_STUDIO`` names another ``label-studio`` command."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from novadet.data.formats import read_dataset
from novadet.data.formats.labelstudio import CONFIG_FILE, IMAGES, TASKS_FILE
from novadet.label.select import next_batch

REPO = Path(__file__).resolve().parents[2]
COMMAND = Path(os.environ.get("NOVADET_LABEL_STUDIO", REPO / ".venv-labelstudio" / "bin" / "label-studio"))
TOKEN = "novadet-test-token"
START_S = 240  # its first start migrates a new SQLite database: 49 s on a 2-core AVX2-only EPYC


@dataclass
class Server:
    url: str
    batch: Path  # the folder Label Studio serves local files from: where ``next`` writes its tasks

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(method, f"{self.url}{path}", headers={"Authorization": f"Token {TOKEN}"},
                                    timeout=60, **kwargs)
        assert response.ok, f"{method} {path}: {response.status_code} {response.text[:300]}"
        return response


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A Label Studio started on 127.0.0.1 with a throwaway database, its update check and error reporting
    off (nothing may reach the network)."""
    if not COMMAND.is_file():
        pytest.skip(f"{COMMAND} not installed; `make test` installs Label Studio into .venv-labelstudio")
    root = tmp_path_factory.mktemp("label-studio")
    batch, port = root / "batch", _free_port()
    env = {**os.environ, "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
           "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(batch), "LATEST_VERSION_CHECK": "false",
           "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "", "COLLECT_ANALYTICS": "false"}
    log = (root / "server.log").open("w")
    process = subprocess.Popen([str(COMMAND), "start", "--no-browser", "--internal-host", "127.0.0.1", "-p", str(port),
                                "--data-dir", str(root / "data"), "--username", "labeller@example.org",
                                "--password", "not-a-secret", "--user-token", TOKEN, "--enable-legacy-api-token"],
                               env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield Server(f"http://127.0.0.1:{port}", batch)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{server.url}/health", timeout=5).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(1)
    pytest.fail(f"Label Studio did not answer on {server.url} within {START_S} s")


def _corrected(result: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a labeller submits for a task: the pre-labels with the first box moved right, the last one
    deleted, and a box drawn by hand."""
    kept = [{k: v for k, v in r.items() if k != "score"} for r in result[:-1]]
    if kept:
        kept[0]["value"] = {**kept[0]["value"], "x": kept[0]["value"]["x"] + 5.0}
    drawn = {"id": "hand", "type": "rectanglelabels", "from_name": "label", "to_name": "image",
             "original_width": 160, "original_height": 120,
             "value": {"x": 10.0, "y": 10.0, "width": 20.0, "height": 25.0, "rotation": 0,
                       "rectanglelabels": ["disc"]}}
    return [*kept, drawn]


def _pixels(result: list[dict[str, Any]], names: tuple[str, ...]) -> tuple[np.ndarray, list[int]]:
    boxes = [[r["value"]["x"] * 1.6, r["value"]["y"] * 1.2, (r["value"]["x"] + r["value"]["width"]) * 1.6,
              (r["value"]["y"] + r["value"]["height"]) * 1.2] for r in result]
    return np.array(boxes).reshape(-1, 4), [names.index(r["value"]["rectanglelabels"][0]) for r in result]


def test_next_round_trips_through_a_real_label_studio(server: Server, learned_run: Path, pool: Path) -> None:
    selection = next_batch(learned_run, pool, 4, server.batch, fmt="labelstudio")
    sent = json.loads((server.batch / TASKS_FILE).read_text())
    _wait_until_up(server)

    project = server.api("POST", "/api/projects", json={"title": "novadet round 2", "label_config":
                                                         (server.batch / CONFIG_FILE).read_text()}).json()
    imported = server.api("POST", f"/api/projects/{project['id']}/import", json=sent).json()
    assert (imported["task_count"], imported["prediction_count"]) == (4, 4)
    server.api("POST", "/api/storages/localfiles", json={"project": project["id"], "title": "batch",
                                                         "path": str(server.batch / IMAGES), "use_blob_urls": False})
    tasks = server.api("GET", "/api/tasks", params={"project": project["id"], "fields": "all"}).json()["tasks"]
    by_image = {t["data"]["image"]: t for t in tasks}
    for task in sent:
        there = by_image[task["data"]["image"]]["predictions"]
        assert [r["value"] for r in there[0]["result"]] == [r["value"] for r in task["predictions"][0]["result"]]
        image = server.api("GET", task["data"]["image"])
        assert image.headers["content-type"] == "image/jpeg" and image.content

    labelled = [t for t in tasks if t["predictions"][0]["result"]][:2]
    assert labelled, "the model should pre-label something on the pool"
    submitted = {}
    for task in labelled:
        result = _corrected(task["predictions"][0]["result"])
        server.api("POST", f"/api/tasks/{task['id']}/annotations", json={"result": result})
        submitted[Path(task["data"]["image"]).name] = result
    skipped = next(t for t in tasks if t not in labelled)
    server.api("POST", f"/api/tasks/{skipped['id']}/annotations", json={"result": [], "was_cancelled": True})

    export = server.api("GET", f"/api/projects/{project['id']}/export", params={"exportType": "JSON"}).json()
    (server.batch / "export.json").write_text(json.dumps(export))
    back = read_dataset(server.batch / "export.json")
    assert back.source_format == "labelstudio"
    assert sorted(Path(r.path).name for r in back.records) == sorted(submitted)
    # Label Studio exports the annotated tasks, the skipped one among them; the skipped one is a finding
    assert [f.file for f in back.findings if f.code == "TASK_NOT_LABELLED"] == [f"export.json: task {skipped['id']}"]
    for rec in back.records:
        boxes, classes = _pixels(submitted[Path(rec.path).name], back.class_names)
        np.testing.assert_allclose(rec.boxes, boxes, atol=1e-3)
        assert rec.classes.tolist() == classes
    assert {p.image for p in selection.picks} >= {Path(r.path).name for r in back.records}
