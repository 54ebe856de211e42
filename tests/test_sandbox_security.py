"""Hostile programs are contained: each language family's attacks get the honest status and leave nothing behind.

Every family (CPython, a native binary, the JVM, Node, the shell, Racket) is attacked in its own idiom: the
network, writes outside the work folder, a fork bomb, a memory bomb, an infinite loop, an output
flood and a child left running after the program exits. Each program names its processes with a
unique marker (`/proc/self/comm`, argv[0] or the environment of what it spawns), so after `run()`
returns the test can look through the host's /proc for anything of the program still alive; the
cgroups the backend created for it must be gone too. A language's attacks run as one batch per
limit (the JVM's warm compiler then starts once), under small limits: 256 MB, 64 pids, and a 2 s
timeout for the programs that never end by themselves.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from harness.sandbox.local import LocalSandbox
from harness.sandbox.process import run_step
from harness.sandbox.types import Execution, Limits, Program
from tests.sandbox_support import require_language

FAMILIES = ("py", "cpp", "java", "js", "sh", "rkt")
ENDS_BY_ITSELF = Limits(memory_mb=256, pids=64)  # the language's own timeout: no flaky cut under load
RUNS_FOREVER = Limits(timeout_s=2, memory_mb=256, pids=64)
FORBIDDEN_FOLDERS = ("/usr", "/etc", "/opt/harness/{language}", "/")
ALLOWED_FOLDERS = ("/tmp", "/box")
EXPECTED = {  # the honest status of each attack
    "network": ("failed",),  # the program asserts it can connect
    "writes": ("passed",),  # the program only reports which writes failed
    "output_flood": ("output_limit",),
    "background_child": ("passed",),  # the program itself exits 0; its child must die with the sandbox
    "fork_bomb": ("failed", "timeout"),  # it gives up at a refused fork; bash retries until the timeout
    "infinite_loop": ("timeout",),
    "memory_bomb": ("memory",),
}

# Placeholders: @MARK@ (a marker of 12 characters: a process name holds 15, and Node's
# process.title cannot outgrow the command line `node main.js`),
# @PORT@ (a port listening on the host's loopback), @LANG@ (the language key).
PY = {
    "network": """
import socket
open("/proc/self/comm", "w").write("@MARK@")
unreachable = []
for name, address in [("dns", None), ("ip", ("1.1.1.1", 53)), ("host", ("127.0.0.1", @PORT@))]:
    try:
        socket.getaddrinfo("example.com", 443) if address is None else socket.create_connection(address, timeout=1)
    except OSError as error:
        print(name, "unreachable:", error)
        unreachable.append(name)
assert not unreachable, unreachable
""",
    "writes": """
import os
open("/proc/self/comm", "w").write("@MARK@")
for folder in ["/usr", "/etc", "/opt/harness/@LANG@", "/", "/tmp", "/box"]:
    try:
        with open(os.path.join(folder, "@MARK@"), "w") as handle:
            handle.write("escaped")
        print(folder, "writable")
    except OSError:
        print(folder, "denied")
""",
    "fork_bomb": """
import os, sys
open("/proc/self/comm", "w").write("@MARK@")
while True:  # every copy forks on; a refused fork ends that copy, and the program when it is the first
    try:
        os.fork()
    except OSError:
        print("fork refused", flush=True)
        sys.exit(1)
""",
    "memory_bomb": """
open("/proc/self/comm", "w").write("@MARK@")
hoard = []
while True:
    hoard.append(b"x" * (16 << 20))
""",
    "infinite_loop": """
open("/proc/self/comm", "w").write("@MARK@")
while True:
    pass
""",
    "output_flood": """
open("/proc/self/comm", "w").write("@MARK@")
while True:
    print("x" * 1000)
""",
    "background_child": """
