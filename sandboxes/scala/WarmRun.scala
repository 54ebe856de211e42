import java.io.{ByteArrayInputStream, ByteArrayOutputStream, FilePermission, OutputStream, PrintStream}
import java.lang.reflect.InvocationTargetException
import java.net.URLClassLoader
import java.nio.charset.StandardCharsets.UTF_8
import java.nio.file.{Files, Path, StandardCopyOption}
import java.security.Permission

/** Runs a compiled program (`Problem` in FOLDER/tmp) inside the warm batch JVM, in a class loader
  * of its own, as `scala-jvm run Problem` would run it in a fresh JVM.
  *
  * Why: starting a JVM and loading the Scala library costs about 0.15 s of a 0.16 s run.
  *
  * What it decides, and what it leaves to a fresh JVM: it reports (FOLDER/.run.stdout,
  * .run.stderr and, last, .run.rc) only a program that returned from `main` (exit code 0) or
  * threw an ordinary exception out of it (exit code 1, the JVM's "Exception in thread "main""
  * report on stderr), within a third of the run timeout, without tripping the guard below. Every
  * other program gets no .run.rc and the harness runs it in its own sandbox: one that calls
  * System.exit, starts a thread, writes or deletes a file, reads another program's folder (or a
  * relative path, which would resolve in the batch's folder),
  * replaces System.out or the security manager, uses reflection to bypass access checks, opens a
  * socket, runs out of memory or stack, or prints more than OUTPUT_CAP bytes. A program still
  * running at a third of the timeout ends this JVM (exit 124): the harness then runs it, and
  * every program of the chunk not yet reported, the plain way.
  *
  * What a program shares with the others of its chunk: the JVM's heap and JIT state, the Scala
  * library's classes and objects (loaded once per chunk by a loader of the run's class path, so
  * the compiler and this runner are not visible to programs; the program's own classes are
  * fresh), and read access to the toolchain's files.
  */
object WarmRun {
  private val OutputCap = 1 << 20

  /** Where System.out / System.err (and Scala's Console, which keeps the first System.out it sees)
    * write: the current program's buffer. */
  private final class Switch extends OutputStream {
    @volatile var target: ByteArrayOutputStream = new ByteArrayOutputStream
    override def write(b: Int): Unit = { guardSize(1); target.write(b) }
    override def write(b: Array[Byte], off: Int, len: Int): Unit = { guardSize(len); target.write(b, off, len) }
    private def guardSize(more: Int): Unit =
      if (target.size + more > OutputCap) Guard.trip("output over the cap")
  }

  private val out = new Switch
  private val err = new Switch
  private val outStream = new PrintStream(out, true, "UTF-8")
  private val errStream = new PrintStream(err, true, "UTF-8")

  /** Denies what a program may not do in a shared JVM; a denial sends the program to a fresh JVM. */
  private object Guard extends SecurityManager {
    @volatile var program: Thread = null
    @volatile var tripped: String = null
    @volatile var ownFolder: String = ""
    private val deniedRuntime = Seq("exitVM", "setIO", "setSecurityManager", "createSecurityManager",
      "modifyThread", "modifyThreadGroup", "stopThread", "setDefaultUncaughtExceptionHandler", "loadLibrary",
      "shutdownHooks", "setFactory", "writeFileDescriptor", "readFileDescriptor")

    def trip(why: String): Nothing = {
      if (tripped == null) tripped = why
      throw new SecurityException(s"not in a shared JVM: $why")
    }

    private def onProgramThread = Thread.currentThread eq program

    private var checking = false // the guard's own class loading comes back here: let it through

    override def checkPermission(permission: Permission): Unit = if (onProgramThread && !checking) {
      checking = true
      try check(permission) finally checking = false
    }
    override def checkPermission(permission: Permission, context: Object): Unit = checkPermission(permission)
    override def checkAccess(group: ThreadGroup): Unit = if (onProgramThread) trip("thread")

    /** JDK code acting on its own authority (a doPrivileged block called from java.*, jdk.* or sun.*),
      * such as a first use of lambdas or locale data: allowed, as a policy-based manager would. */
    private def privilegedByJdk: Boolean = {
      val frames = new Throwable().getStackTrace
      val at = frames.indexWhere(f => f.getClassName == "java.security.AccessController" && f.getMethodName.startsWith("doPrivileged"))
      at >= 0 && at + 1 < frames.length && Seq("java.", "jdk.", "sun.").exists(frames(at + 1).getClassName.startsWith)
    }

