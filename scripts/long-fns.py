#!/usr/bin/env python3
"""Lists Rust functions longer than N lines (default 100) outside tests.

Usage: scripts/long-fns.py [--max N] [ROOT]

A function's length is from its `fn` line to its closing brace, inclusive. Test code is left out:
any path with a `tests` folder, files named `tests.rs` or `*_tests.rs`, and `#[cfg(test)]` items.
Comments, strings and char literals are blanked first so their braces do not count.
"""

import os
import re
import sys


def blank(src: str) -> str:
    """Replaces comments, strings and char literals by spaces, keeping newlines and offsets."""
    out = list(src)
    i, n = 0, len(src)

    def wipe(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            wipe(i, j)
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            wipe(i, j)
            i = j
        elif (m := re.compile(r'b?r(#*)"').match(src, i)) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            end = '"' + m.group(1)
            j = src.find(end, m.end())
            j = n if j < 0 else j + len(end)
            wipe(i, j)
            i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            wipe(i, j + 1)
            i = j + 1
        elif c == "'":
            m = re.compile(r"'(\\.[^']*|[^\\'])'").match(src, i)
            if m:
                wipe(i, m.end())
                i = m.end()
            else:
                i += 1  # a lifetime
        else:
            i += 1
    return "".join(out)


def match_brace(text: str, open_at: int) -> int:
    depth = 0
    for k in range(open_at, len(text)):
        if text[k] == "{":
            depth += 1
        elif text[k] == "}":
            depth -= 1
            if depth == 0:
                return k
    return len(text) - 1


def test_ranges(text: str):
    """Offsets covered by `#[cfg(test)]` items."""
    ranges = []
    for m in re.finditer(r"#\[cfg\(test\)\]", text):
        j = m.end()
        while j < len(text) and text[j] not in "{;":
            j += 1
        if j < len(text) and text[j] == "{":
            ranges.append((m.start(), match_brace(text, j)))
    return ranges


def long_fns(path: str, limit: int):
    src = open(path, encoding="utf-8").read()
    text = blank(src)
    skip = test_ranges(text)
    for m in re.finditer(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)", text):
        if any(a <= m.start() <= b for a, b in skip):
            continue
        j = m.end()
        paren = 0
        while j < len(text):
            ch = text[j]
            if ch in "([":
                paren += 1
            elif ch in ")]":
                paren -= 1
            elif paren == 0 and ch in "{;":
                break
            j += 1
        if j >= len(text) or text[j] == ";":
            continue
        end = match_brace(text, j)
        first = text.count("\n", 0, m.start()) + 1
        last = text.count("\n", 0, end) + 1
        if last - first + 1 > limit:
            yield last - first + 1, f"{path}:{first}", m.group(1)


def is_test_path(rel: str) -> bool:
    parts = rel.split(os.sep)
    return "tests" in parts[:-1] or parts[-1] == "tests.rs" or parts[-1].endswith("_tests.rs")


def main():
    args = sys.argv[1:]
    limit = 100
    if args[:1] == ["--max"]:
        limit, args = int(args[1]), args[2:]
    root = args[0] if args else "."
    rows = []
    for dirpath, dirnames, files in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("target", ".git"))
        for f in sorted(files):
            if not f.endswith(".rs"):
                continue
            path = os.path.relpath(os.path.join(dirpath, f), root)
            if is_test_path(path):
                continue
            rows.extend(long_fns(os.path.join(root, path), limit))
    for lines, where, name in sorted(rows, reverse=True):
        print(f"{lines:5} {name:32} {where}")
    print(f"{len(rows)} function(s) over {limit} lines")


if __name__ == "__main__":
    main()
