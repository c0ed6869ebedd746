"""Read a YAML file into plain data, safely, with errors a person can act on.

Only ``yaml.SafeLoader`` is used, so a document can never construct Python objects
(``!!python/object`` and friends are refused). Duplicate keys, which PyYAML silently
resolves to the last value, are errors here: in a search space a repeated key almost
always means a parameter the user thinks is searched but is not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hpo.errors import SpecError


class _StrictSafeLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys."""


def _construct_mapping_without_duplicates(loader: _StrictSafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a plain value", key_node.start_mark) from None
        if key in seen:
            first = seen[key].start_mark.line + 1
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first given on line {first})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_StrictSafeLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping_without_duplicates)


def read_yaml(path: str | Path) -> Any:
    """Load one YAML document from ``path``.

    Raises:
        SpecError: the file is missing, is a directory, is not UTF-8 text, is not valid
            YAML, uses tags that would construct objects, or repeats a key.
    """
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise SpecError(source, "", "no such file")
    if path.is_dir():
        raise SpecError(source, "", "is a directory, expected a YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpecError(source, "", "is not a UTF-8 text file, expected YAML") from None
    except OSError as exc:
        raise SpecError(source, "", f"cannot be read ({exc.strerror})") from None
    return parse_yaml(text, source)


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML ``text``; ``source`` names it in error messages."""
    if "\x00" in text:
        raise SpecError(source, "", "is a binary file, expected YAML text")
    try:
        loader = _StrictSafeLoader(text)  # yaml.load's steps, with no call that could take another loader
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = exc.problem or exc.context or "invalid YAML"
        if "constructor for the tag" in problem:
            problem = f"YAML tag not allowed ({problem.split('tag', 1)[1].strip()}): a spec holds plain data only"
        raise SpecError(source, "", f"{where}: {problem}") from None
    except yaml.reader.ReaderError as exc:  # a control character; its own message takes two lines
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise SpecError(
            source, "", f"line {line}, column {column}: character #x{exc.character:04x} is not allowed in YAML ({exc.reason})"
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError(source, "", f"invalid YAML: {exc}") from None
