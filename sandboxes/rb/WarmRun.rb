# Runs many CRUXEval-X Ruby programs from one started Ruby: a fork server.
#
# Why: starting ruby and loading test/unit (which every program requires) is most of a small
# program's run. Here Ruby starts once per chunk with test/unit loaded, and each program runs in a
# child forked from it, so it gets a fresh copy of a pristine interpreter: its own objects,
# classes, globals, threads and exit, as in a plain `ruby main.rb`.
#
# Protocol (harness/sandbox/batch_compile.py): job folders on stdin, one per line; for each, the
# program FOLDER/main.rb runs and FOLDER/.run.stdout, .run.stderr and, last, .run.rc are written.
# $HARNESS_RUN_TIMEOUT_S is the run timeout a plain run would get.
#
# How the child runs the program: in its own session, in its folder, with stdout and stderr
# reopened on its own files, stdin on /dev/null, $0 "main.rb", the source evaluated at the top
# level as file "main.rb" (so backtraces and test/unit's source excerpts read as in a plain run),
# then the exit a plain run makes: at_exit handlers, test/unit's autorunner among them, which runs
# the program's tests and sets the exit code.
#
# What it decides, and what it leaves to a fresh sandbox: a run is decided only for a child that
# exited by itself within a third of the run timeout, with nothing on stderr (an uncaught
# exception or a warning: Ruby would name this file's frames in the backtrace) and less than 1 MB
# on stdout. Ruby has no guard to trip, so sources that mention what could reach beyond the
# program (files, processes, signals, the network, the environment, reflection that could reach
# those, the interpreter's internals) are not run here at all (FORBIDDEN below). Every program
# without .run.rc runs in a sandbox of its own, so this runner can only save time.
#
# Integrity (rules R1-R8, each marked in the code): a program that gets past the
# filter (a shell, Fiddle) still cannot change another program's verdict in this batch through
# files, processes or the runner's memory, as long as the runner lives. The runner is pid 2 of the
# sandbox (`exec` in language.toml) and non-dumpable, so no child can read or write its memory or
# descriptors through /proc (R1). It reads every source into memory first and runs each from there
# (R3); before each program it rebuilds the program's folder (each folder on its path a directory
# with its first mode, holding only the source) and empties /tmp and /dev/shm (R4); after each it
# kills every other process of the sandbox (R6), and only then keeps the outcome in memory (R7).
# Nothing is written until the last program is done and no other process is left: then every job
# folder is rebuilt and each decided run's .run.stdout, .run.stderr and .run.rc are written from
# memory (R8). If the sandbox does not empty within 2 s, no later run is decided (nor any, if it
# does not empty at the end). A child keeps the VM's own eventfds (Ruby needs them); the runner
# holds no other descriptor when it forks (R5).
# A program can still kill the runner (a signal needs only the same uid); the batch then ends
# without R8, but the runner exits 0 only after R8 and the harness reads no report of a batch whose
# runner did not, so what the program forged is never read. Kernel objects that outlive a process (System V
# IPC, keyrings) are not cleared: two programs that both get past the filter can still pass data
# through them. The batch's /box holds only its own chunk's folders (the harness binds no others).
#
# What a program shares with the others of its chunk: the started interpreter's state as its own
# copy (test/unit and Fiddle loaded, this module defined), read access to the toolchain, and the
# batch sandbox's cgroup limits (one program runs at a time).
require 'fiddle'
require 'test/unit'

