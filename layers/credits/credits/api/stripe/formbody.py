"""Stripe-style ``application/x-www-form-urlencoded`` parser (pure, no I/O).

Stripe's API and its SDKs (``stripe._encode._api_encode`` + ``urllib.parse.urlencode``)
send nested parameters as bracket keys::

    amount[monetary][value]=1000      -> {"amount": {"monetary": {"value": "1000"}}}
    prices[0][id]=p1&prices[1][id]=p2 -> {"prices": [{"id": "p1"}, {"id": "p2"}]}
    tags[]=a&tags[]=b                 -> {"tags": ["a", "b"]}

Every leaf stays a string ("true", "1000", ""): typing and range checks belong to the
endpoint, which can then name the parameter in its error. Empty values are kept because
Stripe gives them meaning (``expires_at=`` unsets, ``metadata[k]=`` deletes a key).

Query strings use the same parser: ``parse_form(event["rawQueryString"])``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["FormError", "parse_form", "flatten_param", "MAX_DEPTH", "MAX_FIELDS"]

MAX_DEPTH = 8  # root name + 7 bracket segments; Stripe's deepest real param is 5
MAX_FIELDS = 1000  # bounds the work one request body can cause

# root name, then zero or more "[...]" segments; brackets never nest.
_KEY_RE = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")
_SEGMENT_RE = re.compile(r"\[([^\[\]]*)\]")
# Only canonical non-negative integers are array indices ("01" and "-1" are not).
_INDEX_RE = re.compile(r"0|[1-9][0-9]*")


class FormError(ValueError):
    """A body/query string that cannot be parsed; ``param`` is in bracket form."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}" if param else message)
        self.param = param
        self.message = message


def flatten_param(path: Iterable[Any]) -> str:
    """("amount", "monetary", "value") -> "amount[monetary][value]" (ints allowed)."""
    parts = [str(p) for p in path]
    if not parts:
        return ""
    return parts[0] + "".join(f"[{p}]" for p in parts[1:])


class _Branch(dict):
    """An object/array node while building; which one is decided at the end."""


class _Append(list):
    """Values given as ``key[]=v``; always a list of strings."""


def parse_form(
    body: str | bytes | None,
    *,
    mapping_keys: Collection[str] = frozenset({"metadata"}),
    max_depth: int = MAX_DEPTH,
    max_fields: int = MAX_FIELDS,
) -> dict[str, Any]:
    """Parse a form body or query string into nested dicts/lists of strings.

    ``mapping_keys``: containers under a key with one of these names are always dicts,
    even when every sub-key is a number (``metadata[2024]=x`` is a metadata key, not an
    array with a gap).

    Raises ``FormError`` for: a key given twice, a key used both as a value and as a
    container, malformed keys, non-contiguous array indices, arrays mixed with named keys,
    nesting deeper than ``max_depth``, more than ``max_fields`` fields, invalid UTF-8.
    """
    root = _Branch()
    for key, value in _pairs(body, max_fields):
        _insert(root, key, _split_key(key, max_depth), value)
    return _finish_mapping(root, (), mapping_keys)


def _pairs(body: str | bytes | None, max_fields: int) -> list[tuple[str, str]]:
    if body is None:
        return []
    if isinstance(body, str):
        try:
            raw = body.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates in a str
            raise FormError("", "body is not valid UTF-8") from None
    else:
        raw = bytes(body)
    # Decode percent-escapes as latin-1 (a lossless bytes<->str mapping), then check UTF-8
    # per key and value: this never crashes and lets the error name the key when only the
    # value is bad.
    try:
        pairs = parse_qsl(
            raw.decode("latin-1"),
            keep_blank_values=True,  # "expires_at=" means unset; "a" alone is a=""
            encoding="latin-1",
            errors="strict",
            max_num_fields=max_fields,
        )
    except ValueError:
        raise FormError("", f"too many parameters (at most {max_fields})") from None
    out = []
    for k, v in pairs:
        try:
            key = k.encode("latin-1").decode("utf-8")
        except UnicodeDecodeError:
            raise FormError("", "parameter name is not valid UTF-8") from None
        try:
            value = v.encode("latin-1").decode("utf-8")
        except UnicodeDecodeError:
            raise FormError(key, "value is not valid UTF-8") from None
        out.append((key, value))
    return out


def _split_key(key: str, max_depth: int) -> list[str]:
    m = _KEY_RE.fullmatch(key)
    if m is None:
        raise FormError(key, "malformed parameter name" if key else "empty parameter name")
    segments = [m.group(1), *_SEGMENT_RE.findall(m.group(2))]
    # "[]" (append) is only meaningful on the last segment: "a[][b]" is ambiguous.
    if "" in segments[:-1]:
        raise FormError(key, "'[]' may only end a parameter name")
    if len(segments) > max_depth:
        raise FormError(key, f"parameter nested more than {max_depth} levels deep")
    return segments


def _insert(root: _Branch, key: str, segments: list[str], value: str) -> None:
    append = segments[-1] == ""
    path = segments[:-1] if append else segments
    node = root
    for i, seg in enumerate(path[:-1]):
        child = node.get(seg)
        if child is None:
            child = node[seg] = _Branch()
        elif not isinstance(child, _Branch):
            raise FormError(
                flatten_param(path[: i + 1]), "given both as a value and as an object/array"
            )
        node = child
    last = path[-1]
    existing = node.get(last)
    if append:
        if existing is None:
            node[last] = _Append([value])
        elif isinstance(existing, _Append):
            existing.append(value)
        else:
            raise FormError(flatten_param(path), "given both as 'key[]' and otherwise")
    elif existing is None:
        node[last] = value
    elif isinstance(existing, str):
        raise FormError(key, "parameter given more than once")
    else:
        raise FormError(key, "given both as a value and as an object/array")


def _finish(node: Any, path: tuple[str, ...], mapping_keys: Collection[str]) -> Any:
    if isinstance(node, str):
        return node
    if isinstance(node, _Append):
        if path[-1] in mapping_keys:
            raise FormError(flatten_param(path) + "[]", "empty key")
        return list(node)
    if path[-1] in mapping_keys:
        return _finish_mapping(node, path, mapping_keys)
    numeric = [k for k in node if _INDEX_RE.fullmatch(k)]
    if not numeric:
        return _finish_mapping(node, path, mapping_keys)
    if len(numeric) != len(node):
        raise FormError(flatten_param(path), "mixes array indices and named keys")
    # Indices may arrive in any order but must be exactly 0..n-1.
    items = sorted(node.items(), key=lambda kv: int(kv[0]))
    for expected, (k, _) in enumerate(items):
        if int(k) != expected:
            raise FormError(
                flatten_param((*path, k)), f"array index {expected} is missing"
            )
    return [_finish(v, (*path, k), mapping_keys) for k, v in items]


def _finish_mapping(
    node: _Branch, path: tuple[str, ...], mapping_keys: Collection[str]
) -> dict[str, Any]:
    return {k: _finish(v, (*path, k), mapping_keys) for k, v in node.items()}
