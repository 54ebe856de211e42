"""Compiles a chunk of Swift programs with one swiftc call per group of 24 instead of one each.

Why: a swiftc call costs about 0.8 s for a small program, most of it loading the standard
library's module and linking; 24 programs in one module share both.

How: a program's file in main.swift holds declarations (functions, the `==` helpers every
CRUXEval-X program defines, extensions, enums) and top-level statements (the test's `assert`).
In the group each program becomes a file of one module named `main`, `pN.swift`: its declarations
stay at file scope but `fileprivate`, so no program sees another's `f` or `==`, and its top-level
statements, in their order, become the body of `func harness_pN()`. `#sourceLocation(file:
"main.swift", line: L)` keeps every line where it was, so `#file`, `#line` and a failed assert's
`main/main.swift:LINE: Assertion failed` read as in the plain build. The module's own main.swift
calls the `harness_pN` whose number is written in a marker string; each program's folder gets its
own copy of the binary as `main` with its number patched in, so `./main` runs that program alone,
in its own sandbox, as the plain `swiftc main.swift -o main` binary would (same compiler and
flags, -Onone, the program's code unchanged but for the access level).

What it leaves to the plain compile (no `.compile.rc` written, see harness/sandbox/batch_compile.py):
- programs whose meaning could change in a shared module: a top-level `let` or `var` (a global
  in main.swift, a local in a function), a top-level declaration with an attribute or a modifier
  of its own, `protocol`, `operator`, `precedencegroup`, `typealias`, a `#` directive, `@main`, a
  raw or multi-line string, an extension declaring a conformance, names starting `harness_`, `#function`, `#filePath`, `#fileID`,
  `#dsohandle`, `CommandLine`, and anything unbalanced;
- programs that fail to compile in a group (named by a type-check of the group without the
  `#sourceLocation` lines): the others are grouped again, up to 3 times, and every compile error
  is reported by the plain compile;
- a whole group whose swiftc call takes longer than one program's compile timeout.

Usage: python3 batch_swiftc.py SOURCE_FILE TIMEOUT_S -- SWIFTC ARGUMENTS... < folders
"""

import os
import re
import subprocess
import sys
from pathlib import Path

MARKER = b"HARNESS-SWIFT-BATCH-ENTRY:"
DIGITS = 8
GROUP = 24
ROUNDS = 3
WORK = Path("/tmp/harness-batch-swiftc")
DECLARATIONS = ("func", "extension", "enum", "struct", "class")
KEPT = ("import",)
# Top-level items that start with one of these (a modifier, or a declaration that cannot simply be
# made fileprivate) are left alone, as are `let` and `var`.
REFUSED_STARTS = {"let", "var", "protocol", "operator", "precedencegroup", "typealias", "actor", "macro", "private",
                  "fileprivate", "public", "internal", "open", "static", "final", "indirect", "infix", "prefix",
                  "postfix", "mutating", "nonisolated", "dynamic", "lazy", "convenience", "required", "override"}
REFUSED_TEXT = ('"""', '#"', "#function", "#filePath", "#fileID", "#dsohandle", "#if", "#sourceLocation", "@main")
ERROR = re.compile(r"^(?:\./)?p(\d+)\.swift:\d+:\d+: error:", re.MULTILINE)


