#!/usr/bin/env python3
"""Checks documents against filmeto's JSON Schemas (share/filmeto/schemas).

    schema_check.py DIR [--schemas] [-s SCHEMA] [--lines|--json|--yaml]
                    [--holds|--refused] FILE...

Arguments are read in order; each FILE is checked against the SCHEMA (a
file name in DIR, as line.schema.json), in the mode, with the expectation
given before it: --lines, every line of NDJSON; --json, one JSON
document; --yaml, YAML typed as filmeto types it; --holds (the default),
each document must hold; --refused, each must break the schema, and the
first reason is printed. --schemas checks the schemas themselves. One
interpreter for many checks: importing jsonschema takes a while.

Each schema is found by its $id, so the files' references to each other
resolve offline. A number JSON cannot hold (NaN, Infinity) is an error,
as it is to json-c. Prints FILE:LINE: why for each document that is not
as expected and exits 1 if there was one. Needs Debian's
python3-jsonschema and python3-yaml.
"""
import json
import os
import re
import sys

import jsonschema
import yaml


def no_constant(name):
    raise ValueError("%s is not JSON" % name)


def load_json(text):
    return json.loads(text, parse_constant=no_constant)


class Core12Loader(yaml.SafeLoader):
    """YAML typed as lib/yaml.c types it: YAML 1.2's core schema, where
    yes/no/on/off stay text, 010 is ten, and .inf and .nan stay text."""


Core12Loader.yaml_implicit_resolvers = {}
for tag, regexp, first in [
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0x[0-9a-fA-F]+|0o[0-7]+)$", list("-+0123456789")),
    ("tag:yaml.org,2002:float", r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$",
     list("-+.0123456789")),
]:
    Core12Loader.add_implicit_resolver(tag, re.compile(regexp), first)


def core_int(loader, node):
    s = loader.construct_scalar(node)
    if s.startswith(("0x", "0o")):
        return int(s[2:], 16 if s[1] == "x" else 8)
    return int(s, 10)


Core12Loader.add_constructor("tag:yaml.org,2002:int", core_int)
Core12Loader.add_constructor("tag:yaml.org,2002:float",
                             lambda loader, node: float(loader.construct_scalar(node)))


def schemas(top):
    store = {}
    for name in sorted(os.listdir(top)):
        if name.endswith(".schema.json"):
            with open(os.path.join(top, name)) as f:
                s = json.load(f)
            store[s["$id"]] = s
            store[name] = s
    return store


def validator(store, name):
    schema = store[name]
    resolver = jsonschema.RefResolver.from_schema(schema, store=store)
    return jsonschema.Draft202012Validator(schema, resolver=resolver)


def documents(mode, path):
    """(line number, document or exception) of each document in path."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if mode == "--lines":
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    yield n, load_json(line)
                except ValueError as e:
                    yield n, e
        return
    try:
        yield 1, load_json(text) if mode == "--json" else yaml.load(text, Loader=Core12Loader)
    except (ValueError, yaml.YAMLError) as e:
        yield 1, e


def check_schemas(store):
    bad = 0
    for name, s in store.items():
        if not name.endswith(".schema.json") or "/" in name:
            continue
        try:
            jsonschema.Draft202012Validator.check_schema(s)
            assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema", "$schema"
            assert s["$id"].endswith("/" + name), "$id"
            assert s.get("description"), "description"
        except (jsonschema.SchemaError, AssertionError, KeyError) as e:
            print("%s: not a draft 2020-12 schema with $id and description: %s" % (name, e))
            bad += 1
    return bad


def check_file(v, mode, holds, path):
    bad = checked = 0
    for n, doc in documents(mode, path):
        checked += 1
        if isinstance(doc, Exception):
            errors = [str(doc).replace("\n", " ")]
        else:
            found = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
            errors = ["%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(top)",
                                  e.message[:300]) for e in found]
        if holds:
            for e in errors[:3]:
                print("%s:%d: %s" % (path, n, e))
        elif errors:
            print("refused %s:%d: %s" % (path, n, errors[0]))
        else:
            print("%s:%d: holds, but a rule should refuse it" % (path, n))
        bad += bool(errors) == holds
    if not checked:
        print("%s: no document" % path)
        bad += 1
    return bad


def main(argv):
    store = schemas(argv[1])
    v, mode, holds, bad = None, "--json", True, 0
    args = iter(argv[2:])
    for a in args:
        if a == "--schemas":
            bad += check_schemas(store)
        elif a == "-s":
            v = validator(store, next(args))
        elif a in ("--lines", "--json", "--yaml"):
            mode = a
        elif a in ("--holds", "--refused"):
            holds = a == "--holds"
        elif v is None:
            sys.exit("schema_check.py: no schema (-s) before %s" % a)
        else:
            bad += check_file(v, mode, holds, a)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
