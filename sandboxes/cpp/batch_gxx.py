"""Compiles a chunk of C++ programs with one g++ call per group of 24 instead of one each.

Why: with the precompiled <bits/stdc++.h> a g++ call still costs about 0.8 s for a small
program: loading the header, instantiating the same standard templates (vector<long>, string,
map) and generating their code again for every program, then linking. 24 programs in one
translation unit share all of that.

How: each program becomes a namespace of one translation unit, `namespace harness_pN { #line 1
"pN/main.cpp" <program, its #include lines blanked> }`, compiled with the fast compile's own
command (same g++, flags and precompiled header) plus `-fmacro-prefix-map=pN/=`, so `__FILE__`
reads `main.cpp` while diagnostics name the program. The unit's own `main` calls the
`harness_pN::main` whose number is written in a marker string; each program's folder gets its
own copy of the binary as `main` with its number patched in, so `./main` runs that program
alone, in its own sandbox, as the plain binary would. `assert` is glibc's macro with one change:
the function name it prints has the `harness_pN::` qualification taken out, so a failed assert
prints `main: main.cpp:LINE: int main(): Assertion `...' failed.` as in the plain build.

What it leaves to the plain compile (no `.compile.rc` written, see harness/sandbox/batch_compile.py):
- programs whose meaning could change inside a namespace or next to other programs: any
  preprocessor line but `#include` of a header that <bits/stdc++.h> already includes (or
  <assert.h>), a line continuation, a raw string; a namespace-scope declaration that is not a
  function definition, `using`, `typedef`, or a struct/class/enum/union definition (a global
  variable would be constructed in every program's process); `using namespace`, `namespace`,
  `extern`, `asm`, `typeid`, `__PRETTY_FUNCTION__`, `__COUNTER__`; `::NAME` where the program
  itself defines NAME at namespace scope; a `main` other than one `int main()` without `return`
  (the unit's main returns 0 when the program's returns), and names starting `harness_`;
- programs that fail to compile in a group (g++ names them, `pN/main.cpp`): the others are
  grouped again, up to 3 times, and every compile error is reported by the plain compile;
- a whole group whose g++ call takes longer than one program's compile timeout, so a program too
  slow to compile alone never passes here.

Usage: python3 batch_gxx.py SOURCE_FILE TIMEOUT_S HEADER -- G++ ARGUMENTS... < folders
(HEADER: the <bits/stdc++.h> that the precompiled header was made from; G++ ARGUMENTS: the fast
compile's, without the source and -o.)
"""

import os
import re
import subprocess
import sys
from pathlib import Path

MARKER = b"HARNESS-CPP-BATCH-ENTRY:"
DIGITS = 8
GROUP = 24
ROUNDS = 3
WORK = Path("/tmp/harness-batch-gxx")
REFUSED_WORDS = {"namespace", "extern", "asm", "typeid", "__PRETTY_FUNCTION__", "__COUNTER__"}
# A failed assert in glibc's form, with the function name unqualified (see the module docstring).
PRELUDE = r"""
[[noreturn]] static void harness_assert_fail(const char *expression, const char *file, unsigned line,
                                             const char *function) {
    std::string name(function);
    for (std::size_t at = name.find("harness_p"); at != std::string::npos; at = name.find("harness_p", at)) {
        std::size_t end = name.find("::", at);
        name.erase(at, end == std::string::npos ? std::string::npos : end + 2 - at);
    }
    __assert_fail(expression, file, line, name.c_str());
}
#undef assert
#define assert(expr) \
    (static_cast <bool> (expr) ? void (0) : harness_assert_fail (#expr, __FILE__, __LINE__, __extension__ __PRETTY_FUNCTION__))
"""
INCLUDE = re.compile(r'\s*#\s*include\s*[<"]([^>"]+)[>"]\s*$')
DIAGNOSTIC = re.compile(r": (?:fatal )?(error|warning|note):")
MENTION = re.compile(r"(?:^|[^\w])p(\d+)/main\.cpp:|harness_p(\d+)\b")