def code_view(source: str) -> str | None:
    """`source` with comments and string contents blanked (newlines kept; interpolations stay
    code), or None where the lexing is not certain (an unterminated string or comment)."""
    out, index, length = [], 0, len(source)
    stack = ["code"]  # "code", "string" or an interpolation's open-paren count as "interp:N"
    while index < length:
        char, state = source[index], stack[-1]
        if state == "string":
            if char == "\\" and source.startswith("\\(", index):
                out.append("  ")
                stack.append("interp:1")
                index += 2
                continue
            if char == "\\":
                out.append("  ")
                index += 2
                continue
            if char == "\n":
                return None
            if char == '"':
                stack.pop()
                out.append('"')
            else:
                out.append(" ")
            index += 1
            continue
        if source.startswith("//", index):
            end = source.find("\n", index)
            end = length if end == -1 else end
            out.append(" " * (end - index))
            index = end
            continue
        if source.startswith("/*", index):
            depth, end = 1, index + 2
            while end < length and depth:
                if source.startswith("/*", end):
                    depth, end = depth + 1, end + 2
                elif source.startswith("*/", end):
                    depth, end = depth - 1, end + 2
                else:
                    end += 1
            if depth:
                return None
            out.append("".join(c if c == "\n" else " " for c in source[index:end]))
            index = end
            continue
        if char == '"':
            stack.append("string")
        elif state.startswith("interp:"):
            count = int(state.split(":")[1]) + (char == "(") - (char == ")")
            if count == 0:
                stack.pop()
                out.append(" ")
                index += 1
                continue
            stack[-1] = f"interp:{count}"
        out.append(char)
        index += 1
    return "".join(out) if stack == ["code"] else None


def items(code: str) -> list[tuple[int, int]] | None:
    """Top-level items as (first line, end line) 0-based half-open: an item starts on a line that
    begins at bracket depth 0 with a token; blank lines join the item before them. None if the
    brackets do not balance."""
    spans: list[list[int]] = []
    depth = 0
    for number, line in enumerate(code.split("\n")):
        if depth == 0 and line.strip():
            if line.lstrip()[0] in ".)]}" or line.lstrip().startswith(("&&", "||", "+", "-", "*", "?", ":", "==")):
                return None  # a continuation line at depth 0: not worth guessing
            spans.append([number, number + 1])
        elif spans:
            spans[-1][1] = number + 1
        for char in line:
            depth += (char in "([{") - (char in ")]}")
            if depth < 0:
                return None
    if depth != 0:
        return None
    return [(start, end) for start, end in spans]


def first_word(line: str) -> str:
    match = re.match(r"\s*([@#]?\w+)", line)
    return match.group(1) if match else ""


def split_program(source: str) -> tuple[str, str] | str:
    """(file-scope part, statement part) of the program, each keeping its lines' numbers through
    #sourceLocation; or why it cannot be grouped."""
    if any(text in source for text in REFUSED_TEXT):
        return "a directive, raw or multi-line string or source-location literal"
    code = code_view(source)
    if code is None:
        return "unterminated string or comment"
    words = set(re.findall(r"\b\w+\b", code))
    refused = words & {"CommandLine"} | {word for word in words if word.startswith("harness_")}
    if refused:
        return f"uses {sorted(refused)}"
    spans = items(code)
    if spans is None:
        return "unbalanced brackets or a continuation line"
    lines, code_lines = source.split("\n"), code.split("\n")
    declarations = list(lines)
    statements: list[str] = []
    for start, end in spans:
        word = first_word(code_lines[start])
        if word in REFUSED_STARTS or word.startswith(("@", "#")):
            return f"top-level {word}"
        if word == "extension" and ":" in code_lines[start].split("{")[0]:
            return "an extension declaring a conformance (it would hold in every program of the module)"
        if word in DECLARATIONS:
            indent = len(lines[start]) - len(lines[start].lstrip())
            declarations[start] = lines[start][:indent] + "fileprivate " + lines[start][indent:]
        elif word not in KEPT:
            statements.append(f'#sourceLocation(file: "main.swift", line: {start + 1})')
            statements += lines[start:end]
            declarations[start:end] = [""] * (end - start)
    if not statements:
        return "no top-level statement"
    return "\n".join(declarations), "\n".join(statements)


def program_file(number: int, parts: tuple[str, str], located: bool) -> str:
    """pN.swift; without `located`, the #sourceLocation lines are left out so diagnostics name it."""
    declarations, statements = parts
    if not located:
        statements = "\n".join(line for line in statements.split("\n") if not line.startswith("#sourceLocation("))
        return f"{declarations}\nfunc harness_p{number}() {{\n{statements}\n}}\n"
    return (f'#sourceLocation(file: "main.swift", line: 1)\n{declarations}\n#sourceLocation()\n'
            f"func harness_p{number}() {{\n{statements}\n#sourceLocation()\n}}\n")


