"""The import graph between the modules of a crate's src/, from `crate::…` paths in code (comments
and doc comments excluded). A module is a top-level file or folder of src/ (`core/src/token/` is
one module, `token`), after resolving the crate root's re-exports (`pub use token::access_token`
makes `crate::access_token` part of `token`). Prints the graph; exits 1 on a cycle."""
import os, re, sys

def modules(src):
    units = {}
    for entry in sorted(os.listdir(src)):
        path = os.path.join(src, entry)
        name = entry[:-3] if entry.endswith(".rs") else entry
        if name in ("lib", "main"):
            continue
        if os.path.isdir(path):
            units[name] = [os.path.join(dp, f) for dp, _, fs in os.walk(path) for f in fs if f.endswith(".rs")]
        elif entry.endswith(".rs"):
            units[name] = [path]
    return units

def aliases(src, units):
    """`pub use folder::{a, b}` in lib.rs: crate::a is the folder's."""
    alias = {u: u for u in units}
    root = os.path.join(src, "lib.rs")
    if os.path.exists(root):
        text = open(root).read()
        for m in re.finditer(r"pub use (\w+)::\{?([\w, \n]+)\}?;", text):
            folder, names = m.group(1), m.group(2)
            if folder in units:
                for n in re.findall(r"\w+", names):
                    alias.setdefault(n, folder)
    return alias

def code(path):
    out = []
    for line in open(path):
        s = line.strip()
        if s.startswith("//"):
            continue
        out.append(line.split("//")[0])
    return "\n".join(out)

def graph(src):
    units = modules(src)
    alias = aliases(src, units)
    edges = {u: set() for u in units}
    for unit, files in units.items():
        for f in files:
            text = code(f)
            # Test modules may reach anywhere.
            text = text.split("#[cfg(test)]\nmod tests")[0]
            for m in re.finditer(r"crate::(\w+)", text):
                target = alias.get(m.group(1))
                if target and target != unit:
                    edges[unit].add(target)
            for m in re.finditer(r"use crate::\{([^}]*)\}", text):
                for n in re.findall(r"(?:^|,)\s*(\w+)", m.group(1)):
                    target = alias.get(n)
                    if target and target != unit:
                        edges[unit].add(target)
    return edges

def cycles(edges):
    found, state, stack = [], {}, []
    def visit(u):
        state[u] = 1; stack.append(u)
        for v in sorted(edges[u]):
            if state.get(v) == 1:
                found.append(stack[stack.index(v):] + [v])
            elif v not in state:
                visit(v)
        stack.pop(); state[u] = 2
    for u in sorted(edges):
        if u not in state:
            visit(u)
    return found

status = 0
for src in sys.argv[1:]:
    edges = graph(src)
    print(f"{src}:")
    for u in sorted(edges):
        print(f"  {u} -> {', '.join(sorted(edges[u])) or '(nothing)'}")
    for c in cycles(edges):
        print(f"  CYCLE: {' -> '.join(c)}")
        status = 1
sys.exit(status)
