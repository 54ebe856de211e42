"""Runs many CRUXEval-X Python programs from one started interpreter: a fork server.

Why: starting python3 (and bubblewrap around it) is most of a small program's run. Here the
interpreter starts once per chunk, and each program runs in a child forked from it, so it gets a
fresh copy of a pristine interpreter: its own memory, modules, globals, threads and exit, as in a
plain `python3 main.py`.

Protocol (harness/sandbox/batch_compile.py): job folders on stdin, one per line; for each, the
program FOLDER/main.py runs and FOLDER/.run.stdout, .run.stderr and, last, .run.rc are written.
$HARNESS_RUN_TIMEOUT_S is the run timeout a plain run would get.

What the child gets: its folder as current directory and sys.path[0]; a fresh `__main__` module
whose file is /box/main.py (the name it has in a plain run, so tracebacks read the same, source
lines included); sys.argv ['main.py']; stdin /dev/null; its own stdout and stderr files; its own
session (the runner kills its whole process group); the first victim of the out-of-memory killer.
It exits as the interpreter does after a script: uncaught exceptions printed by sys.excepthook
with exit code 1, SystemExit as given, non-daemon threads joined, atexit handlers run.

What it decides, and what it leaves to a fresh sandbox: .run.rc is written only for a child that
exited by itself within a third of the run timeout, printing less than 1 MB to each stream, and
without tripping the guard. The guard is an audit hook (PEP 578), installed in the child before
its program starts and impossible to remove from Python: opening a file for writing, reading
anything outside its folder and the toolchain (/usr, /etc), listing another folder, changing
directory, deleting, renaming or creating files, starting a process or a fork, sending a signal,
sockets and ctypes end the child at once with a code the runner does not report. Sources that
mention what the hook cannot see (the working directory's path, the runner's environment, frame
and garbage-collector introspection, the FFI, the import system) are not run here at all. Every
program without .run.rc runs in a sandbox of its own, so the guard can only cost time.

What a program shares with the others of its chunk: the interpreter's start-up state (the modules
imported below, all read-only for it as its own copies), read access to the toolchain, and the
batch sandbox's cgroup limits (one program runs at a time).

No program can change another program's verdict, even one that gets past the guard (for example a
shell started through a call the audit hook does not see): the runner is not dumpable, so nothing
it starts can open its memory or descriptors under /proc; it reads every source before running
any; it neither runs nor reports a folder that an earlier program replaced by a link;
before each program it empties that program's folder (then writes its source back), /tmp and
/dev/shm; after each it kills every other process of the sandbox (it runs as pid 2, so kill(-1)
spares only itself and bubblewrap's init) and keeps the program's outputs in memory; and it writes
every report only after the last program, when nothing else runs, removing any it did not decide.
What a program can still do is spoil its own verdict, or kill the runner, which leaves the rest of
the chunk to the plain path.
"""

import ctypes
import os
import re
import select
import sys
import time