    private def check(permission: Permission): Unit = if (!privilegedByJdk) permission match {
      case file: FilePermission =>
        val name = file.getName
        if (file.getActions != "read") trip(s"file ${file.getActions} $name")
        if (!name.startsWith("/") || name.contains("..") || name == "/box" || name.startsWith("/box/") && !name.startsWith(ownFolder))
          trip(s"a path outside the program's own folder: $name") // relative ones resolve in the batch's folder
      case runtime: RuntimePermission if deniedRuntime.exists(runtime.getName.startsWith) => trip(runtime.getName)
      case _: java.net.SocketPermission => trip("network")
      case _: java.lang.reflect.ReflectPermission => trip("reflection")
      case property: java.util.PropertyPermission if property.getActions.contains("write") => trip("property write")
      case _ =>
    }
  }

  /** The run's class path without the program (`scala-jvm run`: every jar of the Scala home). */
  private lazy val scalaLibrary = new URLClassLoader(
    System.getProperty("java.class.path").split(":").map(jar => java.nio.file.Paths.get(jar).toUri.toURL),
    ClassLoader.getPlatformClassLoader)

  /** Called once, before any program: the output switches, an empty stdin, the guard. */
  def install(): Unit = {
    scalaLibrary
    System.setIn(new ByteArrayInputStream(Array.emptyByteArray))
    System.setOut(outStream)
    System.setErr(errStream)
    System.setSecurityManager(Guard)
  }

  /** Runs FOLDER/tmp's Problem and writes its verdict, or leaves it to a fresh JVM. */
  def run(folder: Path, timeoutMs: Long, log: PrintStream): Unit = {
    out.target = new ByteArrayOutputStream
    err.target = new ByteArrayOutputStream
    Guard.tripped = null
    Guard.ownFolder = folder.toString + "/"
    val loader = new URLClassLoader(Array(folder.resolve("tmp").toUri.toURL), scalaLibrary)
    @volatile var exitCode = -1
    val body = new Runnable {
      def run(): Unit = {
        try {
          val main = Class.forName("Problem", true, loader).getMethod("main", classOf[Array[String]])
          main.invoke(null, Array.empty[String])
          exitCode = 0
        } catch {
          case invocation: InvocationTargetException => invocation.getCause match {
            case _: VirtualMachineError | _: ThreadDeath | _: LinkageError =>
            case thrown =>
              // The fresh JVM's report ends at Problem.main; the frames below it are this runner's.
              thrown.setStackTrace(thrown.getStackTrace.takeWhile(frame =>
                !frame.getClassName.startsWith("jdk.internal.reflect.") && frame.getClassName != "java.lang.reflect.Method"))
              errStream.print("Exception in thread \"main\" ")
              thrown.printStackTrace(errStream)
              exitCode = 1
          }
          case notRunnable: Throwable => log.println(s"$folder: $notRunnable") // no Problem or no main: a fresh JVM says what happens
        }
      }
    }
    val thread = new Thread(null, body, "main", 1L << 20)
    Guard.program = thread
    thread.start()
    thread.join(timeoutMs / 3)
    if (thread.isAlive) {
      log.println(s"$folder: still running at a third of the timeout; leaving the chunk to the plain path")
      log.flush()
      Runtime.getRuntime.halt(124)
    }
    Guard.program = null
    loader.close()
    outStream.flush()
    errStream.flush()
    if (exitCode < 0 || Guard.tripped != null)
      log.println(s"$folder: left to a fresh JVM (${Option(Guard.tripped).getOrElse("no ordinary end")})")
    else writeVerdict(folder, exitCode)
  }

  /** .run.stdout, .run.stderr and, last and atomically, .run.rc: the harness reads a run only once its rc is there. */
  private def writeVerdict(folder: Path, exitCode: Int): Unit = {
    Files.write(folder.resolve(".run.stdout"), out.target.toByteArray)
    Files.write(folder.resolve(".run.stderr"), err.target.toByteArray)
    val partial = folder.resolve(".run.rc.partial")
    Files.write(partial, exitCode.toString.getBytes(UTF_8))
    Files.move(partial, folder.resolve(".run.rc"), StandardCopyOption.ATOMIC_MOVE)
  }
}
