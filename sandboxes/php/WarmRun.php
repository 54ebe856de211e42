<?php
// Runs many CRUXEval-X PHP programs from one started php: a fork server.
//
// Why: starting php (and bubblewrap around it) is most of a small program's run. Here php starts
// once per chunk, and each program runs in a child forked from it (pcntl), so it gets a fresh copy
// of a pristine interpreter: its own globals, functions, classes and exit, as in a plain
// `php main.php`.
//
// Protocol (harness/sandbox/batch_compile.py): job folders on stdin, one per line; for each, the
// program FOLDER/main.php runs and FOLDER/.run.stdout, .run.stderr and, last, .run.rc are written.
// $HARNESS_RUN_TIMEOUT_S is the run timeout a plain run would get.
//
// How the child runs the program: in its own session, in its folder, with file descriptors 0 and
// 1 reopened on /dev/null and its own stdout file, PHP's error log in its own stderr file, the
// program included at the top level of
// this script (so its variables are globals, as in a plain run; this script defines none), then
// the exit a plain run makes.
//
// What it decides, and what it leaves to a fresh sandbox: .run.rc is written only for a child that
// exited by itself within a third of the run timeout, with nothing on stderr and less than 1 MB on
// stdout. PHP prints errors, warnings and uncaught exceptions on stderr with the program's path,
// which here is not /box/main.php, so every such run goes plain. PHP has no guard to trip, so
// sources that mention what could reach beyond the program (files, streams, processes, signals,
// the network, the environment, the script's own path, run-time evaluation and inclusion,
// reflection, settings) are not run here at all (HARNESS_FORBIDDEN below). Every program without
// .run.rc runs in a sandbox of its own, so this runner can only save time.
//
// What a program shares with the others of its chunk: the started interpreter's state as its own
// copy (this script's functions and constants, and its $argv), read access to the toolchain, and the batch
// sandbox's cgroup limits (one program runs at a time).
//
// No program can change another program's verdict through files, processes or the runner's memory,
// even one that gets past the source filter (a shell started through a variable function): the
// runner makes itself non-dumpable first (prctl through FFI; where that fails it decides nothing), so
// nothing it starts can open its memory or descriptors under /proc; it reads every source before
// running any; it neither runs nor reports a folder that an earlier program replaced by a link;
// before each program it empties that program's folder (then writes its source back), /tmp and
// /dev/shm; after each it kills every other process of the sandbox (it runs as pid 2, so kill(-1)
// spares only itself and bubblewrap's init) and only then reads the program's outputs into memory;
// and it writes every report only after the last program, when nothing else runs, removing any it
// did not decide. A child keeps one descriptor beyond 0-2: PHP's own read-only handle on this script.
// A program can still spoil its own verdict, and it can kill the runner (same user), which stops it
// before that last step; the harness then reads none of the batch's reports (it believes only a
// runner that exited 0), so what a shell forged is never read and the chunk runs plain.

const HARNESS_FORBIDDEN = '/fopen|file_|\bfile\(|readfile|fwrite|fputs|fread|fgets|unlink|rename|mkdir|rmdir|chdir|'
    . 'opendir|scandir|\bdir\(|glob|exec|shell|system|passthru|popen|proc_|pcntl|posix|`|socket|stream_|curl|'
    . 'mail\(|getenv|putenv|\$_SERVER|\$_ENV|\$GLOBALS|argv|argc|__FILE__|__DIR__|__LINE__|include|require|eval|'
    . 'assert_options|ini_|set_error_handler|set_exception_handler|register_shutdown|ob_|STDIN|STDOUT|STDERR|'
    . 'php:\/\/|ffi|\bdl\(|Reflection|debug_|getmypid|getmyuid|tmpfile|tempnam|touch|chmod|chown|copy\(|'
    . 'symlink|\blink\(|parse_ini|highlight_file|show_source|error_log|header|HARNESS/i';
const HARNESS_OUTPUT_CAP = 1 << 20;
const HARNESS_REPORTS = ['.run.rc', '.run.stdout', '.run.stderr'];
const HARNESS_PR_SET_DUMPABLE = 4;

// Remove $path whatever it is: a folder after its contents (made writable first); never follows a link.
function harness_remove(string $path): void
{
    if (is_dir($path) && !is_link($path)) {
        chmod($path, 0700);
        array_map('harness_remove', harness_entries($path));
        rmdir($path);
    } else {
        @unlink($path);
    }
}

function harness_entries(string $folder): array
{
    return array_map(fn($name) => "$folder/$name", array_values(array_diff(scandir($folder) ?: [], ['.', '..'])));
}

// Whether $folder is still the folder the harness made, not a link an earlier program put there.
function harness_genuine(string $folder): bool
{
    clearstatcache(true);  // and PHP's realpath cache, which would remember the folder before a swap
    return realpath($folder) === $folder && is_dir($folder);
}