OUTPUT_CAP = 1 << 20
TRIPPED = 86  # the exit code of a child stopped by the guard: never reported, always rerun plain
PROGRAM = "/box/main.py"  # where a plain run has it
PR_SET_DUMPABLE = 4
SHARED_SCRATCH = ("/tmp", "/dev/shm")  # writable by every program of the chunk: emptied before each
SETTLE_S = 2.0  # how long the runner waits for the sandbox to hold no process but itself
READABLE_ROOTS = ("/usr/", "/etc/", "/dev/null", "/dev/urandom")
# Audit events that a program which only computes never raises.
FORBIDDEN_EVENTS = frozenset({
    "os.chdir", "os.chmod", "os.chown", "os.chflags", "os.exec", "os.fork", "os.forkpty", "os.kill", "os.killpg",
    "os.link", "os.mkdir", "os.posix_spawn", "os.putenv", "os.remove", "os.rename", "os.rmdir", "os.spawn",
    "os.symlink", "os.system", "os.truncate", "os.unsetenv", "os.utime", "os.setxattr", "os.removexattr",
    "subprocess.Popen", "signal.pthread_kill", "resource.setrlimit", "resource.prlimit", "shutil.chown",
    "shutil.copyfile", "shutil.copymode", "shutil.copystat", "shutil.copytree", "shutil.move", "shutil.rmtree",
    "shutil.make_archive", "shutil.unpack_archive", "pty.spawn", "sys.addaudithook", "sys.setprofile",
    "sys.settrace", "gc.get_objects", "gc.get_referrers", "gc.get_referents", "mmap.__new__", "fcntl.ioctl",
    "fcntl.fcntl", "fcntl.flock", "fcntl.lockf", "syslog.openlog", "syslog.syslog", "msvcrt.open_osfhandle",
    "webbrowser.open", "urllib.Request", "ftplib.connect", "smtplib.connect", "http.client.connect",
    "tempfile.mkstemp", "tempfile.mkdtemp", "sqlite3.connect", "glob.glob", "os.walk", "os.fwalk",
})
FORBIDDEN_PREFIXES = ("socket.", "ctypes.", "_ctypes", "winreg.", "_winapi.", "imaplib.", "nntplib.", "poplib.",
                      "telnetlib.", "sys._current", "cpython.")
# What a source may not mention to run here: things whose result differs between a child and a
# plain run (the working directory's path, the environment, process ids, frames) or that reach
# around the audit hook (the FFI, the import system, raw posix calls, the garbage collector).
FORBIDDEN_SOURCE = re.compile(
    r"getcwd|__file__|abspath|realpath|resolve\(|environ|getenv|getpid|getppid|getsid|getpgid|_getframe|"
    r"inspect|traceback|\bgc\b|ctypes|cffi|importlib|__import__|__loader__|__spec__|\bposix\b|\bnt\b|"
    r"sys\.modules|sys\.argv|orig_argv|excepthook|unraisablehook|audit|breakpoint|\bsite\b|\bpdb\b|"
    r"faulthandler|multiprocessing|concurrent|asyncio|signal|resource|\bos\.fork|HARNESS_")


def _readable(path: str) -> bool:
    full = os.path.realpath(path)
    # PROGRAM: a traceback looks for its source lines there first (then finds them via sys.path)
    return full.startswith(os.getcwd() + "/") or full.startswith(READABLE_ROOTS) or full == PROGRAM


def _guard(event: str, args: tuple) -> None:
    """The child's audit hook: any effect beyond computing ends the child with TRIPPED."""
    if event == "open":
        path, mode, flags = args
        if isinstance(path, int):
            return
        writing = (mode is not None and any(letter in str(mode) for letter in "wax+")) or (
            isinstance(flags, int) and flags != -1 and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC))
        if writing or not _readable(os.fsdecode(path)):
            os._exit(TRIPPED)
    elif event in ("os.listdir", "os.scandir"):
        path = args[0]
        if not isinstance(path, int) and os.path.realpath(os.fsdecode(path or ".")) != os.getcwd() \
                and not _readable(os.fsdecode(path or ".")):
            os._exit(TRIPPED)
    elif event in FORBIDDEN_EVENTS or event.startswith(FORBIDDEN_PREFIXES):
        os._exit(TRIPPED)


def _write(path: str, data: str | bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)


def _outcome(pid: int, timeout_s: float) -> int | None:
    """The child's exit code, or None when it was killed, hit a signal or tripped the guard."""
    watcher = os.pidfd_open(pid)
    try:
        ready = select.poll()
        ready.register(watcher, select.POLLIN)
        if not ready.poll(timeout_s * 1000):
            os.killpg(pid, 9)
    finally:
        os.close(watcher)
    _, status = os.waitpid(pid, 0)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) == TRIPPED:
        return None
    return os.WEXITSTATUS(status)


def _empty(folder: str) -> None:
    """Remove what `folder` holds (not the folder): what an earlier program may have left there."""
    for entry in os.scandir(folder):
        if entry.is_dir(follow_symlinks=False):
            _empty(entry.path)
            os.rmdir(entry.path)
        else:
            os.unlink(entry.path)