def allowed_headers(header: Path) -> set[str]:
    """The headers <bits/stdc++.h> includes under -std=c++17 (so blanking them changes nothing)."""
    allowed, live = {"bits/stdc++.h", "assert.h"}, [True]
    for line in header.read_text().splitlines():
        directive = line.strip()
        if directive.startswith("#if"):  # later standards' blocks are off, the others on
            later = "202002L" in directive or "__has_include" in directive or "__cpp_" in directive
            live.append(live[-1] and not later)
        elif directive.startswith("#endif"):
            live.pop()
        elif directive.startswith(("#else", "#elif")):
            raise SystemExit(f"batch_gxx: {header} has {directive!r}, which this reader does not follow")
        elif live[-1] and INCLUDE.match(line):
            allowed.add(INCLUDE.match(line).group(1))
    return allowed


def code_view(source: str) -> str | None:
    """`source` with comments and the insides of string and character literals blanked (same
    length, newlines kept), or None for a raw string literal."""
    out, index, length = [], 0, len(source)
    while index < length:
        char = source[index]
        if source.startswith("//", index):
            end = source.find("\n", index)
            end = length if end == -1 else end
            out.append(" " * (end - index))
            index = end
        elif source.startswith("/*", index):
            end = source.find("*/", index + 2)
            end = length if end == -1 else end + 2
            out.append("".join(c if c == "\n" else " " for c in source[index:end]))
            index = end
        elif char in "\"'":
            if char == '"' and index > 0 and source[index - 1] == "R":
                return None
            end = index + 1
            while end < length and source[end] != char and source[end] != "\n":
                end += 2 if source[end] == "\\" else 1
            out.append(char + " " * (min(end, length) - index - 1) + (char if end < length else ""))
            index = end + 1
        else:
            out.append(char)
            index += 1
    return "".join(out)


def top_level(code: str) -> tuple[list[str], str, str | None]:
    """The namespace-scope declarations ended by `;` (their text at brace depth 0, bodies as `{}`),
    all the text at depth 0 (declarations and function headers), and main's body (None if `int
    main()` is not there once, or the braces do not match)."""
    segments, current, outer, depth, main_body = [], [], [], 0, None
    main_at = [m.end() for m in re.finditer(r"\bint\s+main\s*\(\s*(?:void\s*)?\)", code)]
    body_start = code.find("{", main_at[0]) if len(main_at) == 1 else -1
    for index, char in enumerate(code):
        if char == "{":
            if depth == 0:
                current.append("{")
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                return segments, "".join(outer), None
            if depth == 0:
                current.append("}")
                if index > body_start >= 0 and main_body is None:
                    main_body = code[body_start:index + 1]
                if not code[index + 1:].lstrip().startswith(";"):  # a function definition ends here
                    current = []
        elif depth == 0:
            outer.append(char)
            if char == ";":
                segments.append("".join(current).strip())
                current = []
            else:
                current.append(char)
    return segments, "".join(outer), main_body if depth == 0 else None


def refusal(source: str, allowed: set[str]) -> str | None:
    """Why the program may mean something else in a group (None: it may be grouped)."""
    code = code_view(source)
    if code is None:
        return "raw string"
    lines = code.splitlines()
    for line in lines:
        if line.lstrip().startswith("#"):
            included = INCLUDE.match(line)
            if included is None or included.group(1) not in allowed:
                return f"preprocessor line {line.strip()!r}"
        if line.endswith("\\"):
            return "line continuation"
    code = "\n".join("" if line.lstrip().startswith("#") else line for line in lines)
    words = re.findall(r"\b\w+\b", code)
    refused = REFUSED_WORDS.intersection(words) | {word for word in words if word.startswith("harness_")}
    if refused:
        return f"uses {sorted(refused)}"
    if words.count("main") != 1:
        return "main is not named exactly once"
    segments, outer, main_body = top_level(code)
    if main_body is None:
        return "no single `int main()` with a body"
    if "return" in re.findall(r"\b\w+\b", main_body):
        return "main returns a value"
    for segment in segments:
        if not segment or re.match(r"(?:using|typedef)\b", segment):
            continue
        if not re.fullmatch(r"(?:template\s*<[^;{}]*>\s*)?(?:struct|class|union|enum(?:\s+class)?)\b[^=;{}]*\{\}", segment):
            return f"namespace-scope declaration {segment[:60]!r}"
    defined = set(re.findall(r"\b\w+\b", outer))  # every name at namespace scope, to be safe
    for name in re.findall(r"(?<![\w>])::\s*(\w+)", code):
        if name in defined:
            return f"::{name} names the program's own {name}"
    return None


