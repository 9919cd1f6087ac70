"""The ``novadet`` Typer app and what every command shares: the consoles, the common arguments, and turning
an error into one line and an exit status."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from novadet.cli.options import TYPED_KEY
from novadet.errors import ConfigError, NovadetError


def _wrap_whole_words() -> None:
    """Help wraps at spaces only, so a model name (``fcos-mobilenetv2``) or a value (``repeat-factor``) stays
    whole. Click's help wrapper is private (vendored by Typer 0.20+): tests/test_cli.py fails if this stops
    working."""
    import importlib

    try:
        module = importlib.import_module("typer._click._textwrap")
    except ImportError:
        module = importlib.import_module("click._textwrap")

    class WholeWords(module.TextWrapper):  # type: ignore[misc, name-defined]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("break_on_hyphens", False)
            super().__init__(*args, **kwargs)

    setattr(module, "TextWrapper", WholeWords)  # noqa: B010 (a module attribute mypy cannot see)


_wrap_whole_words()
# Click's plain help (rich_markup_mode=None): a definition list that reads at 80 columns, where Rich's option
# table squeezed every help text into a 13-character column and cut long model names.
app = typer.Typer(
    name="novadet", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None,
    help="Detect objects no pretrained model knows: audit and split your data, train, evaluate, ship to the edge.",
    epilog="Example: novadet init --data data/ && novadet run novadet.yaml   (or each verb: novadet audit data/ ...)",
)
out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

Workers = Annotated[int | None, typer.Option("--workers", help="Processes decoding images (default: all cores).")]
JsonFile = Annotated[Path | None, typer.Option("--json", help="Also write the full report as JSON here.")]
RunArg = Annotated[Path, typer.Argument(help="A run folder (made by `novadet train` or `novadet run`).")]


class CliState:
    debug = False


def errors_to_exit(fn: F) -> F:
    """Turn a NovadetError (or an OS error on a named file) into one line and exit status 2, Ctrl-C into one
    line and exit status 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (NovadetError, OSError) as exc:
            if CliState.debug:
                raise
            err.print(f"[bold red]error:[/] {_one_line(exc)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            if CliState.debug:
                raise
            err.print("interrupted; what finished is kept: run the same command again to go on "
                      "(novadet run resumes a training, novadet train needs --resume)", highlight=False)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, NovadetError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    return " ".join(str(exc).split())


def write_json_report(file: Path | None, data: dict[str, Any]) -> None:
    if file is not None:
        from novadet.core.atomic import write_json

        write_json(file, data)
        out.print(f"Full report: {file}")


def settings_only(settings: dict[str, Any]) -> dict[str, Any]:
    """The option values of a command, without the record of which were typed."""
    return {k: v for k, v in settings.items() if k != TYPED_KEY}


def read_yaml_mapping(file: Path) -> dict[str, Any]:
    """A YAML file of ``option: value``; a one-line ConfigError when it is not one."""
    import yaml

    try:
        loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"{file}: expected a mapping of option: value")
    return loaded
