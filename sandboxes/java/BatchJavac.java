import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

/**
 * A warm `javac -encoding UTF8 -d tmp SOURCE` (CLASSPATH=the javatuples jar) for many job folders.
 *
 * <p>Why: javac spends most of a small program's compile starting the JVM and loading itself; one
 * process reading job folders on stdin pays that once. Each compile is a fresh javac invocation
 * (JavacTool.run makes a new compiler context) with the plain command's arguments, except that
 * the class path is passed as -classpath, which javac treats exactly like CLASSPATH. Results go
 * to FOLDER/.compile.stdout, .compile.stderr and, last, FOLDER/.compile.rc (javac's exit code);
 * the folder prefix is stripped from messages so they read as the plain command's do.
 *
 * <p>Near the plain timeout a warm compile could succeed where the plain one times out, so a
 * compile that takes over a third of TIMEOUT_SECONDS, or throws, gets no .compile.rc and the
 * harness compiles it the plain way; one still running at TIMEOUT_SECONDS ends this process
 * (a compile cannot be interrupted) and the rest of the chunk is compiled the plain way too.
 *
 * <p>Warm runs: given RUN_TIMEOUT_SECONDS, each program that compiled is also run in this JVM
 * (WarmRun.java says what that decides and what it leaves to a fresh JVM).
 *
 * <p>Arguments: SOURCE_FILE CLASSPATH TIMEOUT_SECONDS [RUN_TIMEOUT_SECONDS].
 */
public final class BatchJavac {
    private static final String WARM_UP = String.join("\n",
            "import java.util.*;",
            "import java.util.stream.*;",
            "import org.javatuples.*;",
            "class Problem {",
            "    public static ArrayList<Pair<String, Long>> f(String text, HashMap<String, Long> counts) {",
            "        ArrayList<Pair<String, Long>> out = new ArrayList<>();",
            "        for (String word : text.split(\" \")) {",
            "            out.add(Pair.with(new StringBuilder(word).reverse().toString(), counts.getOrDefault(word, 0L)));",
            "        }",
            "        out.sort((a, b) -> b.getValue1().compareTo(a.getValue1()));",
            "        return out.stream().filter(p -> !p.getValue0().isEmpty())",
            "            .collect(Collectors.toCollection(ArrayList::new));",
            "    }",
            "    public static void main(String[] args) {",
            "    assert(f((\"a bc\"), (new HashMap<String,Long>(Map.of(\"a\", 1l)))).equals((new ArrayList<Pair<String, Long>>(",
            "        Arrays.asList((Pair<String, Long>)Pair.with(\"a\", 1l), (Pair<String, Long>)Pair.with(\"cb\", 0l))))));",
            "    }",
            "}");

    private BatchJavac() {
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        String source = args[0];
        String classpath = args[1];
        long timeoutMs = (long) (Double.parseDouble(args[2]) * 1000);
        long runTimeoutMs = args.length > 3 ? (long) (Double.parseDouble(args[3]) * 1000) : -1;
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        ExecutorService worker = Executors.newSingleThreadExecutor();
        warmUp(javac, classpath);
        PrintStream log = System.err; // WarmRun.run points System.err at each program's own buffer
        BufferedReader jobs = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        if (runTimeoutMs > 0) {
            WarmRun.install();
        }
        for (String line = jobs.readLine(); line != null; line = jobs.readLine()) {
            if (line.isEmpty()) {
                continue;
            }
            Path folder = Paths.get(line);
            long started = System.nanoTime();
            Future<Compiled> compile = worker.submit(() -> compile(javac, folder, source, classpath));
            try {
                Compiled compiled = compile.get(timeoutMs, TimeUnit.MILLISECONDS);
                if (System.nanoTime() - started <= TimeUnit.MILLISECONDS.toNanos(timeoutMs / 3)) {
                    compiled.report(folder);
                    if (compiled.exitCode == 0 && runTimeoutMs > 0) {
                        WarmRun.run(folder, classpath, runTimeoutMs, log);
                    }
                }
            } catch (TimeoutException slow) {
                Runtime.getRuntime().halt(124);
            } catch (ExecutionException failed) {
                log.println(folder + ": " + failed.getCause());
            }
        }
        worker.shutdown();
    }

    /** Loads javac, the JDK's module index and the classes a typical program needs before jobs are timed. */
    private static void warmUp(JavaCompiler javac, String classpath) throws IOException {
        Path folder = Files.createTempDirectory("warm");
        Files.write(folder.resolve("Warm.java"), WARM_UP.getBytes(StandardCharsets.UTF_8));
        compile(javac, folder, "Warm.java", classpath);
    }

    private static Compiled compile(JavaCompiler javac, Path folder, String source, String classpath) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int exitCode = javac.run(null, out, err, "-encoding", "UTF8", "-d", folder.resolve("tmp").toString(),
                "-classpath", classpath, folder.resolve(source).toString());
        String prefix = folder + "/";
        return new Compiled(exitCode, out.toString(StandardCharsets.UTF_8).replace(prefix, ""),
                err.toString(StandardCharsets.UTF_8).replace(prefix, ""));
    }

    /** One compile's exit code and messages. */
    private static final class Compiled {
        private final int exitCode;
        private final String stdout;
        private final String stderr;

        Compiled(int exitCode, String stdout, String stderr) {
            this.exitCode = exitCode;
            this.stdout = stdout;
            this.stderr = stderr;
        }

        void report(Path folder) throws IOException {
            write(folder.resolve(".compile.stdout"), stdout);
            write(folder.resolve(".compile.stderr"), stderr);
            Path partial = folder.resolve(".compile.rc.partial");
            write(partial, Integer.toString(exitCode));
            Files.move(partial, folder.resolve(".compile.rc"), StandardCopyOption.ATOMIC_MOVE);
        }

        private static void write(Path path, String text) throws IOException {
            Files.write(path, text.getBytes(StandardCharsets.UTF_8));
        }
    }
}
