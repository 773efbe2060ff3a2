"""Fail when the first-party import graph has a cycle between files.

grimp reads every import statement, including those inside function bodies and under
`if TYPE_CHECKING:` (the latter are left out: they never run). Migrations are left out: Django
loads them by name, never by import from the apps. Prints each cycle found (one per strongly
connected group of files) and exits 1, or prints "no import cycle" and exits 0.
"""

from __future__ import annotations

import sys
from pathlib import Path

import grimp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's packages

PACKAGES = ("hub", "audit", "consent", "profiles", "tasks")


def main() -> int:
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    modules = sorted(m for m in graph.modules if ".migrations" not in m)
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for importer in modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            if imported in edges and imported != importer:
                edges[importer].add(imported)
    groups = [g for g in _strongly_connected(edges) if len(g) > 1]
    for group in groups:
        print("import cycle between:", ", ".join(sorted(group)))
        for importer in sorted(group):
            for imported in sorted(edges[importer] & group):
                print(f"    {importer} -> {imported}")
    if groups:
        print(f"{len(groups)} import cycle(s)")
        return 1
    print(f"no import cycle among {len(modules)} modules")
    return 0


def _strongly_connected(edges: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (the graph has a few hundred nodes)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    groups.append(group)
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return groups


if __name__ == "__main__":
    sys.exit(main())
