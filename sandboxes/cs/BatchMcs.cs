// A warm `csc` (our shim for mcs: sandboxes/cs/csc) for many job folders.
//
// Why: a cold mcs spends most of a small program's compile starting mono and JIT-compiling mcs
// itself. This process loads mcs.exe once and, for each job folder read on stdin, does what mcs's
// own Main does with the same arguments (taken from this command line): the same command-line
// parser writing to stdout, the same console report printer writing diagnostics to stderr, the
// same "Compilation succeeded - N warning(s)" / "Compilation failed: ..." line on stdout, and the
// same exit status (0, or 1 on errors). Between programs it calls mcs's own reset of its static
// state (CompilerCallableEntryPoint.Reset, what an embedding host calls between compiles).
// Compilation runs no program code, so sharing the process weakens no isolation between runs.
//
// Results go to FOLDER/.compile.stdout, .compile.stderr and, last, FOLDER/.compile.rc (protocol:
// harness/sandbox/batch_compile.py). Near the plain timeout a warm compile could succeed where the
// plain one times out, so a compile that throws or takes over a third of TIMEOUT_SECONDS gets no
// .compile.rc, and the harness compiles that program the plain way.
//
// Arguments: TIMEOUT_SECONDS MCS_ARGUMENT... (the plain command's arguments, relative to a folder).
using System;
using System.Diagnostics;
using System.IO;
using System.Reflection;
using Mono.CSharp;

static class BatchMcs
{
    static readonly Type Driver = typeof(CompilerContext).Assembly.GetType("Mono.CSharp.Driver", true);

    static int Main(string[] args)
    {
        double budgetMs = double.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) * 1000 / 3;
        string[] mcsArguments = new string[args.Length - 1];
        Array.Copy(args, 1, mcsArguments, 0, mcsArguments.Length);
        TextWriter realOut = Console.Out, realError = Console.Error;
        Location.InEmacs = Environment.GetEnvironmentVariable("EMACS") == "t";
        string folder;
        while ((folder = Console.In.ReadLine()) != null)
        {
            if (folder.Length == 0) continue;
            try
            {
                CompileIn(folder, mcsArguments, budgetMs);
            }
            catch (Exception)
            {
                // no .compile.rc: the plain path compiles this one
            }
            finally
            {
                Console.SetOut(realOut);
                Console.SetError(realError);
            }
        }
        return 0;
    }

    // Compiles in `folder` as `mcs ARGUMENTS` run there would, then writes the reports.
    static void CompileIn(string folder, string[] mcsArguments, double budgetMs)
    {
        Directory.SetCurrentDirectory(folder);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Console.SetOut(stdout);
        Console.SetError(stderr);
        var watch = Stopwatch.StartNew();
        int status;
        try
        {
            status = Compile(mcsArguments);
        }
        finally
        {
            CompilerCallableEntryPoint.Reset();
        }
        if (watch.ElapsedMilliseconds > budgetMs) return;
        File.WriteAllText(Path.Combine(folder, ".compile.stdout"), stdout.ToString());
        File.WriteAllText(Path.Combine(folder, ".compile.stderr"), stderr.ToString());
        File.WriteAllText(Path.Combine(folder, ".compile.rc.partial"), status + "\n");
        File.Move(Path.Combine(folder, ".compile.rc.partial"), Path.Combine(folder, ".compile.rc"));
    }

    // mcs's Main (mcs/mcs/driver.cs), returning its exit status instead of exiting.
    static int Compile(string[] mcsArguments)
    {
        var parser = new CommandLineParser(Console.Out);
        var settings = parser.ParseArguments(mcsArguments);
        if (settings == null) return 1;
        if (parser.HasBeenStopped) return 0;
        var context = new CompilerContext(settings, new ConsoleReportPrinter());
        object driver = Activator.CreateInstance(Driver, BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic,
                                                 null, new object[] { context }, null);
        bool compiled = (bool)Driver.GetMethod("Compile").Invoke(driver, null);
        if (compiled && context.Report.Errors == 0)
        {
            if (context.Report.Warnings > 0)
                Console.WriteLine("Compilation succeeded - {0} warning(s)", context.Report.Warnings);
            return 0;
        }
        Console.WriteLine("Compilation failed: {0} error(s), {1} warnings", context.Report.Errors, context.Report.Warnings);
        return 1;
    }
}
