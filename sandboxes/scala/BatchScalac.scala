import java.io.{BufferedReader, ByteArrayOutputStream, InputStreamReader, PrintStream}
import java.nio.charset.StandardCharsets.UTF_8
import java.nio.file.{Files, Path, Paths, StandardCopyOption}
import java.util.concurrent.{Callable, ExecutionException, Executors, TimeUnit, TimeoutException}

/** A warm `scalac -d tmp SOURCE` (run in the job folder) for many job folders.
  *
  * Why: scalac spends most of a small program's compile starting the JVM and loading itself;
  * fsc would keep it warm but fails on JDK 17. This process, started by `scala-jvm batch` with the
  * JVM options, class path and properties of Debian's scalac script, reads job folders on stdin
  * and calls scalac's own entry point (`MainClass.process`, which builds a fresh compiler per
  * call; exit code 1 if its reporter has errors, as in `main`) with the plain arguments plus
  * `-classpath FOLDER`: the plain command's user class path is its working folder (the default
  * "."). `java.class.path` is reset to the scalac script's, so `-usejavacp` does not see this
  * driver. Results go to FOLDER/.compile.stdout, .compile.stderr and, last, FOLDER/.compile.rc;
  * the folder prefix is stripped from messages.
  *
  * Near the plain timeout a warm compile could succeed where the plain one times out, so a
  * compile that takes over a third of TIMEOUT_SECONDS, or throws, gets no .compile.rc and the
  * harness compiles it the plain way; one still running at TIMEOUT_SECONDS ends this process
  * and the rest of the chunk is compiled the plain way too.
  *
  * Resident compiler: building a compiler and loading the class path's symbols costs most of a
  * warm compile (about 1 s of 1.2). So each program is first compiled by one compiler kept across
  * programs, as fsc does: a new Run per program (the namer may redefine what an earlier run
  * defined), its own output folder and reporter, and afterwards every symbol the program entered
  * in the empty package is unlinked, so the next program cannot see it. The resident compiler
  * decides only successes; a program it rejects (or that makes it throw) is compiled again by a
  * fresh compiler as above, whose messages and exit code are the ones reported. The parity tests
  * (tests/test_sandbox_warm.py, benchmarks/warm_parity.py) compare both ways on every gold program and a mutated set.
  *
  * Warm runs: given RUN_TIMEOUT_SECONDS, each program that compiled is also run in this JVM
  * (WarmRun.scala says what that decides and what it leaves to a fresh JVM).
  *
  * Arguments: SCALAC_CLASS_PATH SOURCE_FILE TIMEOUT_SECONDS [RUN_TIMEOUT_SECONDS].
  */
object BatchScalac {
  def main(args: Array[String]): Unit = {
    val Array(scalacClassPath, source, timeout) = args.take(3)
    val runTimeoutMs = args.drop(3).headOption.map(seconds => (seconds.toDouble * 1000).toLong)
    System.setProperty("java.class.path", scalacClassPath)
    val timeoutMs = (timeout.toDouble * 1000).toLong
    val worker = Executors.newSingleThreadExecutor()
    warmUp()
    val log = System.err // WarmRun.run points System.err at each program's own buffer
    val jobs = new BufferedReader(new InputStreamReader(System.in, UTF_8))
    if (runTimeoutMs.isDefined) WarmRun.install()
    Iterator.continually(jobs.readLine()).takeWhile(_ != null).filter(_.nonEmpty).foreach { line =>
      val folder = Paths.get(line)
      val started = System.nanoTime()
      val compile = worker.submit(new Callable[Compiled] {
        def call(): Compiled = Resident.compile(folder, source).getOrElse(compileOne(folder, source))
      })
      try {
        val compiled = compile.get(timeoutMs, TimeUnit.MILLISECONDS)
        if (System.nanoTime() - started <= TimeUnit.MILLISECONDS.toNanos(timeoutMs / 3)) {
          compiled.report(folder)
          if (compiled.exitCode == 0) runTimeoutMs.foreach(WarmRun.run(folder, _, log))
        }
      } catch {
        case _: TimeoutException => Runtime.getRuntime.halt(124) // scalac cannot be interrupted
        case failed: ExecutionException => log.println(s"$folder: ${failed.getCause}")
      }
    }
    worker.shutdown()
  }

