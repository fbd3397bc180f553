#!/usr/bin/env python3
"""Checks openapi/openapi.json: valid OpenAPI 3.1, and every example valid.

1. The document validates against the OpenAPI 3.1 specification
   (openapi-spec-validator).
2. Every documented example validates (JSON Schema 2020-12, formats
   checked) against the schema it illustrates: `example` / `examples` of
   media types, parameters and headers against their `schema`, and a
   schema's own `examples` against that schema. `$ref`s resolve inside the
   document.

Run by `make test` with the project's venv (scripts/tools.sh installs it):
    .venv/bin/python scripts/check-openapi.py [openapi/openapi.json]
The route and error-code coverage is checked in Rust, next to the router
(crates/core/tests/openapi.rs).
"""

import json
import sys
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

BASE = "urn:strata:openapi"


def pointer(parts):
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def main():
    path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "openapi/openapi.json")
    doc = json.loads(path.read_text(encoding="utf-8"))
    validate_spec(doc)

    registry = Registry().with_resource(BASE, Resource.from_contents(doc, default_specification=DRAFT202012))
    failures = []
    checked = 0

    def check(example, schema_at, where):
        nonlocal checked
        validator = Draft202012Validator({"$ref": f"{BASE}#{pointer(schema_at)}"}, registry=registry,
                                         format_checker=FormatChecker())
        errors = sorted(validator.iter_errors(example), key=lambda e: list(e.path))
        checked += 1
        for e in errors:
            failures.append(f"{where}: {e.message} (at {'/'.join(map(str, e.absolute_path)) or 'the top'})")

    def walk(node, at, is_schema):
        if isinstance(node, dict):
            if is_schema:
                for i, ex in enumerate(node.get("examples", []) if isinstance(node.get("examples"), list) else []):
                    check(ex, at, pointer(at + ["examples", i]))
            elif "schema" in node and isinstance(node["schema"], dict):
                # A media type, parameter or header object.
                if "example" in node:
                    check(node["example"], at + ["schema"], pointer(at + ["example"]))
                for name, ex in (node.get("examples") or {}).items():
                    if "value" in ex:
                        check(ex["value"], at + ["schema"], pointer(at + ["examples", name]))
            for key, value in node.items():
                child_is_schema = (
                    key == "schema" and not is_schema
                    or at == ["components", "schemas"]
                    or is_schema and key in ("items", "not", "additionalProperties", "contains", "if", "then", "else")
                )
                if is_schema and key in ("properties", "$defs", "patternProperties") and isinstance(value, dict):
                    for name, sub in value.items():
                        walk(sub, at + [key, name], True)
                elif is_schema and key in ("allOf", "anyOf", "oneOf", "prefixItems") and isinstance(value, list):
                    for i, sub in enumerate(value):
                        walk(sub, at + [key, i], True)
                elif is_schema and key in ("examples", "enum", "const", "default"):
                    continue
                else:
                    walk(value, at + [key], child_is_schema)
        elif isinstance(node, list) and not is_schema:
            for i, item in enumerate(node):
                walk(item, at + [i], False)

    walk(doc, [], False)
    if failures:
        print(f"{path}: {len(failures)} example(s) do not validate against their schema:", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        return 1
    if checked == 0:
        print(f"{path}: no examples found", file=sys.stderr)
        return 1
    operations = sum(1 for item in doc["paths"].values() for m in item if m != "parameters")
    print(f"{path}: valid OpenAPI {doc['openapi']} ({len(doc['paths'])} paths, {operations} operations); "
          f"{checked} examples valid against their schemas")
    return 0


if __name__ == "__main__":
    sys.exit(main())
