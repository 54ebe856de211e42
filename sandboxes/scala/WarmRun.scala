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
  * report on stderr), within a third of the run timeout, while no code of any program tripped the
  * guard below. The guard checks every thread on whose stack a class of a program or of its Scala
  * library is (the program's own thread, and also the JDK's finalizer and cleaner threads running
  * a program's code later) and trips on a call of System.exit, a new thread, a file write or
  * delete, a read of another program's folder (or of a relative path, which would resolve in the
  * batch's folder), replacing System.out or the security manager, reflection that bypasses access
  * checks, a socket, a change of JVM-wide settings (system and security properties, security
  * providers and policy, the default cookie handler, authenticator, proxy selector or response
  * cache, logging), and on output from any thread but the program's own or past OutputCap bytes.
  *
  * The first program it does not decide (the guard tripped, it ran out of memory or stack or
  * failed in another unusual way, or it is still running at a third of the timeout) ends this JVM
  * (exit 124): the harness then runs it, and every program of the chunk not yet reported, the
  * plain way. A refused or broken-off operation can leave state behind (a half-done update, a
  * fallback a JDK class keeps after a SecurityException) that this JVM cannot undo, so it decides
  * no more.
  *
  * What a program gets afresh: its own classes, System.out and System.err (new PrintStreams over
  * its own buffers, which are also its thread's Console.out and Console.err, so closing them
  * touches no other program), an empty System.in, and scala.util.Random reseeded as a fresh JVM
  * seeds it. What it shares with the others of its chunk: the JVM's heap and JIT state, the JDK's
  * classes and their static state, the Scala library's classes and objects (loaded once per chunk
  * by a loader of the run's class path, so the compiler and this runner are not visible to
  * programs), and read access to the toolchain's files. Not guaranteed: state of the JDK or the
  * Scala library that no permission guards and that is not reset above (a cache, a mutable field
  * of a library object) is kept from one program to the next, as it is for the compiles of the
  * chunk.
  */
object WarmRun {
  private val OutputCap = 1 << 20

  /** Where System.out and System.err write: the current program's buffer, from its own thread only. */
  private final class Switch extends OutputStream {
    @volatile var target: ByteArrayOutputStream = new ByteArrayOutputStream
    override def write(b: Int): Unit = { guard(1); target.write(b) }
    override def write(b: Array[Byte], off: Int, len: Int): Unit = { guard(len); target.write(b, off, len) }
    private def guard(more: Int): Unit = {
      if (Thread.currentThread ne Guard.program) Guard.trip("output from another thread")
      if (target.size + more > OutputCap) Guard.trip("output over the cap")
    }
  }

  private val out = new Switch
  private val err = new Switch

  /** Denies what a program may not do in a shared JVM; a denial ends this JVM's decisions (see above). */
  private object Guard extends SecurityManager {
    @volatile var program: Thread = null
    @volatile var tripped: String = null // never reset: the first trip is the last program this JVM runs
    @volatile var ownFolder: String = ""
    private val deniedRuntime = Seq("exitVM", "setIO", "setSecurityManager", "createSecurityManager",
      "modifyThread", "modifyThreadGroup", "stopThread", "setDefaultUncaughtExceptionHandler", "loadLibrary",
      "shutdownHooks", "setFactory", "writeFileDescriptor", "readFileDescriptor")

    def trip(why: String): Nothing = {
      if (tripped == null) tripped = why
      throw new SecurityException(s"not in a shared JVM: $why")
    }

    /** Whether program code asks: a class of neither the JDK (named modules) nor this runner is on the stack. */
    private def programAsks = getClassContext.exists(caller =>
      !caller.getModule.isNamed && (caller.getModule ne WarmRun.getClass.getModule))

    private val checking = new ThreadLocal[Boolean] // the guard's own class loading comes back here: let it through

    override def checkPermission(permission: Permission): Unit = if (!checking.get) {
      checking.set(true)
      try if (programAsks) check(permission) finally checking.set(false)
    }
    override def checkPermission(permission: Permission, context: Object): Unit = checkPermission(permission)
    override def checkAccess(group: ThreadGroup): Unit = if (programAsks) trip("thread")

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
      case setting @ (_: java.security.SecurityPermission | _: java.net.NetPermission) if !setting.getName.startsWith("get") =>
        trip(setting.toString) // a JVM-wide setting: security properties, cookie handler, ...
      case logging: java.util.logging.LoggingPermission => trip(logging.toString)
      case _ =>
    }
  }

  /** The run's class path without the program (`scala-jvm run`: every jar of the Scala home). */
  private lazy val scalaLibrary = new URLClassLoader(
    System.getProperty("java.class.path").split(":").map(jar => java.nio.file.Paths.get(jar).toUri.toURL),
    ClassLoader.getPlatformClassLoader)

  /** Calls METHOD of the programs' Scala library object NAME on this thread (a program's thread inherits its Console). */
  private def library(name: String, method: String, parameter: Class[_], argument: AnyRef): Unit = {
    val module = scalaLibrary.loadClass(name + "$").getField("MODULE$").get(null)
    module.getClass.getMethod(method, parameter).invoke(module, argument)
  }

  /** Called once, before any program: the guard. */
  def install(): Unit = {
    scalaLibrary
    System.setSecurityManager(Guard)
  }

  /** Runs FOLDER/tmp's Problem and writes its verdict, or ends this JVM (see above). */
  def run(folder: Path, timeoutMs: Long, log: PrintStream): Unit = {
    out.target = new ByteArrayOutputStream
    err.target = new ByteArrayOutputStream
    val outStream = new PrintStream(out, true, "UTF-8")
    val errStream = new PrintStream(err, true, "UTF-8")
    System.setIn(new ByteArrayInputStream(Array.emptyByteArray))
    System.setOut(outStream)
    System.setErr(errStream)
    library("scala.Console", "setOut", classOf[PrintStream], outStream)
    library("scala.Console", "setErr", classOf[PrintStream], errStream)
    library("scala.util.Random", "setSeed", classOf[Long], Long.box(new java.util.Random().nextLong()))
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
    val undecided = if (thread.isAlive) Some("still running at a third of the timeout")
      else Option(Guard.tripped).orElse(if (exitCode < 0) Some("no ordinary end") else None)
    undecided.foreach { why =>
      log.println(s"$folder: $why; leaving it and the rest of the chunk to the plain path")
      log.flush()
      Runtime.getRuntime.halt(124)
    }
    Guard.program = null
    loader.close()
    writeVerdict(folder, exitCode)
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
