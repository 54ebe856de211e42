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
# What it decides, and what it leaves to a fresh sandbox: .run.rc is written only for a child that
# exited by itself within a third of the run timeout, with nothing on stderr (a die or a warning)
# and less than 1 MB on stdout. Perl has no guard to trip, so sources that mention what could
# reach beyond the program (files, handles, processes, signals, the network, the environment,
# run-time evaluation and loading, the interpreter's internals) are not run here at all
# ($FORBIDDEN below). Every program without .run.rc runs in a sandbox of its own, so this runner
# can only save time.
#
# What a program shares with the others of its chunk: the started interpreter's state as its own
# copy (Test::Deep and POSIX loaded), read access to the toolchain, and the batch sandbox's cgroup
# limits (one program runs at a time). Hash order is the plain run's: PERL_HASH_SEED and
# PERL_PERTURB_KEYS are pinned for the whole process.

# First, before `use strict` and `use warnings`, and with no lexical in scope: the program is
# compiled in this sub's scope, so it must see neither pragma nor any variable of this runner.
sub evaluate_program { eval $HarnessWarmRun::source; return $@ }

use strict;
use warnings;
use POSIX ();
use Test::Deep ();

my $OUTPUT_CAP = 1 << 20;
my $FORBIDDEN = qr/\bopen\b|opendir|sysopen|system|\bexec\b|fork|`|\bqx|readpipe|\bkill\b|unlink|rename|mkdir|rmdir|
    chdir|symlink|\blink\b|chmod|chown|utime|truncate|socket|connect|syscall|CORE::|ENV|\$0|__FILE__|__END__|
    __DATA__|\$\$|getppid|caller|\bdo\b(?!\s*\{)|\beval\b|glob|<[A-Za-z_\$]*>|STDIN|STDERR|STDOUT|\bselect\b|
    require|\bdump\b|\btie\b|\$SIG|fileno|ioctl|fcntl|flock|\bpipe\b|\bwait|alarm|\bEND\b|
    \buse\s+(?!strict\b|warnings\b|Test::Deep\b|List::Util\b|POSIX\b|Data::Dumper\b|utf8\b)|HARNESS/x;

sub slurp {
    my ($path) = @_;
    open(my $handle, '<:raw', $path) or return undef;
    local $/;
    my $text = <$handle>;
    close $handle;
    return $text;
}

sub enter {
    my ($folder) = @_;
    POSIX::setsid();
    if (open(my $oom, '>', '/proc/self/oom_score_adj')) { print $oom "1000"; close $oom; }
    chdir $folder or POSIX::_exit(125);
    open(STDOUT, '>', '.run.stdout') or POSIX::_exit(125);
    open(STDERR, '>', '.run.stderr') or POSIX::_exit(125);
    $0 = 'main.pl';
    my $error = evaluate_program();
    if ($error) {
        print STDERR $error;
        exit 255;
    }
    exit 0;
}

# The child's exit code, or undef when it was killed, hit a signal or ran out of time.
sub outcome {
    my ($pid, $timeout) = @_;
    my $deadline = Time::HiRes::time() + $timeout;
    while (waitpid($pid, POSIX::WNOHANG()) == 0) {
        if (Time::HiRes::time() > $deadline) {
            kill 'KILL', -$pid;
            waitpid($pid, 0);
            return undef;
        }
        Time::HiRes::sleep(0.001);
    }
    return POSIX::WIFEXITED($?) ? POSIX::WEXITSTATUS($?) : undef;
}

require Time::HiRes;
my $timeout = ($ENV{HARNESS_RUN_TIMEOUT_S} // 15) / 3;
delete $ENV{HARNESS_RUN_TIMEOUT_S};
my @folders = grep { length } map { s/\s+\z//r } <STDIN>;
open(STDIN, '<', '/dev/null') or die "cannot read /dev/null: $!";
for my $folder (@folders) {
    my $source = slurp("$folder/main.pl");
    next if !defined $source || $source =~ $FORBIDDEN;
    $HarnessWarmRun::source = "package main;\n#line 1 \"main.pl\"\n$source";
    my $pid = fork();
    next if !defined $pid;
    enter($folder) if $pid == 0;
    my $code = outcome($pid, $timeout);
    next if !defined $code || $code == 125 || -s "$folder/.run.stderr" || -s "$folder/.run.stdout" >= $OUTPUT_CAP;
    open(my $rc, '>', "$folder/.run.rc") or next;
    print $rc "$code\n";
    close $rc;
}
POSIX::_exit(0);