  /** Loads scalac and the classes a typical program needs before the first job's compile is timed. */
  private def warmUp(): Unit = {
    val folder = Files.createTempDirectory("warm")
    Files.write(folder.resolve("Warm.scala"), WarmUpProgram.getBytes(UTF_8))
    compileOne(folder, "Warm.scala")
    Resident.compile(folder, "Warm.scala")
  }

  private val WarmUpProgram = """import scala.math._
    |import scala.collection.mutable._
    |object Problem {
    |    def f(text : String, counts : Map[String, Long]) : List[Tuple2[String, Long]] = {
    |        val seen = ListBuffer[String]()
    |        for (word <- text.split(" ") if !seen.contains(word)) seen += word.reverse.toUpperCase
    |        seen.toList.map(w => (w.substring(0, min(2, w.length)), counts.getOrElse(w, 0l))).sortWith(_._2 > _._2)
    |    }
    |    def main(args: Array[String]) = {
    |    assert(f(("a bc"), (Map[String, Long]("A" -> 1l))).equals((List[Tuple2[String, Long]](("A", 1l), ("CB", 0l)))));
    |    }
    |}
    |""".stripMargin

  private def compileOne(folder: Path, source: String): Compiled = {
    val output = folder.resolve("tmp")
    Files.createDirectories(output) // the plain command's `mkdir -p tmp`
    val out = new ByteArrayOutputStream
    val err = new ByteArrayOutputStream
    val failed = Console.withOut(new PrintStream(out, true, "UTF-8")) {
      Console.withErr(new PrintStream(err, true, "UTF-8")) {
        Scalac.compile(Array("-d", output.toString, "-classpath", folder.toString, folder.resolve(source).toString))
      }
    }
    val prefix = folder.toString + "/"
    Compiled(if (failed) 1 else 0, new String(out.toByteArray, UTF_8).replace(prefix, ""),
      new String(err.toByteArray, UTF_8).replace(prefix, ""))
  }

  /** One compiler for many programs; Some only for a clean success (see the class comment). */
  private object Resident {
    import scala.tools.nsc.{Global, Settings}
    import scala.tools.nsc.reporters.ConsoleReporter

    private var global: Global = null
    private val emptyClassPath = Files.createTempDirectory("classpath").toString

    def compile(folder: Path, source: String): Option[Compiled] = {
      val output = folder.resolve("tmp")
      Files.createDirectories(output)
      val err = new java.io.StringWriter
      try {
        if (global == null) {
          val settings = new Settings(message => throw new IllegalArgumentException(message))
          settings.processArguments(List("-classpath", emptyClassPath), processAll = true)
          global = new Global(settings, new ConsoleReporter(settings))
        }
        val compiler = global
        val file = folder.resolve(source).toString
        compiler.settings.outputDirs.setSingleOutput(output.toString)
        val reporter = new ConsoleReporter(compiler.settings, Console.in, new java.io.PrintWriter(err, true))
        compiler.reporter = reporter
        try {
          val run = new compiler.Run
          run.compile(List(file))
          reporter.printSummary()
        } finally forget(compiler, file)
        if (reporter.hasErrors) None else Some(Compiled(0, "", err.toString.replace(folder.toString + "/", "")))
      } catch {
        case _: Throwable => global = null; None // a broken compiler is rebuilt for the next program
      }
    }

    /** Unlinks what the program defined in the empty package, so the next program starts clean. */
    private def forget(compiler: Global, file: String): Unit = {
      val decls = compiler.rootMirror.EmptyPackageClass.info.decls
      decls.toList.filter(symbol => symbol.sourceFile == null || symbol.sourceFile.path == file)
        .foreach(decls.unlink)
    }
  }

  /** scalac's `main` without the exit: true if the compile reported errors. */
  private object Scalac extends scala.tools.nsc.MainClass {
    def compile(args: Array[String]): Boolean = {
      process(args)
      reporter.hasErrors
    }
  }

  private case class Compiled(exitCode: Int, stdout: String, stderr: String) {
    def report(folder: Path): Unit = {
      write(folder.resolve(".compile.stdout"), stdout)
      write(folder.resolve(".compile.stderr"), stderr)
      val partial = folder.resolve(".compile.rc.partial")
      write(partial, exitCode.toString)
      Files.move(partial, folder.resolve(".compile.rc"), StandardCopyOption.ATOMIC_MOVE)
    }
  }

  private def write(path: Path, text: String): Unit = Files.write(path, text.getBytes(UTF_8))
}
