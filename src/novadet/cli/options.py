"""Command-line options made from config fields, so a flag's default and help live only in the config type.

``@options(TrainConfig)`` on a command replaces its ``**options`` with one ``--flag`` per field of the
type (a dataclass with ``help`` metadata, or a pydantic model with descriptions) and hands the command the
values given, by field name, plus which of them the user typed.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields, is_dataclass
from typing import Annotated, Any, TypeVar, get_origin, get_type_hints

import typer
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticUndefined

from novadet.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)
TYPED_KEY = "_typed_on_command_line"
_CONTEXT = "_options_context"


@dataclass(frozen=True)
class Field:
    """One option: its name, type, default and help."""

    name: str
    annotation: Any
    default: Any
    help: str


def fields_of(kind: type) -> list[Field]:
    """The fields of a config dataclass or pydantic model that have a command-line form."""
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return [Field(name, info.annotation, None if info.default is PydanticUndefined else info.default,
                      info.description or "") for name, info in kind.model_fields.items()]
    if not is_dataclass(kind):
        raise TypeError(f"{kind!r} is neither a dataclass nor a pydantic model")
    hints = get_type_hints(kind)
    return [Field(f.name, hints[f.name], _default(f), f.metadata.get("help", "")) for f in fields(kind)
            if f.metadata.get("cli", True)]


def _default(f: Any) -> Any:
    return f.default_factory() if f.default is MISSING and f.default_factory is not MISSING else f.default


def options(*kinds: type, only: tuple[str, ...] = (), skip: tuple[str, ...] = (),
            defaults: dict[str, Any] | None = None, annotations: dict[str, Any] | None = None) -> Callable[[F], F]:
    """Give the decorated command one ``--flag`` per field of ``kinds`` (those in ``only`` if given, minus
    ``skip``); it receives them as keyword arguments, and ``_typed_on_command_line``: the names the user typed.

    ``defaults`` and ``annotations`` override a field's default or its command-line type where the two must
    differ (a required field, a tuple that the command line takes as three numbers).
    """
    specs = [f for kind in kinds for f in fields_of(kind) if f.name not in skip and (not only or f.name in only)]
    defaults, annotations = defaults or {}, annotations or {}

    def decorate(command: F) -> F:
        signature = inspect.signature(command, eval_str=True)
        kept = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        added: list[inspect.Parameter] = []
        listed: set[str] = set()
        for spec in specs:
            kind = annotations.get(spec.name, spec.annotation)
            if get_origin(kind) is list:  # taken as text, so "0.25,0.5,1" and repeated flags both work
                kind, listed = list[str], listed | {spec.name}
            flag = "--" + spec.name.replace("_", "-")
            decl = f"{flag}/--no-{flag[2:]}" if kind is bool else flag
            added.append(inspect.Parameter(spec.name, inspect.Parameter.KEYWORD_ONLY,
                                           default=defaults.get(spec.name, spec.default),
                                           annotation=Annotated[kind, typer.Option(decl, help=spec.help)]))

        context = inspect.Parameter(_CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ctx: typer.Context = kwargs.pop(_CONTEXT)
            typed = {s.name for s in specs if _typed(ctx, s.name)}
            for name in listed:
                kwargs[name] = split_commas(kwargs[name])
            return command(*args, **kwargs, **{TYPED_KEY: typed})

        parameters = [*kept, context, *added]
        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        return wrapper  # type: ignore[return-value]

    return decorate


def split_commas(values: list[str] | tuple[str, ...] | None) -> list[str] | None:
    """A list option's values as typed: ``--x 1,2 --x 3`` and ``--x 1 --x 2 --x 3`` both give three.

    >>> split_commas(["0.25,0.5", "1"])
    ['0.25', '0.5', '1']
    """
    if values is None:
        return None
    return [part.strip() for value in values for part in str(value).split(",") if part.strip()]


def build(kind: type[M], values: dict[str, Any]) -> M:
    """``kind`` (a config section) from flag values; a bad value is a ConfigError naming the flag."""
    try:
        return kind(**{k: v for k, v in values.items() if k in kind.model_fields})
    except ValidationError as exc:
        first = exc.errors()[0]
        flag = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else kind.__name__
        raise ConfigError(f"{flag}: {first['msg'].removeprefix('Value error, ')}") from None


def _typed(context: typer.Context, name: str) -> bool:
    source = context.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"
