"""The one registry behind models, augmentations, optimizers, schedules and data sets.

An entry is a builder and the config model it reads, registered together where both are
written, so that adding one touches one file::

    MODELS = Registry("model", default="cnn")
    register_model, list_models = MODELS.register, MODELS.names

    class CnnModel(ModelBase):
        name: Literal["cnn"] = "cnn"
        channels: list[int] = [32, 64, 128]

    @register_model("cnn", config=CnnModel)
    def cnn(config, in_shape, num_classes): ...

The training config's sections are made from the registries when its schema is built
(`Registered`), and rebuilt whenever a registry changes (`Registry.watch`): an entry is
valid in a config as soon as it is registered, wherever that happens. An unknown name is a
KeyError that suggests the closest registered one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

import pydantic
from pydantic import Discriminator, Tag

from hpo.contract import StrictModel, did_you_mean

__all__ = ["Registered", "Registry", "variant"]


class Registry:
    """Names to builders (functions or classes) of one kind of thing, each with its config model."""

    def __init__(self, kind: str, default: str | None = None):
        self.kind = kind
        self.default = default  # the entry a config mapping without `name` means
        self._items: dict[str, Any] = {}
        self._configs: dict[str, type[StrictModel]] = {}
        self._watchers: list[Callable[[], None]] = []

    def register(self, name: str, config: type[StrictModel] | None = None) -> Callable[[Any], Any]:
        """Decorator: register the function or class under `name` with the config model it
        reads, return it unchanged. A config's `name` field, where it has one, must default
        to `name`: the field is what tells the configs of one kind apart."""
        if config is not None and "name" in config.model_fields and config.model_fields["name"].default != name:
            raise ValueError(f"{self.kind} '{name}': its config {config.__name__} names itself '{config.model_fields['name'].default}'")

        def wrap(item: Any) -> Any:
            self._items[name] = item
            if config is not None:
                self._configs[name] = config
            self._changed()
            return item

        return wrap

    def unregister(self, name: str) -> None:
        self.get(name)
        del self._items[name]
        self._configs.pop(name, None)
        self._changed()

    def names(self) -> list[str]:
        return sorted(self._items)

    def get(self, name: str) -> Any:
        if name not in self._items:
            raise KeyError(did_you_mean(name, self.names(), self.kind))
        return self._items[name]

    def config(self, name: str) -> type[StrictModel]:
        """The config model registered with `name`."""
        self.get(name)
        return self._configs[name]

    def configs(self) -> dict[str, type[StrictModel]]:
        """Name -> config model, in the order of registration."""
        return dict(self._configs)

    def watch(self, callback: Callable[[], None]) -> None:
        """Call `callback()` after every registration or removal (to rebuild a schema)."""
        self._watchers.append(callback)

    def _changed(self) -> None:
        for callback in self._watchers:
            callback()

    def union(self) -> Any:
        """The type of one config of this kind: a registered config model, told apart by `name`.

        `model: cnn` is short for `model: {name: cnn}`; a mapping without `name` means the
        default entry; an unknown name is an error that lists the valid ones.
        """
        names = list(self._configs)

        def tag(value: Any) -> str | None:
            return value.get("name", self.default) if isinstance(value, dict) else getattr(value, "name", None)

        def check(value: Any) -> Any:
            if isinstance(value, str):
                value = {"name": value}
            if isinstance(value, dict) and value.get("name", self.default) not in names:
                raise ValueError(did_you_mean(str(value.get("name")), names, f"{self.kind} name"))
            return value

        members = tuple(Annotated[config, Tag(name)] for name, config in self._configs.items())
        return Annotated[Union[members], Discriminator(tag), pydantic.BeforeValidator(check)]  # noqa: UP007  (built at run time)


@dataclass(frozen=True)
class Registered:
    """Pydantic metadata: `Annotated[ModelBase, Registered(MODELS.union)]` validates with the
    type `make()` returns, made each time a model using it builds its schema, so a model
    rebuilt after a registration (`Registry.watch`) accepts the new entry."""

    make: Callable[[], Any]

    def __get_pydantic_core_schema__(self, source: Any, handler: pydantic.GetCoreSchemaHandler) -> Any:
        return handler(self.make())


def variant(base: type[StrictModel], name: str, doc: str = "") -> type[StrictModel]:
    """A config model that is `base` with `name: Literal[name]`, for entries without own fields."""
    cls = pydantic.create_model(
        "".join(part.title() for part in name.split("_")) + base.__name__.lstrip("_").replace("Base", ""),
        __base__=base,
        __doc__=doc or None,
        name=(Literal[name], name),  # type: ignore[arg-type]  # a Literal of a run-time value
    )
    cls.__module__ = base.__module__
    return cls
