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
# What it decides, and what it leaves to a fresh sandbox: .run.rc is written only for a child that
# exited by itself within a third of the run timeout, with nothing on stderr (an uncaught
# exception or a warning: Ruby would name this file's frames in the backtrace) and less than 1 MB
# on stdout. Ruby has no guard to trip, so sources that mention what could reach beyond the
# program (files, processes, signals, the network, the environment, reflection that could reach
# those, the interpreter's internals) are not run here at all (FORBIDDEN below). Every program
# without .run.rc runs in a sandbox of its own, so this runner can only save time.
#
# What a program shares with the others of its chunk: the started interpreter's state as its own
# copy (test/unit loaded, this module defined), read access to the toolchain, and the batch
# sandbox's cgroup limits (one program runs at a time).
require 'test/unit'

module HarnessWarmRun
  OUTPUT_CAP = 1 << 20
  FORBIDDEN = Regexp.union(
    /\bFile\b|\bIO\b|\bDir\b|\bopen\b|Open3|PTY|Pathname|Tempfile|FileUtils|\bsystem\b|\bexec\b|spawn|fork/,
    /`|%x|Process|Signal|\btrap\b|Socket|TCP|UDP|Net::|URI|Resolv|\bload\b|autoload|eval|\bsend\b|__send__/,
    /public_send|method\((?!:f\))|instance_method|instance_variable|ObjectSpace|at_exit|exit!|abort|ENV/,
    /\$0|PROGRAM_NAME|__FILE__|__dir__|syscall|Kernel|Fiddle|binding|const_get|const_set|\$std|STDOUT|STDERR/,
    /STDIN|\bgets\b|readline|ARGF|ARGV|DATA|__END__|define_method|class_variable|AutoRunner/,
    /\bGC\b|RubyVM|TracePoint|caller|set_trace_func|Etc\b|HARNESS/
  )

  def self.serve(folders, timeout)
    folders.each do |folder|
      source = File.read(File.join(folder, 'main.rb'), encoding: 'UTF-8')
      next if !source.valid_encoding? || FORBIDDEN.match?(source)

      pid = fork { enter(folder, source) }
      status = Process.detach(pid).join(timeout)&.value
      unless status
        Process.kill(:KILL, -pid)
        Process.wait(pid) rescue nil
        next
      end
      next unless status.exited? && reportable?(folder)

      File.write(File.join(folder, '.run.rc'), "#{status.exitstatus}\n")
    end
  end

  def self.reportable?(folder)
    stdout, stderr = %w[.run.stdout .run.stderr].map { |name| File.join(folder, name) }
    File.size(stderr).zero? && File.size(stdout) < OUTPUT_CAP
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

HarnessWarmRun.serve($stdin.read.split("\n"), Float(ENV.fetch('HARNESS_RUN_TIMEOUT_S', '5')) / 3)
exit!(0) # not `exit`: test/unit's autorunner must not run here
