#!/usr/bin/env python3
"""Lists cycles between the top-level modules of each workspace crate.

Usage: scripts/module-cycles.py [ROOT]

A module `a` uses `b` when a file of `a` (a.rs, a/**.rs) names `crate::b` (also in a grouped
`use crate::{b, ...}`) or, from a.rs itself, `super::b`. Test code is left out as in long-fns.py.
Prints each strongly connected group of two or more modules; exits 1 when there is one.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
long_fns = __import__("long-fns")


def top_module(src_dir: str, path: str):
    rel = os.path.relpath(path, src_dir).split(os.sep)
    name = rel[0][:-3] if rel[0].endswith(".rs") else rel[0]
    return None if name in ("lib", "main", "bin") else name


def uses(text: str):
    found = set(re.findall(r"\bcrate::([a-z_][a-z0-9_]*)", text))
    for group in re.findall(r"\bcrate::\{([^}]*)\}", text):
        found.update(re.findall(r"(?:^|,)\s*([a-z_][a-z0-9_]*)", group))
    return found


def crate_graph(src_dir: str):
    graph = {}
    for dirpath, dirnames, files in os.walk(src_dir):
        for f in files:
            path = os.path.join(dirpath, f)
            if not f.endswith(".rs") or long_fns.is_test_path(os.path.relpath(path, src_dir)):
                continue
            module = top_module(src_dir, path)
            if module is None:
                continue
            text = long_fns.blank(open(path, encoding="utf-8").read())
            for a, b in long_fns.test_ranges(text):
                text = text[:a] + " " * (b - a + 1) + text[b + 1 :]
            targets = uses(text)
            if os.path.dirname(path) == src_dir:
                targets |= set(re.findall(r"\bsuper::([a-z_][a-z0-9_]*)", text))
            graph.setdefault(module, set()).update(t for t in targets if t != module)
    modules = set(graph)
    return {m: {t for t in ts if t in modules} for m, ts in graph.items()}


def cycles(graph):
    """Strongly connected groups of two or more modules (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    found = 0
    for crate in sorted(os.listdir(root)):
        src = os.path.join(root, crate, "src")
        if not os.path.isdir(src) or crate == "target":
            continue
        graph = crate_graph(src)
        for group in cycles(graph):
            found += 1
            edges = [f"{a} -> {b}" for a in group for b in sorted(graph[a]) if b in group]
            print(f"{crate}: {', '.join(group)} ({'; '.join(edges)})")
    print(f"{found} module cycle(s)")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