import os, subprocess, time
open("/proc/self/comm", "w").write("@MARK@")
subprocess.Popen(["@MARK@", "1000"], executable="/bin/sleep", start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(1000)
    os._exit(0)
print("main exits")
""",
}

CPP_HEAD = """
#include <bits/stdc++.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
"""
CPP = {
    "network": CPP_HEAD + """
bool reach(const char* ip, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    inet_pton(AF_INET, ip, &address.sin_addr);
    return connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
}
int main() {
    prctl(PR_SET_NAME, "@MARK@");
    addrinfo* found = nullptr;
    bool dns = getaddrinfo("example.com", "443", nullptr, &found) == 0;
    bool ip = reach("1.1.1.1", 53), host = reach("127.0.0.1", @PORT@);
    if (!dns) std::cout << "dns unreachable" << std::endl;
    if (!ip) std::cout << "ip unreachable" << std::endl;
    if (!host) std::cout << "host unreachable" << std::endl;
    assert(dns && ip && host);
}
""",
    "writes": CPP_HEAD + """
int main() {
    prctl(PR_SET_NAME, "@MARK@");
    for (std::string folder : {"/usr", "/etc", "/opt/harness/@LANG@", "/", "/tmp", "/box"}) {
        std::ofstream file(folder + "/@MARK@");
        file << "escaped";
        std::cout << folder << (file.good() ? " writable" : " denied") << std::endl;
    }
}
""",
    "fork_bomb": CPP_HEAD + """
int main() {
    prctl(PR_SET_NAME, "@MARK@");
    while (true) {
        if (fork() < 0) {
            std::cout << "fork refused" << std::endl;
            return 1;
        }
    }
}
""",
    "memory_bomb": CPP_HEAD + """
int main() {
    prctl(PR_SET_NAME, "@MARK@");
    std::vector<std::vector<char>> hoard;
    while (true) hoard.emplace_back(16 << 20, 'x');
}
""",
    "infinite_loop": CPP_HEAD + """
int main() {
    prctl(PR_SET_NAME, "@MARK@");
    volatile unsigned long spins = 0;
    while (true) ++spins;
}
""",
    "output_flood": CPP_HEAD + """
int main() {
    prctl(PR_SET_NAME, "@MARK@");
    while (true) std::cout << std::string(1000, 'x') << '\\n';
}
""",
    "background_child": CPP_HEAD + """
int main() {
    prctl(PR_SET_NAME, "@MARK@");
    if (fork() == 0) {
        setsid();
        execl("/bin/sleep", "@MARK@", "1000", static_cast<char*>(nullptr));
    }
    if (fork() == 0) {
        setsid();
        if (fork() == 0) sleep(1000);
        _exit(0);
    }
    std::cout << "main exits" << std::endl;
}
""",
}

JAVA_HEAD = """
import java.io.*;
import java.net.*;
import java.nio.file.*;
import java.util.*;

class Problem {
    static void mark() throws IOException {
        Files.writeString(Path.of("/proc/self/comm"), "@MARK@");
    }
"""
JAVA = {
    "network": JAVA_HEAD + """
    static boolean reach(String host, int port) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(host, port), 1000);
            return true;
        } catch (IOException error) {
            return false;
        }
    }
    public static void main(String[] args) throws IOException {
        mark();
        List<String> unreachable = new ArrayList<>();
        try {
            InetAddress.getByName("example.com");
        } catch (UnknownHostException error) {
            unreachable.add("dns");
        }
        if (!reach("1.1.1.1", 53)) unreachable.add("ip");
        if (!reach("127.0.0.1", @PORT@)) unreachable.add("host");
        for (String name : unreachable) System.out.println(name + " unreachable");
        assert unreachable.isEmpty() : unreachable;
    }
}
""",
    "writes": JAVA_HEAD + """
    public static void main(String[] args) throws IOException {
        mark();
        for (String folder : List.of("/usr", "/etc", "/opt/harness/@LANG@", "/", "/tmp", "/box")) {
            try {
                Files.writeString(Path.of(folder, "@MARK@"), "escaped");
                System.out.println(folder + " writable");
            } catch (IOException error) {
                System.out.println(folder + " denied");
            }
        }
    }
}
""",
    "fork_bomb": JAVA_HEAD + """
    static void spawn() {
        try {
            while (true) {
                ProcessBuilder builder = new ProcessBuilder("sleep", "1000");
                builder.environment().put("SANDBOX_TEST_MARKER", "@MARK@");
                builder.start();
                new Thread(Problem::spawn).start();
            }
        } catch (IOException | OutOfMemoryError error) {  // no pid left for a process or a thread
            System.err.println("fork refused");  // stdout gets the JVM's own warnings
            System.exit(1);
        }
    }
    public static void main(String[] args) throws IOException {
        mark();
        spawn();
    }
}
""",
    "memory_bomb": JAVA_HEAD + """
    public static void main(String[] args) throws IOException {
        mark();
        List<long[]> hoard = new ArrayList<>();
        while (true) hoard.add(new long[2 << 20]);
    }
}
""",
    "infinite_loop": JAVA_HEAD + """
    public static void main(String[] args) throws IOException {
        mark();
        while (true) {}
    }
}
""",
    "output_flood": JAVA_HEAD + """
    public static void main(String[] args) throws IOException {
        mark();
        while (true) System.out.println("x".repeat(1000));
    }
}
""",
    "background_child": JAVA_HEAD + """
    public static void main(String[] args) throws IOException {
        mark();
        ProcessBuilder builder = new ProcessBuilder("sleep", "1000").redirectOutput(ProcessBuilder.Redirect.DISCARD);
        builder.environment().put("SANDBOX_TEST_MARKER", "@MARK@");
        builder.start();
        System.out.println("main exits");
    }
}
""",
}

JS = {
    "network": """
