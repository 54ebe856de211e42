"""Compiles a chunk of D programs with one gdc call per group of 24 instead of one each.

Why: `rdmd -unittest main.d` (gdc through our shim) spends about 0.35 s compiling a small
program, most of it reading Phobos and generating the same template instances again; 24 programs
in one gdc call share that.

How: each program becomes a module of one compilation, `pN.d`: the program unchanged under a
`#line 1 "main.d"` line, so asserts and exceptions name `main.d` and the lines of the plain
build, with its empty `void main(){}` taken out (one `main` per binary). The group's own module
holds `main` and a unittest runner that runs only the unittests of the module whose number is
written in a marker string, and prints what druntime's default runner prints for the plain
build's module `main` (a failed assert in it as `main.d(LINE): [unittest] MESSAGE` on stdout, any
other throwable with its trace, then `1 modules passed unittests` or `1/1 modules FAILED
unittests` on stderr, and the same exit status). Each program's folder gets its own copy of the
binary as `main` with its number patched in; the language's `[batch_compile] run` runs it alone,
in its own sandbox. Module constructors are refused below, so no other program's code runs.

Timing: the plain command's 15 s cover compiling and running; a grouped program's run gets them
all, so a program that is slow to compile could pass here and time out alone. Programs importing
std.regex (gold id 49 takes 6 to 15 s to compile) are left alone for that reason, and a group
whose gdc call takes longer than 15 s is too.

What it leaves to the plain command (no `.compile.rc` written, see harness/sandbox/batch_compile.py):
- programs whose meaning could change in another module: a `main` other than one empty
  `void main(){}`, a module constructor (`static this`), `module`, `extern`, `pragma`, `version`,
  `__traits`, `mixin`, `import(` (string imports), `class` and `interface` (their default
  `toString` names the module), `typeid`, `classinfo`, `mangleof`, `__MODULE__`, `__FUNCTION__`,
  `__PRETTY_FUNCTION__`, `__FILE_FULL_PATH__`, `core.runtime`, `Runtime`, std.regex, a `#line`,
  wysiwyg, delimited, token and hex strings, and names starting `harness_`;
- programs that fail to compile in a group (named by a syntax-only pass of the group without the
  `#line` lines): the others are grouped again, up to 3 times, and every error is the plain
  command's.

Usage: python3 batch_gdc.py SOURCE_FILE TIMEOUT_S -- GDC ARGUMENTS... < folders
"""

import os
import re
import subprocess
import sys
from pathlib import Path

MARKER = b"HARNESS-D-BATCH-ENTRY:"
DIGITS = 8
GROUP = 24
ROUNDS = 3
WORK = Path("/tmp/harness-batch-gdc")
REFUSED_WORDS = {"module", "extern", "pragma", "version", "__traits", "mixin", "class", "interface", "typeid",
                 "classinfo", "mangleof", "__MODULE__", "__FUNCTION__", "__PRETTY_FUNCTION__",
                 "__FILE_FULL_PATH__", "Runtime", "regex"}
REFUSED_TEXT = ("#line", "import(", "core.runtime", "std.regex")
EMPTY_MAIN = re.compile(r"\bvoid\s+main\s*\(\s*\)\s*\{\s*\}")
ERROR = re.compile(r"^(?:\./)?p(\d+)\.d:\d+:\d+: error:", re.MULTILINE)
# druntime's default unittest runner (core.runtime.runModuleUnitTests, gdc 12) for one module,
# with the plain build's module name `main` in its check of where a failed assert comes from.
DRIVER = r"""
import core.exception : AssertError;
import core.runtime : Runtime, UnitTestResult;
import core.stdc.stdio : printf;
import std.conv : to;

extern (C) void _d_print_throwable(Throwable t);

__gshared char[%(length)d] harnessEntry = "%(marker)s";

shared static this()
{
    Runtime.extendedModuleUnitTester = &harnessUnitTests;
}

UnitTestResult harnessUnitTests()
{
    size_t number = 0;
    foreach (digit; harnessEntry[%(start)d .. $])
        number = number * 10 + (digit - '0');
    immutable selected = "p" ~ to!string(number);
    UnitTestResult results;
    foreach (m; ModuleInfo)
    {
        if (!m || m.name != selected)
            continue;
        auto fp = m.unitTest;
        if (!fp)
            continue;
        ++results.executed;
        try
        {
            fp();
            ++results.passed;
        }
        catch (Throwable e)
        {
            if (typeid(e) == typeid(AssertError))
            {
                enum moduleName = "main";
                if (e.file.length > moduleName.length && e.file[0 .. moduleName.length] == moduleName)
                {
                    printf("%%.*s(%%llu): [unittest] %%.*s\n", cast(int) e.file.length, e.file.ptr,
                           cast(ulong) e.line, cast(int) e.message.length, e.message.ptr);
                    continue;
                }
            }
            _d_print_throwable(e);
        }
    }
    if (results.passed != results.executed)
        results.summarize = true;
    else
    {
        results.runMain = results.executed == 0;
        results.summarize = !results.runMain;
    }
    return results;
}

void main()
{
}
"""


