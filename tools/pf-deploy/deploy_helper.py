"""pf-deploy's helper: load flows from entrypoints and run build/push steps, with the user's prefect.

usage: python -c <this>

One Python process serves every deployment of a pf-deploy call. Requests are JSON lines on
stdin; answers are JSON lines on the original stdout (prints of the user's code go to stderr):
  <- {"load": "path/file.py:function"}
  -> {"flow_name", "description", "version", "parameter_schema"}
  <- {"steps": [{"module.function": {...}}, ...], "outputs": {...}}
  -> {"outputs": {...}}                       the upstream outputs updated by each step's
  -> {"error": "no-prefect"|"load"|"not-a-flow"|"steps", "message": ...}   instead
"""

import json
import os
import sys

proto = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)


def say(**fields):
    proto.write(json.dumps(fields, default=str) + "\n")
    proto.flush()


import importlib.util

if importlib.util.find_spec("prefect") is None:
    say(error="no-prefect", message="No module named 'prefect'")
    sys.exit(3)

say(ready=True)

# The fast path: a flow whose name, description, version and parameter schema can be read from
# the source alone (simple annotations, literal defaults) is described without importing prefect
# and the user's module (which costs seconds); anything else is loaded by Prefect itself.
SIMPLE_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
PY_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool}


def simple_schema(annotation):
    import ast

    if isinstance(annotation, ast.Name) and annotation.id in SIMPLE_TYPES:
        return {"type": SIMPLE_TYPES[annotation.id]}
    if (
        isinstance(annotation, ast.Subscript)
        and isinstance(annotation.value, ast.Name)
        and annotation.value.id in ("list", "List")
        and isinstance(annotation.slice, ast.Name)
        and annotation.slice.id in SIMPLE_TYPES
    ):
        return {"items": {"type": SIMPLE_TYPES[annotation.slice.id]}, "type": "array"}
    return None


def fits(schema, value):
    if schema["type"] == "array":
        wanted = PY_TYPES[schema["items"]["type"]]
        return isinstance(value, list) and all(
            isinstance(v, wanted) and not (isinstance(v, bool) and wanted is not bool) for v in value
        )
    wanted = PY_TYPES[schema["type"]]
    return isinstance(value, wanted) and not (isinstance(value, bool) and wanted is not bool)


def fast_load(entrypoint):
    import ast
    import hashlib

    if os.environ.get("PF_DEPLOY_FULL_LOAD") or ":" not in entrypoint:
        return None
    path, name = entrypoint.rsplit(":", 1)
    try:
        source = open(path, "rb").read()
        tree = ast.parse(source)
    except Exception:  # noqa: BLE001 - Prefect reports it
        return None
    imported_flow = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "prefect"
        and any(alias.name == "flow" and alias.asname is None for alias in node.names)
        for node in tree.body
    )
    functions = [
        node
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name
    ]
    rebound = [
        node
        for node in tree.body
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.ClassDef, ast.Import, ast.ImportFrom))
        and name in ast.dump(node)
    ]
    if not imported_flow or len(functions) != 1 or rebound:
        return None
    function = functions[0]
    if len(function.decorator_list) != 1:
        return None
    decorator = function.decorator_list[0]
    options = {}
    if isinstance(decorator, ast.Call):
        if decorator.args or not (isinstance(decorator.func, ast.Name) and decorator.func.id == "flow"):
            return None
        for keyword in decorator.keywords:
            if keyword.arg in ("name", "description", "version"):
                if not (isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str)):
                    return None
                options[keyword.arg] = keyword.value.value
            elif keyword.arg is None or keyword.arg in ("validate_parameters",):
                return None
    elif not (isinstance(decorator, ast.Name) and decorator.id == "flow"):
        return None
    args = function.args
    if args.posonlyargs or args.vararg or args.kwonlyargs or args.kwarg:
        return None
    defaults = [None] * (len(args.args) - len(args.defaults)) + list(args.defaults)
    properties, required = {}, []
    for position, (arg, default) in enumerate(zip(args.args, defaults)):
        schema = simple_schema(arg.annotation) if arg.annotation is not None else None
        if schema is None:
            return None
        prop = {}
        if default is not None:
            try:
                value = ast.literal_eval(default)
            except Exception:  # noqa: BLE001
                return None
            if not fits(schema, value):
                return None
            prop["default"] = value
        else:
            required.append(arg.arg)
        prop.update({"position": position, "title": arg.arg})
        prop.update(schema)
        properties[arg.arg] = prop
    schema = {"title": "Parameters", "type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return {
        "flow_name": options.get("name") or function.name.replace("_", "-"),
        "description": options.get("description") or ast.get_docstring(function, clean=True),
        "version": options.get("version") or hashlib.md5(source).hexdigest(),
        "parameter_schema": schema,
    }


def load(entrypoint):
    fast = fast_load(entrypoint)
    if fast is not None:
        return fast
    try:
        from prefect.flows import load_flow_from_entrypoint
        from prefect.exceptions import MissingFlowError
        from prefect.utilities.callables import parameter_schema
    except Exception as exc:  # noqa: BLE001 - any import failure means "no usable prefect"
        return {"error": "no-prefect", "message": f"{type(exc).__name__}: {exc}"}
    try:
        flow = load_flow_from_entrypoint(entrypoint)
    except MissingFlowError as exc:
        return {"error": "not-a-flow", "message": str(exc).strip()}
    except Exception as exc:  # noqa: BLE001
        cause = exc.__cause__ or exc
        return {"error": "load", "message": f"{type(cause).__name__}: {cause}".strip()}
    schema = parameter_schema(flow).model_dump(mode="json", exclude_unset=True)
    return {
        "flow_name": flow.name,
        "description": flow.description,
        "version": flow.version,
        "parameter_schema": schema,
    }


def steps(request):
    import asyncio

    from prefect.deployments.steps.core import run_steps

    def echo(*args, **_kwargs):
        print(*args, file=sys.stderr)

    try:
        outputs = asyncio.run(
            run_steps(request["steps"], request.get("outputs") or {}, print_function=echo)
        )
    except Exception as exc:  # noqa: BLE001
        return {"error": "steps", "message": f"{type(exc).__name__}: {exc}".strip()}
    return {"outputs": outputs}


for line in sys.stdin:
    if not line.strip():
        continue
    request = json.loads(line)
    if "load" in request:
        say(**load(request["load"]))
    elif "steps" in request:
        say(**steps(request))
