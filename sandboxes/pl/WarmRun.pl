# Runs many CRUXEval-X Perl programs from one started perl: a fork server.
#
# Why: starting perl and loading Test::Deep (which every program uses) is most of a small
# program's run. Here perl starts once per chunk with Test::Deep loaded, and each program runs in
# a child forked from it, so it gets a fresh copy of a pristine interpreter: its own symbols,
# globals, hashes and exit, as in a plain `perl main.pl`.
#
# Protocol (harness/sandbox/batch_compile.py): job folders on stdin, one per line; for each, the
# program FOLDER/main.pl runs and FOLDER/.run.stdout, .run.stderr and, last, .run.rc are written.
# $HARNESS_RUN_TIMEOUT_S is the run timeout a plain run would get.
#
# How the child runs the program: in its own session, in its folder, with STDOUT and STDERR
# reopened on its own files and STDIN on /dev/null, the source compiled in package main as file
# "main.pl" with neither strict nor warnings on (as a plain run starts), then `exit` as a plain run
# ends: END blocks and global destruction run, the exit code is the program's.
#
# What it decides, and what it leaves to a fresh sandbox: a run is decided only for a child that
# exited by itself within a third of the run timeout, with nothing on stderr (a die or a warning)
# and less than 1 MB on stdout. Perl has no guard to trip, so sources that mention what could
# reach beyond the program (files, handles, processes, signals, the network, the environment,
# run-time evaluation and loading, the interpreter's internals) are not run here at all
# ($FORBIDDEN below). Every program without .run.rc runs in a sandbox of its own, so this runner
# can only save time.
#
# Integrity (rules R1-R8, each marked in the code): a program that gets past the filter (a shell
# started from s///ee) still cannot change another program's verdict in this batch through files,
# processes or the runner's memory, as long as the runner lives. The runner is pid 2 of the
# sandbox (`exec` in language.toml) and non-dumpable, so no child can read or write its memory or
# descriptors through /proc (R1). It reads every source into memory first and runs each from there
# (R3); before each program it rebuilds the program's folder (each folder on its path a directory
# with its first mode, holding only the source) and empties /tmp and /dev/shm (R4); the child
# points every descriptor but 0, 1 and 2 at /dev/null (R5: Test::Builder's copies of the runner's
# stdout and stderr among them, so cmp_deeply & co. print nowhere instead of into the runner's streams);
# after each program the runner kills every other process of the sandbox (R6), and only then
# keeps the outcome in memory (R7). Nothing is written until the last program is done and no other
# process is left: then every job folder is rebuilt and each decided run's .run.stdout,
# .run.stderr and .run.rc are written from memory (R8). If the sandbox does not empty within 2 s,
# no later run is decided (nor any, if it does not empty at the end).
# A program can still kill the runner (a signal needs only the same uid); the batch then ends
# without R8, but the runner exits 0 only after R8 and the harness reads no report of a batch whose
# runner did not, so what the program forged is never read. Kernel objects that outlive a process (System V
# IPC, keyrings) are not cleared: two programs that both get past the filter can still pass data
# through them. The batch's /box holds only its own chunk's folders (the harness binds no others).
#
# What a program shares with the others of its chunk: the started interpreter's state as its own
# copy (Test::Deep and POSIX loaded; syscall.ph's subs, in a package of the runner's), read access
# to the toolchain, and the batch sandbox's cgroup limits (one program runs at a time). Hash order
# is the plain run's: PERL_HASH_SEED and PERL_PERTURB_KEYS are pinned for the whole process.

# First, before `use strict` and `use warnings`, and with no lexical in scope: the program is
# compiled in this sub's scope, so it must see neither pragma nor any variable of this runner.
sub evaluate_program { eval $HarnessWarmRun::source; return $@ }

use strict;
use warnings;
use POSIX ();
use Test::Deep ();
use Time::HiRes ();

