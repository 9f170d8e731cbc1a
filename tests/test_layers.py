"""The layer contract: data flows one way (spec -> runs -> measures -> statistics -> report), so each module of the
package imports only from its own layer or the ones below it, and no two modules import each other, even
inside a function or under TYPE_CHECKING. A new module must be placed in a layer here."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "replication"

# Lowest first. "base" holds what every layer above needs to name a network and its data (a measure evaluates
# networks too); "engine" is what trains them. A measure never imports the engine; the engine never the report.
LAYERS = {
    "spec": ["atomic", "verdicts", "spec", "presets", "registry", "instability_map", "cost"],
    "base": ["devices", "data", "models", "masks", "evaluation", "store"],
    "engine": ["kernels", "losses", "training", "stacked_mlp", "stacked_convnet", "imp"],  # replication/engine/
    "measures": ["accuracy", "similarity", "magnitudes", "landscape", "stability"],
    "statistics": ["stats", "preconditions"],
    "report": ["figures", "report", "compare", "evidence"],
    "orchestration": ["executors", "progress", "verify", "lab", "probe"],
    "interfaces": ["options", "cli", "pytest_plugin", "__init__"],
}
RANK = {module: rank for rank, modules in enumerate(LAYERS.values()) for module in modules}
# Below them in the order, and still not theirs to import: an analysis never trains, nor does what reports it.
FORBIDDEN = {("measures", "engine"), ("statistics", "engine"), ("report", "engine")}


# Subpackages whose modules stand in the contract one by one (the registry counts as one module).
OPEN = ("engine",)


def _module(dotted: str) -> str:
    """The contract's name for a module of the package, from its dotted path inside it."""
    parts = dotted.split(".")
    return parts[1] if parts[0] in OPEN and len(parts) > 1 else parts[0]


def imports_of(source: str) -> set[str]:
    """The package's modules a source imports, wherever the import statement stands."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            named = {a.name for a in node.names}
            found |= (named if node.module in OPEN else {_module(node.module)}) if node.module else named
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("replication."):
            found.add(_module(node.module.split(".", 1)[1]))
        elif isinstance(node, ast.Import):
            found |= {_module(a.name.split(".", 1)[1]) for a in node.names if a.name.startswith("replication.")}
    return found - {"__version__", *OPEN}


def graph(sources: dict[str, str]) -> dict[str, set[str]]:
    return {module: imports_of(text) - {module} for module, text in sources.items()}


def violations(edges: dict[str, set[str]]) -> list[str]:
    """Upward and forbidden imports, and cycles (as pairs that reach each other)."""
    out = [f"{a} ({_layer(a)}) imports {b} ({_layer(b)})" for a, bs in edges.items() for b in sorted(bs)
           if RANK.get(b, -1) > RANK.get(a, -1) or (_layer(a), _layer(b)) in FORBIDDEN]
    reach = {a: _reachable(edges, a) for a in edges}
    out += [f"{a} and {b} import each other" for a in sorted(edges) for b in sorted(reach[a]) if a < b and a in reach.get(b, ())]
    return out


def _layer(module: str) -> str:
    return next((name for name, modules in LAYERS.items() if module in modules), "no layer")


def _reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), list(edges.get(start, ()))
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += edges.get(module, ())
    return seen


def _package() -> dict[str, str]:
    """Each module's source; a subpackage (the registry) counts as one module, its imports within itself left out."""
    sources = {p.stem: p.read_text() for p in PACKAGE.glob("*.py")}
    for name in OPEN:  # each module on its own; its parent's modules named as a module of the package would be
        sources |= {p.stem: p.read_text().replace("from ..", "from .") for p in (PACKAGE / name).glob("*.py")
                    if p.stem != "__init__"}
    for folder in (p for p in PACKAGE.iterdir() if (p / "__init__.py").is_file() and p.name not in OPEN):
        inside = "\n".join(p.read_text() for p in sorted(folder.glob("*.py")))
        sources[folder.name] = inside.replace("from ..", "from .")  # its parent's modules, as a module's would be
    return sources


def test_every_module_has_a_layer():
    assert sorted(set(_package()) - set(RANK)) == []
    assert sorted(set(RANK) - set(_package())) == []


def test_the_package_imports_only_downward_never_measures_to_engine_and_has_no_cycle():
    assert violations(graph(_package())) == []


def test_the_contract_fails_on_an_upward_import_and_on_a_cycle():
    """A measure that imports the engine, an engine module that imports the report, and two modules of one layer
    that import each other (even under TYPE_CHECKING) are each caught."""
    sources = _package()
    sources["landscape"] += "\nfrom .imp import run_experiments\n"
    sources["training"] += "\ndef f():\n    from .report import markdown_table\n"
    sources["losses"] += "\nif TYPE_CHECKING:\n    from .stacked_mlp import train_population\n"
    found = violations(graph(sources))
    assert "landscape (measures) imports imp (engine)" in found
    assert "training (engine) imports report (report)" in found
    assert "losses and stacked_mlp import each other" in found
