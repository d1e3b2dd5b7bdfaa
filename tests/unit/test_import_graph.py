"""No module of ours imports itself back, directly or through others.

Import-linter (.importlinter) checks which package may import which, not
cycles inside a package; a cycle makes the order modules load in matter, and
the lazy import that hides one is easy to break. Imports only made for type
checkers are left out, as .importlinter leaves them out.
"""

from __future__ import annotations

import grimp

PACKAGES = ("service", "common", "gateway", "cli")


def strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every set of two or more modules that import each other, directly or
    not (Tarjan's algorithm, without recursion), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        while work:
            module, imported = work[-1]
            for other in imported:
                if other not in index:
                    index[other] = low[other] = len(index)
                    stack.append(other)
                    on_stack.add(other)
                    work.append((other, iter(sorted(graph.find_modules_directly_imported_by(other)))))
                    break
                if other in on_stack:
                    low[module] = min(low[module], index[other])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[module])
                if low[module] == index[module]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == module:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def shortest_cycle(graph: grimp.ImportGraph, component: list[str]) -> str:
    """One shortest cycle through the component's first module, each step
    with the line that imports: "a -> b (imported at a line 3) -> a (imported at b line 7)"."""
    start = component[0]
    chains = [
        graph.find_shortest_chain(imported, start)
        for imported in graph.find_modules_directly_imported_by(start)
        if imported in component
    ]
    chain = (start, *min((c for c in chains if c), key=lambda c: (len(c), c)))
    steps = [chain[0]]
    for importer, imported in zip(chain, chain[1:]):
        lines = sorted(d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported))
        steps.append(f"{imported} (imported at {importer} line {lines[0] if lines else '?'})")
    return " -> ".join(steps)


def test_no_module_level_import_cycle() -> None:
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True, cache_dir=None)
    cycles = [shortest_cycle(graph, component) for component in strongly_connected(graph)]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_a_cycle_is_found_and_named() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d"), ("p.d", "p.e")]:
        graph.add_import(importer=importer, imported=imported, line_number=1, line_contents=f"import {imported}")
    assert strongly_connected(graph) == [["p.a", "p.b", "p.c"]]
    assert shortest_cycle(graph, ["p.a", "p.b", "p.c"]) == (
        "p.a -> p.b (imported at p.a line 1) -> p.c (imported at p.b line 1) -> p.a (imported at p.c line 1)"
    )