module HarnessWarmRun
  OUTPUT_CAP = 1 << 20
  SETTLE_S = 2
  SCRATCH = %w[/tmp /dev/shm].freeze
  FORBIDDEN = Regexp.union(
    /\bFile\b|\bIO\b|\bDir\b|\bopen\b|Open3|PTY|Pathname|Tempfile|FileUtils|\bsystem\b|\bexec\b|spawn|fork/,
    /`|%x|Process|Signal|\btrap\b|Socket|TCP|UDP|Net::|URI|Resolv|\bload\b|autoload|eval|\bsend\b|__send__/,
    /public_send|method\((?!:f\))|instance_method|instance_variable|ObjectSpace|at_exit|exit!|abort|ENV/,
    /\$0|PROGRAM_NAME|__FILE__|__dir__|syscall|Kernel|Fiddle|binding|const_get|const_set|\$std|STDOUT|STDERR/,
    /STDIN|\bgets\b|readline|ARGF|ARGV|DATA|__END__|define_method|class_variable|AutoRunner/,
    /\bGC\b|RubyVM|TracePoint|caller|set_trace_func|Etc\b|HARNESS/
  )
  # What the runner knows of a job folder before any program runs: the program's source and the
  # mode of each folder on its path.
  Job = Struct.new(:source, :modes)

  # R1: prctl(PR_SET_DUMPABLE, 0): children, and what they start, cannot open /proc/<runner>/mem, fd or environ.
  def self.undumpable?
    prctl = Fiddle::Function.new(Fiddle::Handle::DEFAULT['prctl'], [Fiddle::TYPE_INT] + [Fiddle::TYPE_LONG] * 4,
                                 Fiddle::TYPE_INT)
    prctl.call(4, 0, 0, 0, 0).zero?
  rescue StandardError
    false
  end

  def self.serve(timeout)
    folders = $stdin.read.split("\n")
    jobs = folders.to_h { |folder| [folder, read_job(folder)] } # R3
    decided = {}
    jobs.each do |folder, job|
      next if !job.source.valid_encoding? || FORBIDDEN.match?(job.source)

      reset(folder, job) # R4
      SCRATCH.each { |dir| Dir.children(dir).each { |name| remove(File.join(dir, name)) } }
      pid = fork { enter(folder, job.source) }
      status = Process.detach(pid).join(timeout)&.value # nil: still running, R6 kills it
      break unless settle # R6

      decided[folder] = record(folder, status) # R7
    end
    settled = settle
    jobs.each do |folder, job| # R8
      reset(folder, job)
      report(folder, *decided[folder]) if settled && decided[folder]
    end
  end

  def self.read_job(folder)
    path = [folder]
    path.unshift(File.dirname(path.first)) until File.dirname(path.first) == '/'
    Job.new(File.read(File.join(folder, 'main.rb'), encoding: 'UTF-8'),
            path.to_h { |dir| [dir, File.stat(dir).mode & 0o7777] })
  end

  # The folder as the harness left it: each folder on its path a directory (not a link) with its
  # first mode, and in it only the program's source.
  def self.reset(folder, job)
    job.modes.each do |dir, mode|
      stat = File.lstat(dir) rescue nil
      unless stat&.directory?
        remove(dir) if stat
        Dir.mkdir(dir)
      end
      File.chmod(mode, dir)
    end
    Dir.children(folder).each { |name| remove(File.join(folder, name)) }
    File.binwrite(File.join(folder, 'main.rb'), job.source)
  end

  # A file, a link or a whole tree, whatever its modes.
  def self.remove(path)
    return File.unlink(path) unless File.lstat(path).directory?

    File.chmod(0o700, path)
    Dir.children(path).each { |name| remove(File.join(path, name)) }
    Dir.rmdir(path)
  end

  # R6: SIGKILL to every process of the sandbox but bwrap's init and this one, until none is left;
  # false if that takes longer than SETTLE_S.
  def self.settle
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + SETTLE_S
    loop do
      Process.kill(:KILL, -1)
      reap
      return false if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
    end
  rescue Errno::ESRCH
    reap
    true
  end

  def self.reap
    nil while Process.wait(-1, Process::WNOHANG)
  rescue Errno::ECHILD
    nil
  end

  # R7: [exit code, stdout, stderr] of a run this runner decides, else nil.
  def self.record(folder, status)
    return unless status&.exited?

    stdout, stderr = %w[.run.stdout .run.stderr].map { |name| contents(File.join(folder, name)) }
    [status.exitstatus, stdout, stderr] if stdout && stderr&.empty?
  end

  # A regular file's bytes when it is smaller than the output cap (not a link, a pipe, a device), else nil.
  def self.contents(path)
    stat = File.lstat(path)
    File.binread(path) if stat.file? && stat.size < OUTPUT_CAP
  rescue SystemCallError
    nil
  end

  def self.report(folder, code, stdout, stderr)
    File.binwrite(File.join(folder, '.run.stdout'), stdout)
    File.binwrite(File.join(folder, '.run.stderr'), stderr)
    File.write(File.join(folder, '.run.rc'), "#{code}\n")
  end

  def self.enter(folder, source)
    Process.setsid
    File.write('/proc/self/oom_score_adj', '1000')
    Dir.chdir(folder)
    $stdout.reopen('.run.stdout', 'w')
    $stderr.reopen('.run.stderr', 'w')
    $stdin.reopen(File::NULL)
    Process.setrlimit(:FSIZE, OUTPUT_CAP)
    ENV.delete('HARNESS_RUN_TIMEOUT_S')
    $0 = 'main.rb'
    TOPLEVEL_BINDING.eval(source, 'main.rb', 1)
  end
end

# Not `exit`: test/unit's autorunner must not run here.
exit!(1) unless HarnessWarmRun.undumpable? # R1: decide nothing
HarnessWarmRun.serve(Float(ENV.fetch('HARNESS_RUN_TIMEOUT_S', '5')) / 3)
exit!(0)