def driver(count: int) -> str:
    """The module's main.swift: run the program whose number the marker holds."""
    cases = "".join(f"case {number}: harness_p{number}()\n" for number in range(count))
    return (f'let harnessEntry: StaticString = "{MARKER.decode()}{"0" * DIGITS}"\n'
            "var harnessNumber = 0\n"
            f"for offset in {len(MARKER)}..<{len(MARKER) + DIGITS} {{\n"
            "    harnessNumber = harnessNumber * 10 + Int(harnessEntry.utf8Start[offset]) - 48\n}\n"
            f"switch harnessNumber {{\n{cases}default: break\n}}\n")


def write_module(folder: Path, groups: list[tuple[str, str]], located: bool) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.swift"):
        stale.unlink()
    (folder / "main.swift").write_text(driver(len(groups)))
    names = ["main.swift"]
    for number, parts in enumerate(groups):
        (folder / f"p{number}.swift").write_text(program_file(number, parts, located))
        names.append(f"p{number}.swift")
    return names


def swiftc(arguments: list[str], folder: Path, timeout: float) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["swiftc", *arguments], cwd=folder, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def compile_group(members: list[Path], parts: list[tuple[str, str]], source_file: str, timeout: float,
                  arguments: list[str]) -> None:
    for _ in range(ROUNDS):
        if not members:
            return
        build = WORK / "build"
        names = write_module(build, parts, located=True)
        # -wmo: one frontend for the module (about 2 s for 24 programs, against 13 s for a frontend
        # per file); at -Onone it changes how code is split into objects, not what it does
        result = swiftc(["-wmo", *arguments, "-module-name", "main", *names, "-o", "batch"], build, timeout)
        if result is None:
            return  # too slow together: each program is compiled alone, under its own timeout
        if result.returncode == 0:
            distribute((build / "batch").read_bytes(), members, source_file)
            return
        check = WORK / "check"
        names = write_module(check, parts, located=False)
        checked = swiftc(["-wmo", *arguments, "-module-name", "main", "-typecheck", *names], check, timeout * 2)
        failing = {int(n) for n in ERROR.findall(checked.stderr.decode("utf-8", "replace"))} if checked else set()
        if not failing:
            return  # an error no program is named in: the plain compile decides the whole group
        members = [member for number, member in enumerate(members) if number not in failing]
        parts = [part for number, part in enumerate(parts) if number not in failing]


def distribute(binary: bytes, members: list[Path], source_file: str) -> None:
    """Each member's copy of the binary, its number patched into the marker, then its compile outcome."""
    if binary.count(MARKER) != 1:
        print(f"batch_swiftc: the entry marker occurs {binary.count(MARKER)} times in the binary; leaving the group",
              file=sys.stderr)
        return
    digits_at = binary.index(MARKER) + len(MARKER)
    name = source_file.rsplit(".", 1)[0]
    for number, folder in enumerate(members):
        target = folder / name
        target.write_bytes(binary[:digits_at] + f"{number:0{DIGITS}d}".encode() + binary[digits_at + DIGITS:])
        target.chmod(0o755)
        (folder / ".compile.stdout").write_text("")
        (folder / ".compile.stderr").write_text("")
        (folder / ".compile.rc").write_text("0\n")


def main() -> None:
    source_file, timeout, separator, *arguments = sys.argv[1:]
    if separator != "--":
        sys.exit("usage: python3 batch_swiftc.py SOURCE_FILE TIMEOUT_S -- SWIFTC ARGUMENTS... < folders")
    members: list[Path] = []
    parts: list[tuple[str, str]] = []
    for line in sys.stdin:
        if not line.strip():
            continue
        folder = Path(line.strip())
        try:
            split = split_program((folder / source_file).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
        if not isinstance(split, str):
            members.append(folder)
            parts.append(split)
    for start in range(0, len(members), GROUP):
        compile_group(members[start:start + GROUP], parts[start:start + GROUP], source_file, float(timeout), arguments)


if __name__ == "__main__":
    os.umask(0o022)
    main()
