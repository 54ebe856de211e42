import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilePermission;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.ReflectPermission;
import java.net.SocketPermission;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.security.Permission;
import java.util.Arrays;
import java.util.List;
import java.util.PropertyPermission;

/**
 * Runs a compiled program (class Problem in FOLDER/tmp) inside the warm batch JVM, in a class
 * loader of its own with assertions enabled, as `java -ea -cp tmp:JAR Problem` runs it in a fresh JVM.
 *
 * <p>Why: starting a JVM costs most of a small program's run.
 *
 * <p>What it decides, and what it leaves to a fresh JVM: it reports (FOLDER/.run.stdout,
 * .run.stderr and, last, .run.rc) only a program that returned from main (exit code 0) or threw an
 * ordinary exception out of it (exit code 1, with the JVM's "Exception in thread "main"" report),
 * within a third of the run timeout, without tripping the guard. Every other program gets no
 * .run.rc and the harness runs it in its own sandbox: one that calls System.exit, starts a thread,
 * writes or deletes a file, reads another program's folder (or any relative path, which would
 * resolve in the batch's folder, not its own), replaces System.out or the security
 * manager, uses reflection to bypass access checks, opens a socket, runs out of memory or stack,
 * or prints more than a megabyte. A program still running at a third of the timeout ends this JVM
 * (exit 124): the harness then runs it, and every program of the chunk not yet reported, the
 * plain way.
 *
 * <p>What a program shares with the others of its chunk: the JVM's heap and JIT state and the JDK's
 * classes (its own classes and the javatuples jar's are loaded afresh), and read access to the
 * toolchain's files.
 */
final class WarmRun {
    private static final int OUTPUT_CAP = 1 << 20;
    private static final List<String> DENIED_RUNTIME = Arrays.asList("exitVM", "setIO", "setSecurityManager",
            "createSecurityManager", "modifyThread", "modifyThreadGroup", "stopThread",
            "setDefaultUncaughtExceptionHandler", "loadLibrary", "shutdownHooks", "setFactory",
            "writeFileDescriptor", "readFileDescriptor");

    private WarmRun() {
    }

    /** Where System.out and System.err write: the current program's buffer. */
    private static final class Switch extends OutputStream {
        volatile ByteArrayOutputStream target = new ByteArrayOutputStream();

        @Override
        public void write(int b) {
            guardSize(1);
            target.write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) {
            guardSize(len);
            target.write(b, off, len);
        }

        private void guardSize(int more) {
            if (target.size() + more > OUTPUT_CAP) {
                GUARD.trip("output over the cap");
            }
        }
    }

    /** Denies what a program may not do in a shared JVM; a denial sends the program to a fresh JVM. */
    private static final class Guard extends SecurityManager {
        volatile Thread program;
        volatile String tripped;
        volatile String ownFolder = "";

        SecurityException trip(String why) {
            if (tripped == null) {
                tripped = why;
            }
            throw new SecurityException("not in a shared JVM: " + why);
        }

        private boolean onProgramThread() {
            return Thread.currentThread() == program;
        }

        @Override
        public void checkPermission(Permission permission) {
            if (onProgramThread()) {
                check(permission);
            }
        }

        @Override
        public void checkPermission(Permission permission, Object context) {
            if (onProgramThread()) {
                check(permission);
            }
        }

        /** JDK code acting on its own authority (a doPrivileged block called from java.*, jdk.* or sun.*),
         * such as a first use of lambdas or locale data: allowed, as a policy-based manager would. */
        private static boolean privilegedByJdk() {
            StackTraceElement[] frames = new Throwable().getStackTrace();
            for (int i = 0; i + 1 < frames.length; i++) {
                if (frames[i].getClassName().equals("java.security.AccessController")
                        && frames[i].getMethodName().startsWith("doPrivileged")) {
                    String caller = frames[i + 1].getClassName();
                    return caller.startsWith("java.") || caller.startsWith("jdk.") || caller.startsWith("sun.");
                }
            }
            return false;
        }

        @Override
        public void checkAccess(ThreadGroup group) {
            if (onProgramThread()) {
                trip("thread");
            }
        }

        private void check(Permission permission) {
            if (privilegedByJdk()) {
                return;
            }
            if (permission instanceof FilePermission) {
                String name = permission.getName();
                if (!permission.getActions().equals("read")) {
                    trip("file " + permission.getActions() + " " + name);
                }
                if (!name.startsWith("/") || name.contains("..") || name.equals("/box")
                        || name.startsWith("/box/") && !name.startsWith(ownFolder)) {
                    trip("a path outside the program's own folder: " + name); // relative ones resolve in the batch's
                }
            } else if (permission instanceof RuntimePermission) {
                for (String denied : DENIED_RUNTIME) {
                    if (permission.getName().startsWith(denied)) {
                        trip(permission.getName());
                    }
                }
            } else if (permission instanceof SocketPermission) {
                trip("network");
            } else if (permission instanceof ReflectPermission) {
                trip("reflection");
            } else if (permission instanceof PropertyPermission && permission.getActions().contains("write")) {
                trip("property write");
            }
        }
    }

