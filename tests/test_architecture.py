"""The core's shape: no import circles between the services, no borrowed private names.

Read from the source (every `import` and `from … import`, at module level or
inside a function, since a deferred import is still a dependency), so that a
circle cannot hide behind a function-level import.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("loyalty", "accounts", "rewards")


def project_modules() -> dict[str, Path]:
    modules = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]):
    """(module imported, names taken from it) for each import statement of `name`."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield (submodule, ()) if submodule in modules else (base, (alias.name,))


def graph(modules: dict[str, Path] | None = None
          ) -> tuple[dict[str, set[str]], list[tuple[str, str, str]]]:
    modules = project_modules() if modules is None else modules
    edges: dict[str, set[str]] = {name: set() for name in modules}
    borrowed = []
    for name, path in modules.items():
        for target, names in imports_of(name, path, modules):
            if target in modules and target != name:
                edges[name].add(target)
                borrowed += [(name, target, taken) for taken in names
                             if taken.startswith("_") and not taken.startswith("__")]
    return edges, borrowed


def cycles(edges: dict[str, set[str]], nodes: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node] & nodes:
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
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return found


def test_the_services_import_graph_has_no_cycle():
    edges, _ = graph()
    services = {name for name in edges if ".services" in name or name.endswith(".tasks")}
    assert cycles(edges, services) == []


def test_no_module_imports_another_modules_private_name():
    _, borrowed = graph()
    assert borrowed == []


def test_the_checker_sees_a_cycle_and_a_borrowed_name(tmp_path):
    """The two tests above can fail: the checker finds what they forbid, deferred or not."""
    files = {"shop.services.a": "from shop.services import b\n",
             "shop.services.b": "def later():\n    from shop.services.c import _secret, public\n",
             "shop.services.c": "from . import a\n_secret = public = 1\n",
             "shop.services.d": "import shop.services.a\n"}
    modules = {}
    for name, source in files.items():
        path = tmp_path / (name.replace(".", "/") + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
        modules[name] = path
    edges, borrowed = graph(modules)
    assert cycles(edges, set(edges)) == [["shop.services.a", "shop.services.b",
                                          "shop.services.c"]]
    assert borrowed == [("shop.services.b", "shop.services.c", "_secret")]