const assert = require("node:assert");
const dns = require("node:dns/promises");
const net = require("node:net");
process.title = "@MARK@";
function connect(host, port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, timeout: 1000 }, () => { socket.destroy(); resolve(); });
    socket.on("error", reject);
    socket.on("timeout", () => reject(new Error("timed out")));
  });
}
(async () => {
  const unreachable = [];
  for (const [name, attempt] of [["dns", () => dns.lookup("example.com")],
                                 ["ip", () => connect("1.1.1.1", 53)],
                                 ["host", () => connect("127.0.0.1", @PORT@)]]) {
    try {
      await attempt();
    } catch (error) {
      console.log(`${name} unreachable: ${error.code}`);
      unreachable.push(name);
    }
  }
  assert.deepEqual(unreachable, []);
})();
""",
    "writes": """
const fs = require("node:fs");
const path = require("node:path");
process.title = "@MARK@";
for (const folder of ["/usr", "/etc", "/opt/harness/@LANG@", "/", "/tmp", "/box"]) {
  try {
    fs.writeFileSync(path.join(folder, "@MARK@"), "escaped");
    console.log(`${folder} writable`);
  } catch (error) {
    console.log(`${folder} denied`);
  }
}
""",
    "fork_bomb": """
const { spawn } = require("node:child_process");
process.title = "@MARK@";
function refused() {
  console.log("fork refused");
  process.exit(1);
}
function bomb() {
  try {
    spawn("sleep", ["1000"], { argv0: "@MARK@", detached: true, stdio: "ignore" }).on("error", refused);
  } catch (error) {
    refused();
  }
  setImmediate(bomb);
}
bomb();
""",
    "memory_bomb": """
process.title = "@MARK@";
const hoard = [];
for (;;) hoard.push(Buffer.alloc(16 << 20, 1));
""",
    "infinite_loop": """
process.title = "@MARK@";
for (;;) {}
""",
    "output_flood": """
process.title = "@MARK@";
for (;;) process.stdout.write("x".repeat(1000) + "\\n");
""",
    "background_child": """
const { spawn } = require("node:child_process");
process.title = "@MARK@";
spawn("sleep", ["1000"], { argv0: "@MARK@", detached: true, stdio: "ignore" }).unref();
console.log("main exits");
""",
}

SH_HEAD = 'printf %s "@MARK@" > /proc/$$/comm\n'
SH = {
    "network": SH_HEAD + """
