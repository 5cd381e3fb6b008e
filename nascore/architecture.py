"""Discrete architectures: the result of a search, the input of ``build_network``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from nascore.errors import MalformedArchitecture


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _freeze(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_freeze(v) for v in value]
    return value


@attrs.frozen
class Architecture:
    """A member of a search space: the space's name and a JSON-serialisable ``spec``.

    What ``spec`` holds is up to the space (for ``darts``: ``normal``/``reduce`` lists of
    ``[op, input]`` pairs and the concat ranges); ``SearchSpace.validate`` checks it.
    """

    space: str
    spec: dict[str, Any] = attrs.field(converter=_freeze)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict ``{"space": ..., "spec": ...}``."""
        return {"space": self.space, "spec": self.spec}

    @classmethod
    def from_dict(cls, data: Any) -> Architecture:
        """Inverse of :meth:`to_dict`, with a clear error on malformed input."""
        if not isinstance(data, Mapping) or "space" not in data or "spec" not in data:
            raise MalformedArchitecture(
                'architecture JSON must be an object with "space" and "spec" keys'
            )
        if not isinstance(data["spec"], Mapping):
            raise MalformedArchitecture('architecture "spec" must be a JSON object')
        return cls(space=str(data["space"]), spec=data["spec"])

    def key(self) -> str:
        """A canonical string, equal for equal architectures (for caches and deduplication)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def save(self, path: str | Path) -> None:
        """Write as indented JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Architecture:
        """Read a JSON file written by :meth:`save`."""
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise MalformedArchitecture(f"architecture file {path} does not exist") from None
        except json.JSONDecodeError as exc:
            raise MalformedArchitecture(f"architecture file {path} is not JSON: {exc}") from None
        return cls.from_dict(data)
