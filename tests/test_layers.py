"""The import graph of the runtime code: no cycle, and no import from a lower layer to a higher
one (the layers of ARCHITECTURE.md, "Layers"). Imports inside functions count too."""

from __future__ import annotations

import ast

from tests.conftest import ROOT

# Lowest first; a module may import its own layer and those below. The first prefix that
# matches a module names its layer.
LAYERS: list[tuple[str, ...]] = [
    ("crawler.settings", "crawler.text", "crawler.dw"),
    ("crawler.dates", "crawler.items", "crawler.search", "crawler.health", "crawler.arguments",
     "crawler.setting_names", "crawler.codings", "crawler.middlewares", "crawler.logfile"),
    ("crawler.extract", "crawler.discovery", "crawler.outcome", "crawler.exporters"),
    ("crawler.archive", "crawler.setting_checks"),
    ("crawler.warc", "crawler.spiders", "crawler.extensions", "pipelines"),
    ("crawler.distributed", "crawler.reextract", "crawler.backfill"),
    ("crawler.commands",),
    ("devtools",),
]
OURS = ("crawler", "pipelines", "devtools")


def module_name(path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def exists(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imports(path) -> set[str]:
    """The project's modules a file imports (a name imported from a package, when it is a
    module of that package, is that module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in OURS:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if exists(sub) else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] in OURS}
    return found


GRAPH = {module_name(path): imports(path) for folder in OURS for path in (ROOT / folder).rglob("*.py")}


def layer(module: str) -> int:
    for number, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return number
    raise AssertionError(f"{module} is on no layer: add it to LAYERS and ARCHITECTURE.md")


def test_every_module_is_on_a_layer_and_imports_none_above_it():
    assert len(GRAPH) > 60 and sum(map(len, GRAPH.values())) > 100  # the scan sees the code
    upward = [f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})"
              for module, targets in sorted(GRAPH.items()) for target in sorted(targets)
              if layer(target) > layer(module)]
    assert upward == []


def test_no_import_cycle():
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in GRAPH.get(node, ()):
                cycles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert cycles == []
