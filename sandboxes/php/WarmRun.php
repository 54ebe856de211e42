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
// copy (this script's two functions and constant, and its $argv), read access to the toolchain, and the batch
// sandbox's cgroup limits (one program runs at a time).

const HARNESS_FORBIDDEN = '/fopen|file_|\bfile\(|readfile|fwrite|fputs|fread|fgets|unlink|rename|mkdir|rmdir|chdir|'
    . 'opendir|scandir|\bdir\(|glob|exec|shell|system|passthru|popen|proc_|pcntl|posix|`|socket|stream_|curl|'
    . 'mail\(|getenv|putenv|\$_SERVER|\$_ENV|\$GLOBALS|argv|argc|__FILE__|__DIR__|__LINE__|include|require|eval|'
    . 'assert_options|ini_|set_error_handler|set_exception_handler|register_shutdown|ob_|STDIN|STDOUT|STDERR|'
    . 'php:\/\/|ffi|\bdl\(|Reflection|debug_|getmypid|getmyuid|tmpfile|tempnam|touch|chmod|chown|copy\(|'
    . 'symlink|\blink\(|parse_ini|highlight_file|show_source|error_log|header|HARNESS/i';

// Fork a child per folder and report it; returns, in a child, once it is ready to run its program.
function harness_serve(): void
{
    $timeout = floatval(getenv('HARNESS_RUN_TIMEOUT_S') ?: '15') / 3;
    putenv('HARNESS_RUN_TIMEOUT_S');
    $folders = array_filter(explode("\n", stream_get_contents(STDIN)), 'strlen');
    foreach ($folders as $folder) {
        $source = file_get_contents("$folder/main.php");
        if ($source === false || preg_match(HARNESS_FORBIDDEN, $source)) {
            continue;
        }
        $pid = pcntl_fork();
        if ($pid === 0) {
            harness_enter($folder);
            return;
        }
        if ($pid < 0) {
            continue;
        }
        $deadline = microtime(true) + $timeout;
        while (($done = pcntl_waitpid($pid, $status, WNOHANG)) === 0 && microtime(true) < $deadline) {
            usleep(1000);
        }
        if ($done === 0) {
            posix_kill(-$pid, SIGKILL);
            pcntl_waitpid($pid, $status);
            continue;
        }
        clearstatcache();
        if (pcntl_wifexited($status) && filesize("$folder/.run.stderr") === 0
                && filesize("$folder/.run.stdout") < (1 << 20)) {
            file_put_contents("$folder/.run.rc", pcntl_wexitstatus($status) . "\n");
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