    private static final Switch OUT = new Switch();
    private static final Switch ERR = new Switch();
    private static final PrintStream OUT_STREAM = new PrintStream(OUT, true, StandardCharsets.UTF_8);
    private static final PrintStream ERR_STREAM = new PrintStream(ERR, true, StandardCharsets.UTF_8);
    private static final Guard GUARD = new Guard();

    /** Called once, before any program: the output switches, an empty stdin, the guard. */
    static void install() {
        System.setIn(new ByteArrayInputStream(new byte[0]));
        System.setOut(OUT_STREAM);
        System.setErr(ERR_STREAM);
        System.setSecurityManager(GUARD);
    }

    /** Runs FOLDER/tmp's Problem with CLASSPATH's jars and writes its verdict, or leaves it to a fresh JVM. */
    static void run(Path folder, String classpath, long timeoutMs, PrintStream log)
            throws IOException, InterruptedException {
        OUT.target = new ByteArrayOutputStream();
        ERR.target = new ByteArrayOutputStream();
        GUARD.tripped = null;
        GUARD.ownFolder = folder + "/";
        URL[] urls = new URL[] {folder.resolve("tmp").toUri().toURL(), Paths.get(classpath).toUri().toURL()};
        URLClassLoader loader = new URLClassLoader(urls, ClassLoader.getPlatformClassLoader());
        loader.setDefaultAssertionStatus(true); // java -ea
        int[] exitCode = {-1};
        Method main;
        try { // not initialised yet: its static initialisers are program code, and run on the program's thread
            main = Class.forName("Problem", false, loader).getMethod("main", String[].class);
            main.setAccessible(true); // the launcher calls main of a class that is not public; reflection must be let
        } catch (ReflectiveOperationException | LinkageError notRunnable) {
            log.println(folder + ": " + notRunnable); // no Problem class or no main: a fresh JVM says what happens
            loader.close();
            return;
        }
        Thread thread = new Thread(null, () -> {
            try {
                main.invoke(null, (Object) new String[0]);
                exitCode[0] = 0;
            } catch (InvocationTargetException invocation) {
                Throwable thrown = invocation.getCause();
                if (!(thrown instanceof VirtualMachineError || thrown instanceof ThreadDeath
                        || thrown instanceof LinkageError)) {
                    // The fresh JVM's report ends at Problem.main; the frames below it are this runner's.
                    thrown.setStackTrace(Arrays.stream(thrown.getStackTrace())
                            .takeWhile(frame -> !frame.getClassName().startsWith("jdk.internal.reflect.")
                                    && !frame.getClassName().equals("java.lang.reflect.Method"))
                            .toArray(StackTraceElement[]::new));
                    ERR_STREAM.print("Exception in thread \"main\" ");
                    thrown.printStackTrace(ERR_STREAM);
                    exitCode[0] = 1;
                }
            } catch (Throwable unusual) {
                log.println(folder + ": " + unusual); // e.g. an error in a static initialiser: a fresh JVM decides
            }
        }, "main", 1L << 20);
        GUARD.program = thread;
        thread.start();
        thread.join(timeoutMs / 3);
        if (thread.isAlive()) {
            log.println(folder + ": still running at a third of the timeout; leaving the chunk to the plain path");
            log.flush();
            Runtime.getRuntime().halt(124);
        }
        GUARD.program = null;
        loader.close();
        if (exitCode[0] < 0 || GUARD.tripped != null) {
            log.println(folder + ": left to a fresh JVM (" + (GUARD.tripped != null ? GUARD.tripped : "no ordinary end") + ")");
        } else {
            writeVerdict(folder, exitCode[0]);
        }
    }

    /** .run.stdout, .run.stderr and, last and atomically, .run.rc: the harness reads a run only once its rc is there. */
    private static void writeVerdict(Path folder, int exitCode) throws IOException {
        Files.write(folder.resolve(".run.stdout"), OUT.target.toByteArray());
        Files.write(folder.resolve(".run.stderr"), ERR.target.toByteArray());
        Path partial = folder.resolve(".run.rc.partial");
        Files.write(partial, Integer.toString(exitCode).getBytes(StandardCharsets.UTF_8));
        Files.move(partial, folder.resolve(".run.rc"), StandardCopyOption.ATOMIC_MOVE);
    }
}