def code_view(source: str) -> str | None:
    """`source` with comments and string and character literals blanked (newlines kept), or None
    where a comment or literal does not end or is a wysiwyg, delimited, token or hex string."""
    out, index, length = [], 0, len(source)
    while index < length:
        char = source[index]
        if source.startswith("//", index):
            end = source.find("\n", index)
            end = length if end == -1 else end
            out.append(" " * (end - index))
            index = end
        elif source.startswith(("/*", "/+"), index):
            closing, nests = ("*/", False) if source.startswith("/*", index) else ("+/", True)
            depth, end = 1, index + 2
            while end < length and depth:
                if nests and source.startswith("/+", end):
                    depth, end = depth + 1, end + 2
                elif source.startswith(closing, end):
                    depth, end = depth - 1, end + 2
                else:
                    end += 1
            if depth:
                return None
            out.append("".join(c if c == "\n" else " " for c in source[index:end]))
            index = end
        elif char == "`" or source.startswith("q{", index) and not source[index - 1:index].isidentifier():
            return None
        elif char in "\"'":
            if char == '"' and source[index - 1:index] in ("r", "q", "x") and not source[index - 2:index - 1].isidentifier():
                return None
            end = index + 1
            while end < length and source[end] != char:
                end += 2 if source[end] == "\\" else 1
            if end >= length:
                return None
            out.append(char + "".join(c if c == "\n" else " " for c in source[index + 1:end]) + char)
            index = end + 1
        else:
            out.append(char)
            index += 1
    return "".join(out)


def refusal(source: str) -> str | None:
    """Why the program may mean something else in a group (None: it may be grouped)."""
    if any(text in source for text in REFUSED_TEXT):
        return "a refused construct (see the docstring)"
    code = code_view(source)
    if code is None:
        return "a comment or literal it does not read (unterminated, wysiwyg, delimited, token or hex)"
    words = re.findall(r"\b\w+\b", code)
    refused = REFUSED_WORDS.intersection(words) | {word for word in words if word.startswith("harness")}
    if refused:
        return f"uses {sorted(refused)}"
    if re.search(r"\bstatic\s+this\b|\bstatic\s+~\s*this\b", code):
        return "a module constructor or destructor"
    if words.count("main") != 1 or len(EMPTY_MAIN.findall(code)) != 1:
        return "no single empty `void main(){}`"
    return None


def program_file(source: str, located: bool) -> str:
    """pN.d: the program with its empty main blanked (lines kept), under `#line 1 "main.d"` unless
    the file is for finding which program an error is in."""
    body = EMPTY_MAIN.sub(lambda match: "".join(c if c == "\n" else " " for c in match.group(0)), source)
    return f'#line 1 "main.d"\n{body}' if located else f"\n{body}"


def driver() -> str:
    marker = MARKER.decode() + "0" * DIGITS
    return DRIVER % {"length": len(marker), "marker": marker, "start": len(MARKER)}


def write_group(folder: Path, sources: list[str], located: bool) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.d"):
        stale.unlink()
    (folder / "harness_batch.d").write_text(driver())
    names = ["harness_batch.d"]
    for number, source in enumerate(sources):
        (folder / f"p{number}.d").write_text(program_file(source, located))
        names.append(f"p{number}.d")
    return names


def gdc(arguments: list[str], folder: Path, timeout: float) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["gdc", *arguments], cwd=folder, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def compile_group(members: list[Path], sources: list[str], source_file: str, timeout: float,
                  arguments: list[str]) -> None:
    for _ in range(ROUNDS):
        if not members:
            return
        build = WORK / "build"
        result = gdc([*arguments, *write_group(build, sources, located=True), "-o", "batch"], build, timeout)
        if result is None:
            return  # too slow together: each program runs the plain way, under its own timeout
        if result.returncode == 0:
            distribute((build / "batch").read_bytes(), members, source_file)
            return
        check = WORK / "check"
        checked = gdc([*arguments, "-fsyntax-only", *write_group(check, sources, located=False)], check, timeout * 2)
        failing = {int(n) for n in ERROR.findall(checked.stderr.decode("utf-8", "replace"))} if checked else set()
        if not failing:
            return  # an error no program is named in: the plain command decides the whole group
        members = [member for number, member in enumerate(members) if number not in failing]
        sources = [source for number, source in enumerate(sources) if number not in failing]


def distribute(binary: bytes, members: list[Path], source_file: str) -> None:
    """Each member's copy of the binary, its number patched into the marker, then its compile outcome."""
    if binary.count(MARKER) != 1:
        print(f"batch_gdc: the entry marker occurs {binary.count(MARKER)} times in the binary; leaving the group",
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
        sys.exit("usage: python3 batch_gdc.py SOURCE_FILE TIMEOUT_S -- GDC ARGUMENTS... < folders")
    members: list[Path] = []
    sources: list[str] = []
    for line in sys.stdin:
        if not line.strip():
            continue
        folder = Path(line.strip())
        try:
            source = (folder / source_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if refusal(source) is None:
            members.append(folder)
            sources.append(source)
    for start in range(0, len(members), GROUP):
        compile_group(members[start:start + GROUP], sources[start:start + GROUP], source_file, float(timeout),
                      arguments)


if __name__ == "__main__":
    os.umask(0o022)
    main()
