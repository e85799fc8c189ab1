#!/usr/bin/env python3
"""Write common/src/apply/openapi-subset.json: the request schemas pf-apply validates against
(each kind's create and update bodies and every schema they reference), cut from Prefect's
OpenAPI document. Run it again when the reference server version changes:

    python3 scripts/openapi-subset.py ../shared/reference/prefect-3-openapi.json
"""
import json
import sys

ROOTS = [
    "WorkPoolCreate", "WorkPoolUpdate", "WorkQueueCreate", "WorkQueueUpdate",
    "DeploymentCreate", "DeploymentUpdate", "DeploymentScheduleCreate", "DeploymentScheduleUpdate",
    "AutomationCreate", "AutomationUpdate", "VariableCreate", "VariableUpdate",
    "BlockDocumentCreate", "BlockDocumentUpdate", "ConcurrencyLimitCreate",
    "ConcurrencyLimitV2Create", "ConcurrencyLimitV2Update", "FlowCreate", "FlowUpdate",
]


def refs(node, found):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            refs(value, found)
    elif isinstance(node, list):
        for value in node:
            refs(value, found)


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else "../shared/reference/prefect-3-openapi.json"
    schemas = json.load(open(source))["components"]["schemas"]
    keep, todo = set(), list(ROOTS)
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep.add(name)
        found = set()
        refs(schemas[name], found)
        todo.extend(found - keep)
    out = {name: schemas[name] for name in sorted(keep)}
    with open("common/src/apply/openapi-subset.json", "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"{len(out)} schemas")


main()