// Before a program: its folder holds its source (from memory) alone, and /tmp and /dev/shm are empty.
function harness_reset(string $folder, string $source): bool
{
    clearstatcache();
    chmod($folder, 0777);
    array_map('harness_remove', [...harness_entries($folder), ...harness_entries('/tmp'), ...harness_entries('/dev/shm')]);
    return file_put_contents("$folder/main.php", $source) === strlen($source) && harness_entries($folder) === ["$folder/main.php"];
}

// The child's exit code, or null when it was killed or ended by a signal.
function harness_outcome(int $pid, float $timeout): ?int
{
    $deadline = microtime(true) + $timeout;
    while (($done = pcntl_waitpid($pid, $status, WNOHANG)) === 0 && microtime(true) < $deadline) {
        usleep(1000);
    }
    if ($done === 0) {
        posix_kill(-$pid, SIGKILL);
        pcntl_waitpid($pid, $status);
        return null;
    }
    return pcntl_wifexited($status) ? pcntl_wexitstatus($status) : null;
}

// Kill every process of the sandbox but this one and bubblewrap's init (the runner is pid 2), reaping
// its own; false if some are still there after 2 s.
function harness_settle(): bool
{
    $deadline = microtime(true) + 2;
    while (microtime(true) < $deadline) {
        if (!posix_kill(-1, SIGKILL)) {
            return posix_get_last_error() === PCNTL_ESRCH;
        }
        while (pcntl_waitpid(-1, $status, WNOHANG) > 0) {
        }
    }
    return false;
}

// A regular file's contents below the output cap, else null; never opens a link, a fifo or a device.
function harness_output(string $path): ?string
{
    clearstatcache();
    return @filetype($path) === 'file' && filesize($path) < HARNESS_OUTPUT_CAP ? file_get_contents($path) : null;
}

// Fork a child per folder and decide it; returns, in a child, once it is ready to run its program.
// After the last program, writes the reports of those decided (see the header for why only then).
function harness_serve(): void
{
    $prctl = FFI::cdef('int prctl(int option, unsigned long, unsigned long, unsigned long, unsigned long);');
    if ($prctl->prctl(HARNESS_PR_SET_DUMPABLE, 0, 0, 0, 0) !== 0) {
        exit(0);  // a runner whose memory the programs could reach decides nothing: all run plain
    }
    $timeout = floatval(getenv('HARNESS_RUN_TIMEOUT_S') ?: '15') / 3;
    putenv('HARNESS_RUN_TIMEOUT_S');
    $sources = [];
    foreach (array_filter(explode("\n", stream_get_contents(STDIN)), 'strlen') as $folder) {
        $sources[$folder] = file_get_contents("$folder/main.php");
    }
    $reports = [];
    foreach ($sources as $folder => $source) {
        if ($source === false || preg_match(HARNESS_FORBIDDEN, $source) || !harness_genuine($folder)
                || !harness_reset($folder, $source)) {
            continue;
        }
        $pid = pcntl_fork();
        if ($pid === 0) {
            harness_enter($folder);
            return;
        }
        $code = $pid > 0 ? harness_outcome($pid, $timeout) : null;
        if (!harness_settle()) {
            $reports = [];  // something outlived SIGKILL: trust nothing this chunk did
            break;
        }
        $stdout = harness_output("$folder/.run.stdout");
        if ($code !== null && $stdout !== null && harness_output("$folder/.run.stderr") === '') {
            $reports[$folder] = [$code, $stdout];
        }
    }
    foreach (array_filter(array_keys($sources), 'harness_genuine') as $folder) {
        chmod($folder, 0777);
        array_map(fn($name) => harness_remove("$folder/$name"), HARNESS_REPORTS);
        if (isset($reports[$folder])) {
            [$code, $stdout] = $reports[$folder];
            file_put_contents("$folder/.run.stdout", $stdout);
            file_put_contents("$folder/.run.stderr", '');
            file_put_contents("$folder/.run.rc", "$code\n");
        }
    }
    exit(0);
}

// In the child: the plain run's process state (closing a standard stream frees its descriptor,
// which the next fopen takes; the static array keeps the new streams open).
function harness_enter(string $folder): void
{
    static $streams = [];
    posix_setsid();
    @file_put_contents('/proc/self/oom_score_adj', '1000');
    chdir($folder);
    fclose(STDIN);
    $streams[] = fopen('/dev/null', 'r');
    fclose(STDOUT);
    $streams[] = fopen('.run.stdout', 'w');
    // PHP logs errors to stderr by a path that a reopened descriptor 2 does not reach; any error
    // logged here (with a timestamp) keeps the run from being reported, so its form does not matter.
    file_put_contents('.run.stderr', '');
    ini_set('error_log', "$folder/.run.stderr");
}

harness_serve();
include 'main.php';
