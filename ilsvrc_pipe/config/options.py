"""Strict ``--cfg-options KEY=VALUE`` overrides, checked against the loaded config.

mmengine's ``DictAction`` merges whatever it is given: ``skip_corrupt_images=no`` becomes the
(true) string ``'no'``, a misspelt key is added and then ignored, ``data=foo`` replaces a whole
section, and a dict inside a list ends in a RecursionError. A setting that is silently not what the
user meant is worse than an error, so here:

* the key must exist in the config (``a.b.c``; list items by position, ``cls.models.0.name``);
  an unknown key is an error naming the nearest valid ones. ``+a.b.new=VALUE`` adds a new key to
  an existing section, for the settings that code reads with a default;
* the value is parsed by the type of the value it replaces: booleans accept only
  true/false, yes/no, on/off, 1/0 (any case); integers and floats must parse as such; lists take
  ``[a,b]``, ``(a,b)`` or ``a,b`` of flat items; a section (dict) cannot be replaced by a value.
"""
from __future__ import annotations

import difflib
from typing import Any, Iterable

from ..utils.errors import UserInputError

TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
_OPEN_CLOSE = {"[": "]", "(": ")"}


def parse_bool(text: str, where: str) -> bool:
    """``true/false``, ``yes/no``, ``on/off``, ``1/0`` in any case; anything else is an error."""
    low = text.strip().lower()
    if low in TRUE:
        return True
    if low in FALSE:
        return False
    raise UserInputError(f"{where}: expected a boolean (true/false, yes/no, on/off, 1/0), got {text!r}")


def _parse_scalar(text: str, like: Any, where: str) -> Any:
    """``text`` as the type of ``like`` (the value it replaces; None: the most specific type)."""
    if isinstance(like, bool):
        return parse_bool(text, where)
    if isinstance(like, int):
        try:
            return int(text)
        except ValueError:
            raise UserInputError(f"{where}: expected an integer, got {text!r}") from None
    if isinstance(like, float):
        try:
            return float(text)
        except ValueError:
            raise UserInputError(f"{where}: expected a number, got {text!r}") from None
    if isinstance(like, str):
        return text
    if text.lower() in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return parse_bool(text, where) if text.lower() in ("true", "false") else text


def _parse_list(text: str, like: list | tuple, where: str) -> list | tuple:
    """Flat ``[a,b]`` / ``(a,b)`` / ``a,b``; items typed like the existing items."""
    body = text.strip()
    if body[:1] in _OPEN_CLOSE:
        if not body.endswith(_OPEN_CLOSE[body[0]]):
            raise UserInputError(f"{where}: unbalanced brackets in {text!r}")
        body = body[1:-1]
    if any(c in body for c in "[](){}") or "dict(" in body:
        raise UserInputError(f"{where}: only flat lists can be given on the command line, got {text!r}; "
                             "set the items' keys one by one, e.g. cls.models.0.name=VALUE")
    items = [t.strip() for t in body.split(",")] if body.strip() else []
    kinds = {type(v) for v in like}
    item_like = like[0] if len(kinds) == 1 else None
    parsed = [_parse_scalar(t, item_like, f"{where} item {k + 1}") for k, t in enumerate(items)]
    return tuple(parsed) if isinstance(like, tuple) else parsed


def _flat_keys(node: Any, prefix: str = "") -> Iterable[str]:
    """Every dotted key of a config tree (sections and leaves; list items by position)."""
    children = node.items() if isinstance(node, dict) else (
        enumerate(node) if isinstance(node, (list, tuple)) else ())
    for key, value in children:
        path = f"{prefix}{key}"
        yield path
        yield from _flat_keys(value, path + ".")


def _unknown_key(key: str, tree: dict) -> UserInputError:
    keys = list(_flat_keys(tree))
    near = difflib.get_close_matches(key, keys, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(near)}?" if near else "no similar key"
    return UserInputError(f"--cfg-options {key}: no such key in the config ({hint}); "
                          "write +KEY=VALUE to add a new key on purpose")


def _lookup(tree: dict, key: str, adding: bool) -> Any:
    """The current value of a dotted key (None for a key being added: its parent must be a section)."""
    node: Any = tree
    parts = key.split(".")
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif last and adding and isinstance(node, dict):
            return None
        else:
            raise _unknown_key(key, tree)
    return node


def parse_cfg_options(options: Iterable[str] | None, tree: dict) -> dict:
    """``KEY=VALUE`` strings -> ``{key: typed value}`` for ``Config.merge_from_dict``, checked
    against ``tree`` (the loaded config as a plain dict)."""
    merged: dict = {}
    for option in options or ():
        key, sep, text = option.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserInputError(f"--cfg-options {option!r}: expected KEY=VALUE, e.g. eval.seed=1")
        adding = key.startswith("+")
        key = key.lstrip("+")
        if any(not part for part in key.split(".")):
            raise UserInputError(f"--cfg-options {option!r}: empty part in the key {key!r}")
        current = _lookup(tree, key, adding)
        merged[key] = _parse_value(text, current, key)
    return merged


def _parse_value(text: str, current: Any, key: str) -> Any:
    """``text`` typed like ``current``; sections (and lists of them) are not replaced by values."""
    where = f"--cfg-options {key}"
    if isinstance(current, dict):
        raise UserInputError(f"{where}={text}: {key} is a config section (keys: {', '.join(map(str, current))}); "
                             f"set one of its keys, e.g. {key}.{next(iter(current), 'KEY')}=VALUE")
    sections = [k for k, v in enumerate(current) if isinstance(v, dict)] if isinstance(current, (list, tuple)) else []
    if sections:
        first = sections[0]
        raise UserInputError(f"{where}={text}: {key} is a list of config sections; set their keys one by one, "
                             f"e.g. {key}.{first}.{next(iter(current[first]), 'KEY')}=VALUE")
    if isinstance(current, (list, tuple)):
        return _parse_list(text, current, where)
    if current is None and text.strip()[:1] in _OPEN_CLOSE:
        return _parse_list(text, [], where)
    return _parse_scalar(text, current, where)


def config_flag(section, key: str, default: bool, where: str = "") -> bool:
    """A boolean setting read from a config section: ``True``/``False`` (or 1/0) only. A string such
    as ``'no'`` written in a config file is truthy in Python and would silently mean yes."""
    value = section.get(key, default) if section is not None else default
    if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    raise UserInputError(f"config key {where}{key}: expected True or False, got {value!r}")