def unit(sources: list[str]) -> str:
    """The translation unit of a group: the prelude, each program in its namespace, the entry."""
    parts = [PRELUDE]
    for number, source in enumerate(sources):
        blanked = "\n".join("" if INCLUDE.match(line) else line for line in source.split("\n"))
        parts.append(f"namespace harness_p{number} {{\n#line 1 \"p{number}/main.cpp\"\n{blanked}\n}}\n")
    parts.append(f'static volatile const char harness_entry[] = "{MARKER.decode()}{"0" * DIGITS}";\n')
    parts.append("int main() {\n    long number = 0;\n")
    parts.append(f"    for (int i = {len(MARKER)}; i < {len(MARKER) + DIGITS}; ++i) number = number * 10 + (harness_entry[i] - '0');\n")
    parts.append("    switch (number) {\n")
    parts += [f"    case {number}: harness_p{number}::main(); break;\n" for number in range(len(sources))]
    parts.append("    }\n    return 0;\n}\n")
    return "".join(parts)


def failing_members(diagnostics: str) -> set[int]:
    """Programs an error names: in its own line, or in the context lines (`In instantiation of`,
    `required from`) printed before it."""
    failing, context = set(), set()
    for line in diagnostics.splitlines():
        mentioned = {int(a or b) for a, b in MENTION.findall(line)}
        kind = DIAGNOSTIC.search(line)
        if kind is None:
            context |= mentioned
            continue
        if kind.group(1) == "error":
            failing |= mentioned | context
        context = set()
    return failing


def compile_group(members: list[Path], sources: list[str], source_file: str, timeout: float,
                  arguments: list[str]) -> None:
    for _ in range(ROUNDS):
        if not members:
            return
        unit_path, binary = WORK / "batch.cpp", WORK / "batch"
        unit_path.write_text(unit(sources))
        prefix_maps = [f"-fmacro-prefix-map=p{number}/=" for number in range(len(members))]
        try:
            result = subprocess.run(["g++", *arguments, *prefix_maps, str(unit_path), "-o", str(binary)],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    timeout=timeout, cwd=WORK)
        except subprocess.TimeoutExpired:
            return  # too slow together: each program is compiled alone, under its own timeout
        if result.returncode == 0:
            distribute(binary.read_bytes(), members, source_file)
            return
        failing = failing_members(result.stderr.decode("utf-8", "replace"))
        if not failing:
            return  # an error no program is named in: the plain compile decides the whole group
        members = [member for number, member in enumerate(members) if number not in failing]
        sources = [source for number, source in enumerate(sources) if number not in failing]


def distribute(binary: bytes, members: list[Path], source_file: str) -> None:
    """Each member's copy of the binary, its number patched into the marker, then its compile outcome."""
    if binary.count(MARKER) != 1:
        print(f"batch_gxx: the entry marker occurs {binary.count(MARKER)} times in the binary; leaving the group",
              file=sys.stderr)
        return
    digits_at = binary.index(MARKER) + len(MARKER)
    name = source_file.rsplit(".", 1)[0]
    for number, folder in enumerate(members):
        copy = binary[:digits_at] + f"{number:0{DIGITS}d}".encode() + binary[digits_at + DIGITS:]
        target = folder / name
        target.write_bytes(copy)
        target.chmod(0o755)
        (folder / ".compile.stdout").write_text("")
        (folder / ".compile.stderr").write_text("")
        (folder / ".compile.rc").write_text("0\n")


def main() -> None:
    source_file, timeout, header, separator, *arguments = sys.argv[1:]
    if separator != "--":
        sys.exit("usage: python3 batch_gxx.py SOURCE_FILE TIMEOUT_S HEADER -- G++ ARGUMENTS... < folders")
    allowed = allowed_headers(Path(header))
    WORK.mkdir(parents=True, exist_ok=True)
    members: list[Path] = []
    sources: list[str] = []
    for line in sys.stdin:
        folder = Path(line.strip())
        if not line.strip():
            continue
        try:
            source = (folder / source_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if refusal(source, allowed) is None:
            members.append(folder)
            sources.append(source)
    for start in range(0, len(members), GROUP):
        compile_group(members[start:start + GROUP], sources[start:start + GROUP], source_file, float(timeout),
                      arguments)


if __name__ == "__main__":
    os.umask(0o022)
    main()
