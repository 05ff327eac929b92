"""Hostile requests built from an app's own OpenAPI document (shared by the service and gateway fuzz tests).

For every operation a plausible request is made from its schemas (examples,
patterns we know, bounds); then each parameter and each JSON leaf is replaced,
one at a time, by text the database cannot store (NUL, a lone surrogate), a
huge integer, a wrong type or a very long string. Bodies are serialised here
with ``ensure_ascii`` so a lone surrogate travels as the escape ``\\ud800``, as
a hostile client would send it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

# Values for the patterns our schemas use; anything else gets a plain word.
_PATTERN_VALUES = {
    r"^[A-Z0-9][A-Z0-9-]{0,63}$": "MUG-RED",
    r"^[a-zA-Z0-9_-]{1,64}$": "fuzz-order-1",
    r"^[A-Z]{2}$": "DE",
    r"^[A-Z]{3}$": "EUR",
    r"^tok_[a-z0-9_]{1,40}$": "tok_visa",
    r"^[a-z0-9][a-z0-9._-]{2,63}$": "fuzzuser",
    r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$": "fuzz@example.com",
    r"^[A-Z][A-Z_]{0,31}$": "FUZZ",
}
_NAME_VALUES = {"email": "fuzz@example.com", "recipient": "fuzz@example.com", "card_token": "tok_visa"}

NUL = "nul"
SURROGATE = "surrogate"
#: Kind of mutation -> the value put in a JSON leaf.
BODY_MUTATIONS: dict[str, Any] = {
    NUL: "a\x00b",
    SURROGATE: "a\ud800b",
    "nul-key": None,  # a NUL in an object key (handled apart)
    "huge-int": 2**63,
    "negative-huge-int": -(2**64),
    "true": True,
    "numeric-string": "2",
    "float": 2.5,
    "list": [],
    "long-string": "x" * 20_000,
}
#: Kind of mutation -> the raw, already percent-encoded text put in a query or path parameter.
PARAM_MUTATIONS: dict[str, str] = {
    NUL: "a%00b",
    "invalid-utf8": "a%ED%A0%80b",  # the would-be UTF-8 of U+D800: decoded to U+FFFD, storable
    "huge-int": "9223372036854775808",
    "negative": "-1",
    "exponent": "1e3",
    "long-string": "x" * 5_000,
}
UNSTORABLE = frozenset({NUL, SURROGATE, "nul-key"})


@dataclass
class FuzzRequest:
    method: str
    path: str  # already percent-encoded
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    has_body: bool = False
    form: bool = False
    kind: str = ""
    where: str = ""

    def send(self, http: httpx.AsyncClient) -> Any:
        url = self.path + (f"?{self.query}" if self.query else "")
        headers = dict(self.headers)
        content: bytes | None = None
        if self.has_body:
            if self.form:
                content = "&".join(f"{quote(k)}={quote(str(v))}" for k, v in self.body.items()).encode()
                headers["content-type"] = "application/x-www-form-urlencoded"
            else:
                content = json.dumps(self.body, ensure_ascii=True).encode()
                headers["content-type"] = "application/json"
        return http.request(self.method, url, content=content, headers=headers)

    def describe(self) -> str:
        return f"{self.method} {self.path[:80]} {self.kind} at {self.where}"


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def example(document: dict[str, Any], schema: dict[str, Any], name: str = "") -> Any:
    """A plausible value for ``schema`` (required fields only)."""
    schema = resolve(document, schema)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return example(document, options[0], name) if options else None
    if "examples" in schema:
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        required = schema.get("required", [])
        return {k: example(document, v, k) for k, v in schema.get("properties", {}).items() if k in required}
    if kind == "array":
        return [example(document, schema.get("items", {}), name)] * max(1, schema.get("minItems", 1))
    if kind == "integer":
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1 if "exclusiveMinimum" in schema else 1)
        return int(low)
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    if "pattern" in schema and schema["pattern"] in _PATTERN_VALUES:
        return _PATTERN_VALUES[schema["pattern"]]
    if name in _NAME_VALUES:
        return _NAME_VALUES[name]
    return "fuzz-value" + "x" * max(0, schema.get("minLength", 0) - 10)


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        if path:
            yield path
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        yield path
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = _replace(value[head], rest, new)
    return copy


def _with_nul_key(value: Any) -> Any:
    return {**value, "a\x00b": "x"} if isinstance(value, dict) else value


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield method.upper(), path, operation


def requests_for(document: dict[str, Any], method: str, template: str, operation: dict[str, Any]) -> list[FuzzRequest]:
    """A plausible request for the operation, then every mutation of it (one place at a time)."""
    params = [p for p in operation.get("parameters", []) if p["in"] in {"path", "query", "header"}]
    values = {(p["in"], p["name"]): str(example(document, p.get("schema", {}), p["name"])) for p in params}
    body_schema = None
    form = False
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        body_schema = content["application/json"]["schema"]
    elif "application/x-www-form-urlencoded" in content:
        body_schema, form = content["application/x-www-form-urlencoded"]["schema"], True
    body = example(document, body_schema) if body_schema is not None else None

    def build(param_values: dict[tuple[str, str], str], new_body: Any, kind: str, where: str) -> FuzzRequest:
        path = re.sub(r"\{(\w+)\}", lambda m: param_values.get(("path", m.group(1)), quote(m.group(1))), template)
        query = "&".join(f"{name}={value}" for (where_, name), value in param_values.items() if where_ == "query")
        headers = {name: value for (where_, name), value in param_values.items() if where_ == "header"}
        return FuzzRequest(method, path, query, headers, new_body, body_schema is not None, form, kind, where)

    encoded = {key: quote(value, safe="") for key, value in values.items()}
    found = [build(encoded, body, "plausible", "-")]
    for key in values:
        if key[0] == "header":
            for kind, raw in (("nul", "a\x00b"), ("long-string", "x" * 5_000)):
                found.append(build({**encoded, key: raw}, body, kind, f"header {key[1]}"))
            continue
        for kind, raw in PARAM_MUTATIONS.items():
            found.append(build({**encoded, key: raw}, body, kind, f"{key[0]} {key[1]}"))
    if body is not None:
        for leaf in _leaves(body):
            for kind, new in BODY_MUTATIONS.items():
                if form and kind not in {NUL, "long-string"}:
                    continue  # form fields are all text
                if kind == "numeric-string" and isinstance(_get(body, leaf), str):
                    continue  # not a wrong type there
                if kind == "nul-key":
                    target = _replace(body, leaf, _with_nul_key(_get(body, leaf)))
                    if target == body:
                        continue
                else:
                    target = _replace(body, leaf, new)
                found.append(build(encoded, target, kind, "body " + ".".join(map(str, leaf)) or "body"))
    return found


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value
