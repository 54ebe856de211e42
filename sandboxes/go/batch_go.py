"""Builds a chunk of Go test programs with one `go build` per group of 24 instead of `go test` each.

Why: `go test main_test.go` spends about 0.3 s per small program on the go command, vetting,
compiling the test package and linking a test binary; 24 programs linked into one binary share
the command's start-up and the link.

How: each program becomes a package of one module, `pN/pN.go`: the program with its package clause
renamed `pN` on the same line, under a `//line main_test.go:1` comment, so `t.Errorf` and panics
name `main_test.go` and the lines of the plain build. The module's own main runs the package's
`TestF` whose number is written in a marker string, through `testing.MainStart`, which prints what a
test binary prints (`--- FAIL: ...` lines and `FAIL`, or `PASS`), as go test's generated main does.
The run command, run_grouped.sh, does around it what `go test` does around a test binary: passes the
flags `-test.paniconexit0 -test.timeout=10m0s`, merges stderr into stdout, and after a pass prints
only `ok command-line-arguments TIME`, after a failure all the output and `FAIL
command-line-arguments TIME`. Before the build, `go vet` runs the analyzers `go test` runs (atomic,
bool, buildtags, errorsas, ifaceassert, nilfunc, printf, stringintconv) on every package of the
group, since a vet finding fails a plain `go test`. Each program's folder gets its own copy of the
binary as `main` with its number patched in; the language's `[batch_compile] run` runs it alone, in
its own sandbox.

Timing: the plain command's 30 s cover building and running; a grouped program's run gets them
all, and a group whose go calls take longer than 30 s is left alone.

What it leaves to the plain command (no `.compile.rc` written, see harness/sandbox/batch_compile.py):
- programs whose meaning could change in another package or binary: anything but one
  `func TestF(t *testing.T)` test, a package-level `var` or `func init` (they would run in every
  program's process), `TestMain`, `os.Args`, `flag`, `//go:` and `//line` directives, cgo, and
  names starting `harness`;
- programs vet flags or that fail to build in a group (go names the package, `# batch/pN`): the
  others are grouped again, up to 3 times, and every error is the plain command's.

Usage: python3 batch_go.py SOURCE_FILE TIMEOUT_S WARM_CACHE < folders
"""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

MARKER = b"HARNESS-GO-BATCH-ENTRY:"
DIGITS = 8
GROUP = 24
ROUNDS = 3
WORK = Path("/tmp/harness-batch-go")
VET = ["-atomic", "-bool", "-buildtags", "-errorsas", "-ifaceassert", "-nilfunc", "-printf", "-stringintconv"]
PACKAGE = re.compile(r"^package\s+\w+", re.MULTILINE)
FAILING = re.compile(r"^# batch/p(\d+)\b", re.MULTILINE)
REFUSED_TEXT = ("TestMain", "os.Args", "flag.", "//go:", "//line", "harness")
CGO = re.compile(r'^\s*(?:import\s+)?"C"\s*$', re.MULTILINE)
# The test binary's main as `go test` generates it, for the chosen package's TestF: testing.MainStart
# with the hooks go test's own testdeps gives (only the ones a test without fuzzing or profiling
# reaches do anything; -test.paniconexit0 needs SetPanicOnExit0, reached through go:linkname since
# internal/testlog cannot be imported). The empty driver.s lets the linkname declaration go bodiless.
DRIVER = """package main

import (
	"io"
	"os"
	"reflect"
	"regexp"
	"testing"
	"time"
	_ "unsafe"
%(imports)s)

var harnessEntry = "%(marker)s"

//go:linkname harnessPanicOnExit0 internal/testlog.SetPanicOnExit0
func harnessPanicOnExit0(bool)

type harnessCorpusEntry = struct {
	Parent     string
	Path       string
	Data       []byte
	Values     []any
	Generation int
	IsSeed     bool
}

type harnessDeps struct{}

func (harnessDeps) ImportPath() string                          { return "command-line-arguments" }
func (harnessDeps) MatchString(pattern, name string) (bool, error) { return regexp.MatchString(pattern, name) }
func (harnessDeps) SetPanicOnExit0(v bool)                      { harnessPanicOnExit0(v) }
func (harnessDeps) StartCPUProfile(io.Writer) error             { return nil }
func (harnessDeps) StopCPUProfile()                             {}
func (harnessDeps) StartTestLog(io.Writer)                      {}
func (harnessDeps) StopTestLog() error                          { return nil }
func (harnessDeps) WriteProfileTo(string, io.Writer, int) error { return nil }
func (harnessDeps) CoordinateFuzzing(time.Duration, int64, time.Duration, int64, int, []harnessCorpusEntry,
	[]reflect.Type, string, string) error {
	return nil
}
func (harnessDeps) RunFuzzWorker(func(harnessCorpusEntry) error) error { return nil }
func (harnessDeps) ReadCorpus(string, []reflect.Type) ([]harnessCorpusEntry, error) { return nil, nil }
func (harnessDeps) CheckCorpus([]any, []reflect.Type) error                         { return nil }
func (harnessDeps) ResetCoverage()                                                   {}
func (harnessDeps) SnapshotCoverage()                                                {}

func main() {
	number := 0
	for _, digit := range harnessEntry[%(start)d:] {
		number = number*10 + int(digit-'0')
	}
	tests := [][]testing.InternalTest{
%(tests)s	}
	os.Exit(testing.MainStart(harnessDeps{}, tests[number], nil, nil, nil).Run())
}
"""