def _genuine(folder: str) -> bool:
    """Whether `folder` is still the folder the harness made, not a link an earlier program put there."""
    return os.path.realpath(folder) == folder and os.path.isdir(folder)


def _kill_the_rest() -> bool:
    """Kill every process of the sandbox but this one and bubblewrap's init; False if they keep coming."""
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        try:
            os.kill(-1, 9)
        except ProcessLookupError:
            return True
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
    return False


def _serve(sources: dict[str, str], timeout_s: float) -> str | None:
    """Fork a child per folder and decide it; in a child, returns the folder it must run. After the
    last program, writes the reports of those decided (see the header for why only then)."""
    reports: dict[str, tuple[int, bytes, bytes]] = {}
    for folder, source in sources.items():
        if FORBIDDEN_SOURCE.search(source) or not _genuine(folder):
            continue
        for scratch in (folder, *SHARED_SCRATCH):
            _empty(scratch)
        _write(os.path.join(folder, "main.py"), source)
        out, err = os.path.join(folder, ".run.stdout"), os.path.join(folder, ".run.stderr")
        pid = os.fork()
        if pid == 0:
            return folder
        code = _outcome(pid, timeout_s)
        if not _kill_the_rest():
            reports.clear()  # something outlived SIGKILL: trust nothing this chunk did
            break
        if code is not None and all(os.path.exists(path) and os.path.getsize(path) < OUTPUT_CAP for path in (out, err)):
            with open(out, "rb") as stdout, open(err, "rb") as stderr:
                reports[folder] = (code, stdout.read(), stderr.read())
    for folder in filter(_genuine, sources):
        for name in (".run.rc", ".run.stdout", ".run.stderr"):
            if os.path.lexists(path := os.path.join(folder, name)):
                os.unlink(path)
    for folder, (code, stdout, stderr) in reports.items():
        if _genuine(folder):
            _write(os.path.join(folder, ".run.stdout"), stdout)
            _write(os.path.join(folder, ".run.stderr"), stderr)
            _write(os.path.join(folder, ".run.rc"), f"{code}\n")
    return None


def _enter(folder: str) -> dict:
    """In the child: the plain run's process state, and a fresh __main__ to run the program in."""
    import resource
    import types

    os.setsid()
    os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    _write("/proc/self/oom_score_adj", "1000")
    os.chdir(folder)
    for fd, name in ((1, ".run.stdout"), (2, ".run.stderr")):
        target = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    resource.setrlimit(resource.RLIMIT_FSIZE, (OUTPUT_CAP, OUTPUT_CAP))
    os.environ.pop("HARNESS_RUN_TIMEOUT_S", None)
    sys.argv[:] = ["main.py"]
    sys.path[0] = folder
    main = types.ModuleType("__main__")
    main.__file__, main.__cached__ = PROGRAM, None
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main
    sys.addaudithook(_guard)
    return vars(main)


def _read_sources(folders: list[str]) -> dict[str, str]:
    sources = {}
    for folder in folders:
        with open(os.path.join(folder, "main.py"), encoding="utf-8") as handle:
            sources[folder] = handle.read()
    return sources


if ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
    sys.exit(0)  # a runner whose memory the programs could reach decides nothing: all run plain
timeout = float(os.environ.get("HARNESS_RUN_TIMEOUT_S", "15")) / 3
jobs = _read_sources(sys.stdin.read().split())
null = os.open(os.devnull, os.O_RDONLY)
os.dup2(null, 0)
os.close(null)
child_folder = _serve(jobs, timeout)
if child_folder is None:
    sys.exit(0)
source_text = jobs[child_folder]
namespace = _enter(child_folder)
del jobs, timeout, null, child_folder
try:
    program = compile(source_text, PROGRAM, "exec")
    exec(program, namespace)
except SystemExit:
    raise
except BaseException as error:
    # As the interpreter reports an uncaught exception, without this file's frame.
    trace = error.__traceback__
    sys.excepthook(type(error), error, trace.tb_next if trace is not None and trace.tb_next else None)
    sys.exit(1)
