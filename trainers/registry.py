"""The one registry behind models, augmentations, optimizers, schedules and data sets.

    _MODELS = Registry("model")
    register_model, list_models = _MODELS.register, _MODELS.names

    @register_model("cnn")
    def cnn(...): ...

An unknown name is a KeyError that suggests the closest registered one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hpo.contract import did_you_mean

__all__ = ["Registry"]


class Registry:
    """Names to builders (functions or classes) of one kind of thing."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, Any] = {}

    def register(self, name: str) -> Callable[[Any], Any]:
        """Decorator: register the function or class under `name`, return it unchanged."""

        def wrap(item: Any) -> Any:
            self._items[name] = item
            return item

        return wrap

    def names(self) -> list[str]:
        return sorted(self._items)

    def get(self, name: str) -> Any:
        if name not in self._items:
            raise KeyError(did_you_mean(name, self.names(), self.kind))
        return self._items[name]
