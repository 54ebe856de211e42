# Runs many CRUXEval-X R programs from one started R: a fork server.
#
# Why: starting R (and bubblewrap around it) costs most of a small program's run, chiefly loading
# the default packages. Here R starts once per chunk, and each program runs in a child forked from
# it (parallel::mcparallel), so it gets a fresh copy of a pristine session: its own global
# environment, options, random state, memory and exit, as in a plain `Rscript main.r`.
#
# Protocol (harness/sandbox/batch_compile.py): job folders on stdin, one per line; for each, the
# program FOLDER/main.r runs and FOLDER/.run.stdout, .run.stderr and, last, .run.rc are written.
# $HARNESS_RUN_TIMEOUT_S is the run timeout a plain run would get.
#
# How the child runs the program: in its folder, with R's output and messages sunk into its own
# files, it parses main.r and evaluates each top-level expression in the global environment,
# printing visible values as R's top level does.
#
# What it decides, and what it leaves to a fresh sandbox: .run.rc (always 0) is written only for
# a program that ran to its end within a third of the run timeout, with no error, no warning and
# nothing on stderr, and printed less than 1 MB. An error, a warning or a message is printed by
# R's top level in its own format (the call, "Calls:", deferred "Warning message:" blocks,
# "Execution halted"), which a child cannot reproduce exactly, so such a program runs plain, as do
# syntax errors (Rscript runs the expressions before one; the whole file is parsed here), quits,
# signals and kills. R has no guard to trip, so sources that mention what could reach beyond the
# program (files, connections, the system, the environment, the session, the call stack, native
# code) are not run here at all (`forbidden` below). Every program without .run.rc runs in a
# sandbox of its own, so this runner can only save time.
#
# What a program shares with the others of its chunk: the started session's state as its own copy
# (the default packages, plus the parallel and tools namespaces loaded, not attached), read access
# to the toolchain, and the batch sandbox's cgroup limits (one program runs at a time).
local({
  output_cap <- 1024 * 1024
  timeout <- as.numeric(Sys.getenv("HARNESS_RUN_TIMEOUT_S", "5")) / 3
  Sys.unsetenv("HARNESS_RUN_TIMEOUT_S")
  forbidden <- paste0(
    "Sys\\.|system|shell|file|sink|unlink|setwd|getwd|dir\\.|list\\.files|\\bdir\\(|source|readLines|",
    "readline|scan\\(|writeLines|write\\(|write\\.|\\bsave|\\bload|RDS|dput|dget|connection|url\\(|socket|",
    "pipe|fifo|gzcon|download|tempfile|tempdir|commandArgs|quit|\\bq\\(|\\.Internal|\\.Primitive|",
    "\\.Call|\\.C\\(|\\.External|\\.Fortran|dyn\\.load|library\\.dynam|parallel|mcfork|environment|",
    "sys\\.|parent\\.frame|nframe|globalenv|GlobalEnv|emptyenv|attach|options|trace|browser|debug|",
    "Rprof|reg\\.finalizer|on\\.exit|interactive|\\.Last|\\.First|Encoding|setlocale|invokeRestart|",
    "Restart|\\beval|evalq|parse\\(|\\bbody|formals|assign|delayedAssign|makeActiveBinding|lockBinding|",
    "unlockBinding|\\brm\\(|\\bremove\\(|detach|require|library|loadNamespace|requireNamespace|",
    "assignInNamespace|stdout|stderr|stdin|HARNESS")

  run_program <- function(folder) {
    setwd(folder)
    out <- file(".run.stdout", open = "wt")
    err <- file(".run.stderr", open = "wt")
    sink(out)
    sink(err, type = "message")
    warned <- FALSE
    expressions <- parse("main.r", keep.source = FALSE)
    for (expression in expressions) {
      shown <- withCallingHandlers(withVisible(eval(expression, globalenv())),
                                   warning = function(condition) warned <<- TRUE)
      if (shown$visible) {
        if (isS4(shown$value)) methods::show(shown$value) else print(shown$value)
      }
    }
    sink(type = "message")
    sink()
    close(out)
    close(err)
    if (warned) "warned" else "completed"
  }

  small <- function(path) file.exists(path) && file.size(path) < output_cap
  for (folder in readLines(file("stdin"))) {
    text <- readLines(file.path(folder, "main.r"), warn = FALSE)
    if (any(grepl(forbidden, text, perl = TRUE))) next
    job <- parallel::mcparallel(run_program(folder), mc.set.seed = FALSE, silent = TRUE)
    result <- parallel::mccollect(job, wait = FALSE, timeout = timeout)
    if (is.null(result)) {
      tools::pskill(job$pid, tools::SIGKILL)
      parallel::mccollect(job)
      next
    }
    outputs <- file.path(folder, c(".run.stdout", ".run.stderr"))
    if (identical(result[[1]], "completed") && all(vapply(outputs, small, TRUE)) &&
        file.size(outputs[[2]]) == 0) {
      writeLines("0", file.path(folder, ".run.rc"))
    }
  }
})
