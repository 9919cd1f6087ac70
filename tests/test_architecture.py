"""The package's shape, checked on its source: layers import only downwards (inside functions too), engine
libraries stay inside their engine, and no module but ``core/run.py`` spells a path inside a run folder."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "novadet"
# Lowest first; a module may import its own layer and those before it. The top (the package root, the CLI)
# may import anything.
LAYERS = ("errors", "core", "data", "metrics", "engines", "evaluate", "label", "deploy", "monitor", "tune", "report",
          "pipeline")
TOP = ("__init__", "__main__", "cli")  # cli/ is a package: the app, the options, the commands
RUN_FOLDER_LITERALS = ("best.pt", "last.pt", "history.csv", "result.json", ".gate.json", "metrics.json",
                       "bench.json", "audit.json", "stages.json", "config.yaml", "provenance.json",
                       "predictions.json", "ground_truth.json", "pr_curves.png", "confusion_matrix.png",
                       "weights/", "refused/", "drift.json", "atypical.png", "qat.pt", "pruned.pt", "_int8.onnx",
                       "_int8aa")


def _modules() -> Iterator[tuple[str, Path]]:
    for file in sorted(SRC.rglob("*.py")):
        yield ".".join(file.relative_to(SRC).with_suffix("").parts), file


def _imports(file: Path) -> Iterator[str]:
    """Every module ``file`` imports, at the top or inside a function, resolved to absolute names."""
    package = file.relative_to(SRC.parent).with_suffix("").parts[:-1]
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def _layer(module: str) -> str:
    return module.split(".")[0]


@pytest.mark.parametrize(("module", "file"), list(_modules()), ids=lambda v: str(v) if isinstance(v, str) else "")
def test_no_layer_imports_a_higher_one(module: str, file: Path) -> None:
    layer = _layer(module)
    if layer in TOP:
        return
    allowed = set(LAYERS[:LAYERS.index(layer) + 1])
    for imported in _imports(file):
        if not imported.startswith("novadet"):
            continue
        target = imported.removeprefix("novadet").lstrip(".")
        assert target, f"{module} imports the package root"
        target_layer = _layer(target)
        if target_layer in LAYERS or target_layer in TOP:
            assert target_layer in allowed, f"{module} imports {imported} (layer {target_layer} is above {layer})"


def test_core_imports_nothing_of_novadet_but_errors() -> None:
    for module, file in _modules():
        if _layer(module) == "core":
            for imported in _imports(file):
                if imported.startswith("novadet."):
                    assert imported.startswith(("novadet.core", "novadet.errors")), (module, imported)


@pytest.mark.parametrize(("library", "home"), [("ultralytics", "engines.ultralytics"), ("torch", "engines"),
                                                ("torchvision", "engines")])
def test_engine_libraries_stay_inside_engines(library: str, home: str) -> None:
    offenders = [module for module, file in _modules() if not module.startswith(home)
                 and any(i == library or i.startswith(f"{library}.") for i in _imports(file))]
    assert offenders == []


def _string_constants(file: Path) -> Iterator[str]:
    """String literals of ``file``, docstrings left out (they may describe the layout)."""
    tree = ast.parse(file.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.value


def test_only_the_run_folder_type_spells_run_folder_paths() -> None:
    found = [(module, literal) for module, file in _modules() if module != "core.run"
             for text in _string_constants(file) for literal in RUN_FOLDER_LITERALS if literal in text]
    assert found == []


def test_the_literal_check_sees_what_it_should() -> None:
    """The checker itself: it finds a literal in code, even inside an f-string, and skips docstrings."""
    sample = SRC.parent.parent / "tests" / "_sample_module.py"
    sample.write_text('"""Reads train/weights/best.pt."""\nname = f"{x}.gate.json"\n')
    try:
        texts = list(_string_constants(sample))
    finally:
        sample.unlink()
    assert texts == [".gate.json"]


def test_novadet_evaluate_is_the_verb_and_the_layer_still_imports() -> None:
    import novadet
    from novadet.evaluate.diagnose import diagnose

    assert callable(novadet.evaluate) and novadet.evaluate.__module__ == "novadet.evaluate.evaluator"
    assert callable(diagnose)
