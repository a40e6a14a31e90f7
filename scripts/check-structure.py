#!/usr/bin/env python3
"""Structure rules the code review relies on, checked by CI:

- no source file outside tests is longer than 600 lines;
- no two files of one crate import each other (a circle between two modules);
- no Lua in Rust string literals (scripts live in `.lua` files, loaded with
  `include_str!`).

A file's imports are the modules named by its `use crate::…`, `use super::…`,
`super::…` and `crate::…` paths. A parent module and its own children are not a
circle (the parent declares them with `mod`, the child may name the parent's items);
two sibling files, or two files further apart, that name each other are.

Run from the repository root: `python3 scripts/check-structure.py`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

MAX_LINES = 600
ROOT = Path(__file__).resolve().parent.parent


def is_test_file(path: Path) -> bool:
    parts = path.parts
    name = path.stem
    return (
        "tests" in parts
        or "benches" in parts
        or name == "tests"
        or name.startswith("tests_")
        or name.endswith("_tests")
    )


def module_path(src: Path, file: Path) -> tuple[str, ...]:
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("lib", "main", "mod"):
        parts = parts[:-1]
    return tuple(parts)


PATH_RE = re.compile(r"\b((?:crate|super)(?:::(?:super|[A-Za-z_][A-Za-z0-9_]*))+)")
USE_GROUP_RE = re.compile(r"\buse\s+((?:crate|super)(?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*)\}", re.S)


def strip_comments_and_tests(text: str) -> str:
    # Drop line comments and everything from a `#[cfg(test)] mod tests {` onwards
    # (unit tests at the end of a file may import freely).
    text = re.sub(r"//[^\n]*", "", text)
    m = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)
    if m:
        text = text[: m.start()]
    return text


def resolve(current: tuple[str, ...], is_mod_file: bool, path: str) -> tuple[str, ...]:
    segs = path.split("::")
    if segs[0] == "crate":
        base: list[str] = []
        segs = segs[1:]
    else:
        # `super` from a file `a/b.rs` (module a::b) is module a; from `a/mod.rs`
        # (module a) it is the crate root.
        base = list(current)
        while segs and segs[0] == "super":
            base = base[:-1]
            segs = segs[1:]
    return tuple(base + segs)


def main() -> int:
    problems: list[str] = []
    for cargo in sorted(ROOT.glob("crates/*/Cargo.toml")) + [ROOT / "load-tests/Cargo.toml"]:
        src = cargo.parent / "src"
        if not src.is_dir():
            continue
        files = {}
        for file in sorted(src.rglob("*.rs")):
            rel = file.relative_to(ROOT)
            if is_test_file(file.relative_to(cargo.parent)):
                continue
            lines = file.read_text().count("\n")
            if lines > MAX_LINES:
                problems.append(f"{rel}: {lines} lines (the limit is {MAX_LINES})")
            text = file.read_text()
            if re.search(r"redis\.call\s*\(|redis\.pcall\s*\(", text):
                problems.append(f"{rel}: Lua in a Rust string (move it to a .lua file)")
            files[module_path(src, file)] = (file, strip_comments_and_tests(text))
        modules = set(files)

        def owner(target: tuple[str, ...]) -> tuple[str, ...] | None:
            # The longest module prefix that is a file of this crate.
            for n in range(len(target), -1, -1):
                if target[:n] in modules:
                    return target[:n]
            return None

        deps: dict[tuple[str, ...], set[tuple[str, ...]]] = {m: set() for m in modules}
        for mod, (file, text) in files.items():
            is_mod_file = file.stem in ("mod", "lib", "main")
            # `super` in a non-mod file is relative to the file's parent module.
            here = mod if is_mod_file else mod
            paths = [m.group(1) for m in PATH_RE.finditer(text)]
            for grp in USE_GROUP_RE.finditer(text):
                for item in re.split(r"[,\s]+", grp.group(2)):
                    item = item.strip().split("::")[0]
                    if item and item not in ("self", "{", "}") and re.match(r"^[A-Za-z_]\w*$", item):
                        paths.append(f"{grp.group(1)}::{item}")
            for p in paths:
                segs = p.split("::")
                if segs[0] == "super":
                    anchor = here if is_mod_file else mod
                    # In `a/b.rs` (module a::b), `super` is a; in `a/mod.rs`, also the parent of a.
                    target = resolve(anchor, is_mod_file, p)
                else:
                    target = resolve(mod, is_mod_file, p)
                o = owner(target)
                if o is not None and o != mod:
                    deps[mod].add(o)
        seen = set()
        for a, targets in deps.items():
            for b in targets:
                if a in deps.get(b, set()) and (b, a) not in seen:
                    seen.add((a, b))
                    # Parent and child are allowed to name each other.
                    if a == b[: len(a)] or b == a[: len(b)]:
                        continue
                    fa, fb = files[a][0].relative_to(ROOT), files[b][0].relative_to(ROOT)
                    problems.append(f"{fa} and {fb} import each other")
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} structure problem(s)", file=sys.stderr)
        return 1
    print("structure: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