my $OUTPUT_CAP = 1 << 20;
my $SETTLE_S = 2;
my @SCRATCH = ('/tmp', '/dev/shm');
my $FORBIDDEN = qr/\bopen\b|opendir|sysopen|system|\bexec\b|fork|`|\bqx|readpipe|\bkill\b|unlink|rename|mkdir|rmdir|
    chdir|symlink|\blink\b|chmod|chown|utime|truncate|socket|connect|syscall|CORE::|ENV|\$0|__FILE__|__END__|
    __DATA__|\$\$|getppid|caller|\bdo\b(?!\s*\{)|\beval\b|glob|<[A-Za-z_\$]*>|STDIN|STDERR|STDOUT|\bselect\b|
    require|\bdump\b|\btie\b|\$SIG|fileno|ioctl|fcntl|flock|\bpipe\b|\bwait|alarm|\bEND\b|
    \buse\s+(?!strict\b|warnings\b|Test::Deep\b|List::Util\b|POSIX\b|Data::Dumper\b|utf8\b)|HARNESS/x;

# R1: prctl(PR_SET_DUMPABLE, 0): children, and what they start, cannot open /proc/<runner>/mem, fd or environ.
sub undumpable {
    package HarnessWarmRun::Syscall; # syscall.ph defines its subs here, not in the program's package main
    return eval { require 'syscall.ph'; syscall(&SYS_prctl, 4, 0, 0, 0, 0) == 0 };
}

sub slurp {
    my ($path) = @_;
    open(my $handle, '<:raw', $path) or die "cannot read $path: $!";
    local $/;
    my $text = <$handle>;
    close $handle;
    return $text;
}

sub spew {
    my ($path, $text) = @_;
    open(my $handle, '>:raw', $path) or die "cannot write $path: $!";
    print $handle $text;
    close $handle or die "cannot write $path: $!";
}

sub entries {
    my ($folder) = @_;
    opendir(my $handle, $folder) or die "cannot list $folder: $!";
    return grep { $_ ne '.' && $_ ne '..' } readdir $handle;
}

# A file, a link or a whole tree, whatever its modes.
sub remove {
    my ($path) = @_;
    unless (lstat($path) && -d _) {
        unlink $path or die "cannot remove $path: $!";
        return;
    }
    chmod 0700, $path;
    remove("$path/$_") for entries($path);
    rmdir $path or die "cannot remove $path: $!";
}

# What the runner knows of a job folder before any program runs: the program's source and the
# mode of each folder on its path.
sub read_job {
    my ($folder) = @_;
    my @path = ($folder);
    unshift @path, $path[0] =~ s{/[^/]*\z}{}r while $path[0] =~ m{\A/[^/]+/};
    return { source => slurp("$folder/main.pl"), modes => [map { [$_, (stat $_)[2] & 07777] } @path] };
}

# The folder as the harness left it: each folder on its path a directory (not a link) with its
# first mode, and in it only the program's source.
sub reset_folder {
    my ($folder, $job) = @_;
    for my $dir_mode (@{$job->{modes}}) {
        my ($dir, $mode) = @$dir_mode;
        unless (lstat($dir) && -d _) {
            remove($dir) if lstat $dir;
            mkdir $dir or die "cannot create $dir: $!";
        }
        chmod $mode, $dir or die "cannot chmod $dir: $!";
    }
    remove("$folder/$_") for entries($folder);
    spew("$folder/main.pl", $job->{source});
}

sub reap { 1 while waitpid(-1, POSIX::WNOHANG()) > 0 }

# R6: SIGKILL to every process of the sandbox but bwrap's init and this one, until none is left;
# false if that takes longer than $SETTLE_S.
sub settle {
    my $deadline = Time::HiRes::time() + $SETTLE_S;
    while (kill 'KILL', -1) {
        reap();
        return 0 if Time::HiRes::time() > $deadline;
    }
    my $alone = $! == POSIX::ESRCH();
    reap();
    return $alone;
}

sub enter {
    my ($folder) = @_;
    POSIX::setsid();
    if (open(my $oom, '>', '/proc/self/oom_score_adj')) { print $oom "1000"; close $oom; }
    chdir $folder or POSIX::_exit(125);
    open(STDOUT, '>', '.run.stdout') or POSIX::_exit(125);
    open(STDERR, '>', '.run.stderr') or POSIX::_exit(125);
    POSIX::dup2(0, $_) for grep { /\A\d+\z/ && $_ > 2 } entries('/proc/self/fd'); # R5: onto /dev/null
    $0 = 'main.pl';
    my $error = evaluate_program();
    if ($error) {
        print STDERR $error;
        exit 255;
    }
    exit 0;
}

# The child's exit code when it exited by itself within $timeout, else undef (R6 kills it).
sub outcome {
    my ($pid, $timeout) = @_;
    my $deadline = Time::HiRes::time() + $timeout;
    while (waitpid($pid, POSIX::WNOHANG()) == 0) {
        return undef if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.001);
    }
    return POSIX::WIFEXITED($?) ? POSIX::WEXITSTATUS($?) : undef;
}

# A regular file's bytes when it is smaller than the output cap (not a link, a pipe, a device), else undef.
sub contents {
    my ($path) = @_;
    my @stat = lstat $path;
    return @stat && POSIX::S_ISREG($stat[2]) && $stat[7] < $OUTPUT_CAP ? slurp($path) : undef;
}

# R7: [exit code, stdout, stderr] of a run this runner decides, else undef.
sub record {
    my ($folder, $code) = @_;
    return undef if !defined $code || $code == 125;
    my ($stdout, $stderr) = map { contents("$folder/$_") } '.run.stdout', '.run.stderr';
    return defined $stdout && defined $stderr && $stderr eq '' ? [$code, $stdout, $stderr] : undef;
}

POSIX::_exit(1) unless undumpable(); # R1: decide nothing
my $timeout = ($ENV{HARNESS_RUN_TIMEOUT_S} // 15) / 3;
delete $ENV{HARNESS_RUN_TIMEOUT_S};
my @folders = grep { length } map { s/\s+\z//r } <STDIN>;
open(STDIN, '<', '/dev/null') or die "cannot read /dev/null: $!";
my %jobs = map { $_ => read_job($_) } @folders; # R3
my %decided;
for my $folder (@folders) {
    next if $jobs{$folder}{source} =~ $FORBIDDEN;
    reset_folder($folder, $jobs{$folder}); # R4
    for my $dir (@SCRATCH) { remove("$dir/$_") for entries($dir) }
    $HarnessWarmRun::source = "package main;\n#line 1 \"main.pl\"\n$jobs{$folder}{source}";
    my $pid = fork();
    next if !defined $pid;
    enter($folder) if $pid == 0;
    my $code = outcome($pid, $timeout);
    last unless settle(); # R6
    $decided{$folder} = record($folder, $code); # R7
}
my $settled = settle();
for my $folder (@folders) { # R8
    reset_folder($folder, $jobs{$folder});
    next unless $settled && $decided{$folder};
    my ($code, $stdout, $stderr) = @{$decided{$folder}};
    spew("$folder/.run.stdout", $stdout);
    spew("$folder/.run.stderr", $stderr);
    spew("$folder/.run.rc", "$code\n");
}
POSIX::_exit(0);
