import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilePermission;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.ReflectPermission;
import java.net.NetPermission;
import java.net.SocketPermission;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.security.Permission;
import java.security.SecurityPermission;
import java.util.Arrays;
import java.util.List;
import java.util.PropertyPermission;
import java.util.logging.LoggingPermission;

/**
 * Runs a compiled program (class Problem in FOLDER/tmp) inside the warm batch JVM, in a class
 * loader of its own with assertions enabled, as `java -ea -cp tmp:JAR Problem` runs it in a fresh JVM.
 *
 * <p>Why: starting a JVM costs most of a small program's run.
 *
 * <p>What it decides, and what it leaves to a fresh JVM: it reports (FOLDER/.run.stdout,
 * .run.stderr and, last, .run.rc) only a program that returned from main (exit code 0) or threw an
 * ordinary exception out of it (exit code 1, with the JVM's "Exception in thread "main"" report),
 * within a third of the run timeout, while no code of any program tripped the guard. The guard
 * checks every thread on whose stack a program's class is (the program's own thread, and also the
 * JDK's finalizer and cleaner threads running a program's code later) and trips on a call of
 * System.exit, a new thread, a file write or delete, a read of another program's folder (or of any
 * relative path, which would resolve in the batch's folder, not its own), replacing System.out or
 * the security manager, reflection that bypasses access checks, a socket, a change of JVM-wide
 * settings (system and security properties, security providers and policy, the default cookie
 * handler, authenticator, proxy selector or response cache, logging), and on output from any
 * thread but the program's own or past a megabyte.
 *
 * <p>The first program it runs and does not decide (the guard tripped, it ran out of memory or
 * stack or failed in another unusual way, or it is still running at a third of the timeout; a
 * folder without a runnable Problem.main runs nothing here and is just left plain) ends this JVM
 * (exit 124): the harness then runs it, and every program of the chunk not yet reported, the plain
 * way. A refused or broken-off operation can leave JDK state behind (a half-done update, a fallback
 * a JDK class keeps after a SecurityException) that this JVM cannot undo, so it decides no more.
 *
 * <p>What a program gets afresh: its own classes and the javatuples jar's (a class loader of its
 * own), System.out and System.err (new PrintStreams over its own buffers, so closing them touches
 * no other program) and an empty System.in. What it shares with the others of its chunk: the JVM's
 * heap and JIT state, the JDK's classes and their static state, and read access to the toolchain's
 * files. Not guaranteed: JDK static state that no permission guards (a cache, a default without a
 * permission check) is kept from one program to the next, as it is for the javac runs of the chunk.
 */
final class WarmRun {
    private static final int OUTPUT_CAP = 1 << 20;
    private static final List<String> DENIED_RUNTIME = Arrays.asList("exitVM", "setIO", "setSecurityManager",
            "createSecurityManager", "modifyThread", "modifyThreadGroup", "stopThread",
            "setDefaultUncaughtExceptionHandler", "loadLibrary", "shutdownHooks", "setFactory",
            "writeFileDescriptor", "readFileDescriptor");

    private WarmRun() {
    }

    /** Where System.out and System.err write: the current program's buffer, from its own thread only. */
    private static final class Switch extends OutputStream {
        volatile ByteArrayOutputStream target = new ByteArrayOutputStream();

        @Override
        public void write(int b) {
            guard(1);
            target.write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) {
            guard(len);
            target.write(b, off, len);
        }

        private void guard(int more) {
            if (Thread.currentThread() != GUARD.program) {
                GUARD.trip("output from another thread");
            }
            if (target.size() + more > OUTPUT_CAP) {
                GUARD.trip("output over the cap");
            }
        }
    }

    /** Denies what a program may not do in a shared JVM; a denial ends this JVM's decisions (see above). */
    private static final class Guard extends SecurityManager {
        volatile Thread program;
        volatile String tripped; // never reset: the first trip is the last program this JVM runs
        volatile String ownFolder = "";

        SecurityException trip(String why) {
            if (tripped == null) {
                tripped = why;
            }
            throw new SecurityException("not in a shared JVM: " + why);
        }

        /** Whether program code asks: a class of neither the JDK (named modules) nor this runner is on the stack. */
        private boolean programAsks() {
            for (Class<?> caller : getClassContext()) {
                if (!caller.getModule().isNamed() && caller.getModule() != WarmRun.class.getModule()) {
                    return true;
                }
            }
            return false;
        }

        @Override
        public void checkPermission(Permission permission) {
            if (programAsks()) {
                check(permission);
            }
        }

        @Override
        public void checkPermission(Permission permission, Object context) {
            if (programAsks()) {
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
            if (programAsks()) {
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
            } else if ((permission instanceof SecurityPermission || permission instanceof NetPermission)
                    && !permission.getName().startsWith("get") || permission instanceof LoggingPermission) {
                trip(permission.toString()); // a JVM-wide setting: security properties, cookie handler, ...
            }
        }
    }

    private static final Switch OUT = new Switch();
    private static final Switch ERR = new Switch();
    private static final Guard GUARD = new Guard();

    /** Called once, before any program: the guard. */
    static void install() {
        System.setSecurityManager(GUARD);
    }

    /** Runs FOLDER/tmp's Problem with CLASSPATH's jars and writes its verdict, or ends this JVM (see above). */
    static void run(Path folder, String classpath, long timeoutMs, PrintStream log)
            throws IOException, InterruptedException {
        OUT.target = new ByteArrayOutputStream();
        ERR.target = new ByteArrayOutputStream();
        PrintStream err = new PrintStream(ERR, true, StandardCharsets.UTF_8);
        System.setIn(new ByteArrayInputStream(new byte[0]));
        System.setOut(new PrintStream(OUT, true, StandardCharsets.UTF_8));
        System.setErr(err);
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
                    err.print("Exception in thread \"main\" ");
                    thrown.printStackTrace(err);
                    exitCode[0] = 1;
                }
            } catch (Throwable unusual) {
                log.println(folder + ": " + unusual); // e.g. an error in a static initialiser: a fresh JVM decides
            }
        }, "main", 1L << 20);
        GUARD.program = thread;
        thread.start();
        thread.join(timeoutMs / 3);
        String undecided = thread.isAlive() ? "still running at a third of the timeout"
                : GUARD.tripped != null ? GUARD.tripped : exitCode[0] < 0 ? "no ordinary end" : null;
        if (undecided != null) {
            log.println(folder + ": " + undecided + "; leaving it and the rest of the chunk to the plain path");
            log.flush();
            Runtime.getRuntime().halt(124);
        }
        GUARD.program = null;
        loader.close();
        writeVerdict(folder, exitCode[0]);
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
