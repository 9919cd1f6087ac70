"""``Record``: a frozen dataclass that round-trips through JSON-ready dicts, nested records included.

pydantic builds the (de)serialiser from the type hints, so a record's fields are its schema: tuples,
dicts, enums, paths and nested dataclasses come back as the types they were written from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import TypeAdapter, ValidationError

from novadet.errors import DataError

_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(kind: type) -> TypeAdapter[Any]:
    """One (de)serialiser per record type, built on first use."""
    if kind not in _ADAPTERS:
        _ADAPTERS[kind] = TypeAdapter(kind)
    return _ADAPTERS[kind]


class Record:
    """Mixin for frozen dataclasses: ``to_dict()`` gives JSON-ready data, ``from_dict()`` reads it back."""

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data (tuples become lists, enums and paths strings)."""
        data: dict[str, Any] = _adapter(type(self)).dump_python(self, mode="json")
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "record") -> Self:
        """The record written by ``to_dict``; keys it does not know (derived values) are ignored.

        Raises:
            DataError: ``data`` does not fit the record, naming ``source`` and the first bad field.
        """
        try:
            record: Self = _adapter(cls).validate_python(dict(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "top level"
            raise DataError(f"{source}: {where}: {first['msg']} (not a {cls.__name__} record?)") from None
        return record