def refusal(source: str) -> str | None:
    """Why the program may mean something else in a group (None: it may be grouped)."""
    if any(text in source for text in REFUSED_TEXT) or CGO.search(source):
        return "a refused construct (see the docstring)"
    clauses = list(PACKAGE.finditer(source))
    if len(clauses) != 1 or source[:clauses[0].start()].strip():
        return "not one package clause, before everything but blank lines"
    if re.findall(r"^func\s+(Test\w*)", source, re.MULTILINE) != ["TestF"] or "func TestF(t *testing.T)" not in source:
        return "not one `func TestF(t *testing.T)`"
    if re.search(r"^(?:var\b|func\s+init\s*\()", source, re.MULTILINE):
        return "a package-level var or init (run at every program's start)"
    return None


def write_group(folder: Path, sources: list[str]) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / "go.mod").write_text("module batch\n\ngo 1.19\n")
    for number, source in enumerate(sources):
        package = folder / f"p{number}"
        package.mkdir()
        renamed = PACKAGE.sub(f"package p{number}", source, count=1)
        (package / f"p{number}.go").write_text(f"//line main_test.go:1\n{renamed}")
    marker = MARKER.decode() + "0" * DIGITS
    imports = "".join(f'\tp{number} "batch/p{number}"\n' for number in range(len(sources)))
    tests = "".join(f'\t\t{{{{"TestF", p{number}.TestF}}}},\n' for number in range(len(sources)))
    (folder / "main.go").write_text(DRIVER % {"imports": imports, "marker": marker, "start": len(MARKER),
                                              "tests": tests})
    (folder / "driver.s").write_text("")


def go(arguments: list[str], folder: Path, deadline: float) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["go", *arguments], cwd=folder, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return None


def compile_group(members: list[Path], sources: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for _ in range(ROUNDS):
        if not members:
            return
        build = WORK / "build"
        write_group(build, sources)
        packages = [f"./p{number}" for number in range(len(sources))]
        vetted = go(["vet", *VET, *packages], build, deadline)
        result = go(["build", "-o", "batch", "."], build, deadline) if vetted and vetted.returncode == 0 else vetted
        if result is None:
            return  # too slow together: each program runs the plain way, under its own timeout
        if result.returncode == 0:
            distribute((build / "batch").read_bytes(), members)
            return
        failing = {int(number) for number in FAILING.findall(result.stdout.decode("utf-8", "replace"))}
        if not failing:
            return  # an error no program is named in: the plain command decides the whole group
        members = [member for number, member in enumerate(members) if number not in failing]
        sources = [source for number, source in enumerate(sources) if number not in failing]


def distribute(binary: bytes, members: list[Path]) -> None:
    """Each member's copy of the binary, its number patched into the marker, then its compile outcome."""
    if binary.count(MARKER) != 1:
        print(f"batch_go: the entry marker occurs {binary.count(MARKER)} times in the binary; leaving the group",
              file=sys.stderr)
        return
    digits_at = binary.index(MARKER) + len(MARKER)
    for number, folder in enumerate(members):
        target = folder / "main"
        target.write_bytes(binary[:digits_at] + f"{number:0{DIGITS}d}".encode() + binary[digits_at + DIGITS:])
        target.chmod(0o755)
        (folder / ".compile.stdout").write_text("")
        (folder / ".compile.stderr").write_text("")
        (folder / ".compile.rc").write_text("0\n")


def main() -> None:
    source_file, timeout, warm_cache = sys.argv[1:]
    cache = Path("/tmp/gocache")
    if not cache.exists():
        shutil.copytree(warm_cache, cache, symlinks=True)
    os.environ["GOCACHE"] = str(cache)
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
        compile_group(members[start:start + GROUP], sources[start:start + GROUP], float(timeout))


if __name__ == "__main__":
    os.umask(0o022)
    main()