unreachable=()
getent hosts example.com > /dev/null || unreachable+=(dns)
(exec 3<> /dev/tcp/1.1.1.1/53) 2> /dev/null || unreachable+=(ip)
(exec 3<> /dev/tcp/127.0.0.1/@PORT@) 2> /dev/null || unreachable+=(host)
for name in "${unreachable[@]}"; do echo "$name unreachable"; done
[[ ${#unreachable[@]} -eq 0 ]]
""",
    "writes": SH_HEAD + """
for folder in /usr /etc /opt/harness/@LANG@ / /tmp /box; do
    if { echo escaped > "${folder%/}/@MARK@"; } 2> /dev/null; then
        echo "$folder writable"
    else
        echo "$folder denied"
    fi
done
""",
    "fork_bomb": SH_HEAD + """
bomb() { bomb | bomb & }
bomb
wait
sleep 1000
""",
    "memory_bomb": SH_HEAD + """
hoard=x
while true; do hoard+=$hoard; done
""",
    "infinite_loop": SH_HEAD + """
while true; do :; done
""",
    "output_flood": SH_HEAD + """
printf -v line '%1000s' x
while true; do echo "$line"; done
""",
    "background_child": SH_HEAD + """
exec -a @MARK@ sleep 1000 &
(while sleep 1; do :; done) &
disown -a
echo "main exits"
""",
}

# Racket runs warm by default: each attack trips the warm runner's guard (the write to
# /proc/self/comm, a subprocess, a connection) or its limits, and is then run in a sandbox of its own.
# racket/base starts in a third of `racket`'s time, so the fork bomb meets the pids limit well
# inside the 2 s timeout on a loaded machine.
RKT_HEAD = """#lang racket/base
(with-output-to-file "/proc/self/comm" (lambda () (display "@MARK@")) #:exists 'truncate)
"""
RKT = {
    "network": RKT_HEAD + """
(require racket/tcp)
(define unreachable
  (for/list ([name '("dns" "ip" "host")]
             [target (list (cons "example.com" 443) (cons "1.1.1.1" 53) (cons "127.0.0.1" @PORT@))]
             #:when (with-handlers ([exn:fail? (lambda (e) (printf "~a unreachable: ~a~n" name (exn-message e)) #t)])
                      (let-values ([(in out) (tcp-connect (car target) (cdr target))]) #f)))
    name))
(unless (null? unreachable) (error 'network "~a" unreachable))
""",
    "writes": RKT_HEAD + """
(for ([folder '("/usr" "/etc" "/opt/harness/@LANG@" "/" "/tmp" "/box")])
  (define path (if (string=? folder "/") "/@MARK@" (string-append folder "/@MARK@")))
  (printf "~a ~a~n" folder (with-handlers ([exn:fail? (lambda (e) "denied")])
                             (with-output-to-file path (lambda () (display "escaped")))
                             "writable")))
""",
    "fork_bomb": RKT_HEAD + """
(void (putenv "HARNESS_ATTACK" "@MARK@"))  ; the children carry the marker in their environment
(let spawn ([count 0])
  (with-handlers ([exn:fail? (lambda (e) (printf "fork refused after ~a: ~a~n" count (exn-message e)) (exit 1))])
    (subprocess #f #f #f "/bin/sleep" "1000"))
  (spawn (add1 count)))
""",
    "memory_bomb": RKT_HEAD + """
(let hoard ([kept '()]) (hoard (cons (make-bytes (* 16 1024 1024) 1) kept)))
""",
    "infinite_loop": RKT_HEAD + """
(let loop () (loop))
""",
    "output_flood": RKT_HEAD + """
(define line (make-string 1000 #\\x))
(let loop () (displayln line) (loop))
""",
    "background_child": RKT_HEAD + """
(void (putenv "HARNESS_ATTACK" "@MARK@"))
(define-values (child out in err) (subprocess #f #f #f "/bin/sleep" "1000"))
(displayln "main exits")
""",
}

SOURCES = {"py": PY, "cpp": CPP, "java": JAVA, "js": JS, "sh": SH, "rkt": RKT}
HELLO = {
    "py": 'print("alive")\n',
    "cpp": '#include <cstdio>\nint main() { std::puts("alive"); }\n',
    "java": 'class Problem {\n    public static void main(String[] args) { System.out.println("alive"); }\n}\n',
    "js": 'console.log("alive");\n',
    "sh": "echo alive\n",
    "rkt": '#lang racket\n(displayln "alive")\n',
}


@dataclass(frozen=True)
class Outcome:
    """One attack's execution, with what of it was still alive on the host once `run()` returned."""

    marker: str
    execution: Execution
    survivors: list[str]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[LocalSandbox]:
    local = LocalSandbox()
    yield local
    local.close()


@pytest.fixture
def host_port() -> Iterator[int]:
    """A port listening on the host's loopback: only a sandbox sharing the host's network reaches it."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # gone meanwhile, or (environ) not ours to read
        return b""


def leftover_processes(marker: str) -> list[str]:
    """Live host processes (zombies are dead already) whose name, command line or environment carries the marker."""
    found = []
    for entry in Path("/proc").iterdir():
        stat = _read(entry / "stat") if entry.name.isdigit() else b""
        if not stat or stat.rsplit(b")", 1)[1].split()[0] in (b"Z", b"X"):
            continue
        comm, cmdline, environ = (_read(entry / name) for name in ("comm", "cmdline", "environ"))
        if any(marker.encode() in view for view in (comm, cmdline, environ)):
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"pid {entry.name} ({comm.decode().strip()}): {command}")
    return found


def leftover_cgroups() -> list[str]:
    """This process's program cgroups (`harness-<pid>-*`) still present under the memory or pids hierarchy."""
    prefix = f"harness-{os.getpid()}-"
    return [os.path.join(folder, name) for controller in ("memory", "pids")
            for folder, names, _ in os.walk(f"/sys/fs/cgroup/{controller}") for name in names
            if name.startswith(prefix)]


def run_attacks(sandbox: LocalSandbox, language: str, attacks: tuple[str, ...], limits: Limits,
                port: int = 0) -> dict[str, Outcome]:
    """Run the attacks as one batch (one warm compiler for the JVM); no cgroup of theirs may remain."""
    require_language(language)
    markers = {attack: f"sec{uuid.uuid4().hex[:9]}" for attack in attacks}
    programs = []
    for attack in attacks:
        source = SOURCES[language][attack]
        for placeholder, value in (("@MARK@", markers[attack]), ("@PORT@", str(port)), ("@LANG@", language)):
            source = source.replace(placeholder, value)
        programs.append(Program(language, source))
    executions = sandbox.run(programs, limits)
    assert leftover_cgroups() == []
    return {attack: Outcome(markers[attack], execution, leftover_processes(markers[attack]))
            for attack, execution in zip(attacks, executions)}


def output_problem(attack: str, language: str, execution: Execution) -> str:
    """What is wrong with the attack's own report of what it saw, or ''."""
    if attack == "network":
        reached = [name for name in ("dns", "ip", "host") if f"{name} unreachable" not in execution.stdout]
        return f"reached {reached}" if reached else ""
    if attack == "writes":
        expected = [f"{folder.format(language=language)} denied" for folder in FORBIDDEN_FOLDERS]
        expected += [f"{folder} writable" for folder in ALLOWED_FOLDERS]
        return "" if execution.stdout.splitlines() == expected else "unexpected writability"
    if attack == "fork_bomb":
        output = execution.stdout + execution.stderr
        refused = "fork refused" in output or "fork: retry: Resource temporarily unavailable" in output  # bash's
        return "" if refused else "no fork was refused"
    if attack == "background_child":
        return "" if execution.stdout == "main exits\n" else "main did not finish"
    return ""


def assert_contained(outcomes: dict[str, Outcome], language: str) -> None:
    """Every attack got its status, saw what it should, and left no process behind."""
    problems = []
    for attack, outcome in outcomes.items():
        execution = outcome.execution
        if execution.status not in EXPECTED[attack]:
            problems.append(f"{attack}: status {execution.status}, expected {' or '.join(EXPECTED[attack])}")
        if output_problem(attack, language, execution):
            problems.append(f"{attack}: {output_problem(attack, language, execution)}")
        problems += [f"{attack}: survivor {survivor}" for survivor in outcome.survivors]
    details = "\n".join(f"{attack}: {outcome.execution}" for attack, outcome in outcomes.items())
    assert problems == [], details


@pytest.mark.parametrize("language", FAMILIES)
def test_escapes_and_floods_are_refused(sandbox: LocalSandbox, host_port: int, language: str) -> None:
    """No network, no write outside /box and /tmp, output cut at the cap, no child outlives the program."""
    outcomes = run_attacks(sandbox, language, ("network", "writes", "output_flood", "background_child"),
                           ENDS_BY_ITSELF, host_port)
    assert_contained(outcomes, language)
    mounts = sandbox.mounts(sandbox.specs[language], Path("/nonexistent"))
    marker = outcomes["writes"].marker
    for folder in (mounts.rootfs, mounts.rootfs / "usr", mounts.rootfs / "etc", mounts.overlay):
        assert not (folder / marker).exists()


@pytest.mark.parametrize("language", FAMILIES)
def test_endless_programs_are_stopped(sandbox: LocalSandbox, language: str) -> None:
    """An infinite loop times out; a fork bomb is held to the pids limit, and the next program runs as usual."""
    assert_contained(run_attacks(sandbox, language, ("fork_bomb", "infinite_loop"), RUNS_FOREVER), language)
    follow_up = sandbox.run([Program(language, HELLO[language])])[0]
    assert (follow_up.status, follow_up.stdout) == ("passed", "alive\n"), follow_up


@pytest.mark.parametrize("language", FAMILIES)
def test_memory_bomb_is_killed_as_memory(sandbox: LocalSandbox, language: str) -> None:
    if sandbox.cgroups_unavailable:
        pytest.skip(f"rlimits alone cannot tell an OOM kill: {sandbox.cgroups_unavailable}")
    assert_contained(run_attacks(sandbox, language, ("memory_bomb",), ENDS_BY_ITSELF), language)


def test_files_may_outgrow_the_output_cap_but_not_the_file_cap(sandbox: LocalSandbox) -> None:
    """A compiled binary is often bigger than the output cap (an unoptimised Rust one is 11 MB)."""
    require_language("py")
    source = """
for size in (2 << 20, 4 << 20):
    with open(f"/box/{size}", "wb") as handle:
        try:
            handle.write(b"x" * size)
            print(size, "written")
        except OSError:
            print(size, "refused")
"""
    limits = Limits(memory_mb=256, pids=64, output_bytes=1 << 20, file_bytes=3 << 20)
    execution = sandbox.run([Program("py", source)], limits)[0]
    assert (execution.status, execution.stdout) == ("passed", f"{2 << 20} written\n{4 << 20} refused\n"), execution


DISK_FILL = """
import errno, os
written = 0
try:
    for index in range(100000):
        folder = "." if index % 2 else "/tmp"
        with open(f"{folder}/junk{index}", "wb") as handle:
            handle.write(b"x" * (4 << 20))
        written += 4
except OSError as error:
    print(errno.errorcode[error.errno], "after", written, "MB", flush=True)
"""


def test_a_program_filling_the_disk_fills_only_its_own_capped_tmpfs(sandbox: LocalSandbox, tmp_path: Path) -> None:
    """The run step's /box is a tmpfs copy of the work folder and /tmp a tmpfs, both capped at the
    memory limit: the program is stopped at the cap (OOM-killed where cgroups count tmpfs pages as
    its memory, else ENOSPC), and the host's work folder holds only what it held before."""
    require_language("py")
    spec = sandbox.specs["py"]
    work = tmp_path / "box"
    work.mkdir()
    (work / spec.source_file).write_text(DISK_FILL)
    _, run = spec.commands("fast")
    limits = Limits(memory_mb=128, pids=64)
    result = run_step(sandbox.mounts(spec, work), sandbox.environment(spec), run.command, 60, limits, tmp_path,
                      sandbox.cgroups_unavailable is None, private_box=True)
    stopped_at_cap = result.out_of_memory or result.stdout.startswith("ENOSPC after")
    assert stopped_at_cap and not result.timed_out, result
    if result.stdout:
        assert int(result.stdout.split()[2]) <= 2 * 128, "each tmpfs holds at most the memory limit"
    assert sorted(path.name for path in work.iterdir()) == [spec.source_file]
