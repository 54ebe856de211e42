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
#
# No program can change another program's verdict through files, processes or the runner's memory,
# even one that gets past the source filter (`system` fetched by a name built at run time): R cannot
# call prctl, so the runner is started from an execute-only copy of R's binary (language.toml), which
# the kernel makes non-dumpable, and nothing it starts can open its memory or descriptors under /proc
# (a first child checks that; where it can open them, the runner decides nothing); it reads every
# source before running any; it neither runs nor reports a folder that an earlier program replaced by
# a link; before each program it empties that program's folder (then writes its source back), /tmp
# and /dev/shm; after each it kills every other process of the sandbox (it runs as pid 2, so kill(-1)
# spares only itself and bubblewrap's init) and only then reads the program's outputs into memory;
# and it writes every report only after the last program, when nothing else runs, removing any it
# did not decide. A child keeps descriptors beyond 0-2 that R cannot close: this script, read-only,
# and its pipes to the runner, through which it can only lie about its own result.
# A program can still spoil its own verdict, and it can kill the runner (same user), which stops it
# before that last step; the harness then reads none of the batch's reports (it believes only a
# runner that exited 0; R exits 1 on SIGUSR1/2), so what a shell forged is never read.
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

  contents <- function(folder) list.files(folder, all.files = TRUE, no.. = TRUE, full.names = TRUE)
  # Removes `path` whatever it is: a folder after its contents (made writable first); never follows a link.
  remove <- function(path) {
    if (dir.exists(path) && !nzchar(Sys.readlink(path))) {
      Sys.chmod(path, "700", use_umask = FALSE)
      for (entry in contents(path)) remove(entry)
    }
    unlink(path, recursive = TRUE, force = TRUE)
  }
  # Whether `folder` is still the folder the harness made, not a link an earlier program put there.
  genuine <- function(folder) dir.exists(folder) && identical(normalizePath(folder), folder)
  # Before a program: its folder holds its source (from memory) alone, and /tmp and /dev/shm are empty.
  reset <- function(folder, source) {
    Sys.chmod(folder, "777", use_umask = FALSE)
    for (path in c(contents(folder), contents("/tmp"), contents("/dev/shm"))) remove(path)
    tempdir(check = TRUE)
    writeBin(source, file.path(folder, "main.r"))
    identical(contents(folder), file.path(folder, "main.r"))
  }
  # Kills every process of the sandbox but this one and bubblewrap's init (the runner is pid 2);
  # parallel's SIGCHLD handler reaps the runner's own. FALSE if some are still there after 2 s.
  # tools::pskill skips pids below 1; parallel's mckill passes -1 on to kill(2) and fails once none is left.
  everyone <- structure(list(pid = -1L), class = "process")
  settle <- function() {
    deadline <- Sys.time() + 2
    while (Sys.time() < deadline) {
      if (!tryCatch({ parallel:::mckill(everyone, tools::SIGKILL); TRUE }, error = function(e) FALSE)) return(TRUE)
    }
    FALSE
  }
  # A file's size, never through a link or of a folder (NA then); reading a file of size 0 (a fifo) is never needed.
  size <- function(path) if (nzchar(Sys.readlink(path)) || dir.exists(path)) NA else file.size(path)

  # Not dumpable (started from an execute-only binary: language.toml), as a child of its own finds:
  # else decide nothing, and every program runs plain.
  environ <- sprintf("/proc/%d/environ", Sys.getpid())
  probe <- parallel::mcparallel(tryCatch(is.raw(readBin(environ, "raw", 1)), condition = function(c) FALSE))
  if (!identical(parallel::mccollect(probe)[[1]], FALSE)) quit(save = "no")
  stdin <- file("stdin")
  folders <- readLines(stdin)
  close(stdin)
  sources <- lapply(setNames(nm = folders), function(folder) {
    path <- file.path(folder, "main.r")
    source <- readBin(path, "raw", file.size(path))
    text <- tryCatch(rawToChar(source), error = function(e) "forbidden: a nul byte")
    if (!grepl(forbidden, text, perl = TRUE)) source
  })
  reports <- list()
  for (folder in names(Filter(Negate(is.null), sources))) {
    if (!genuine(folder) || !reset(folder, sources[[folder]])) next
    job <- parallel::mcparallel(run_program(folder), mc.set.seed = FALSE, silent = TRUE)
    result <- parallel::mccollect(job, wait = FALSE, timeout = timeout)
    if (is.null(result)) {
      tools::pskill(job$pid, tools::SIGKILL)
      parallel::mccollect(job)
    }
    if (!settle()) {
      reports <- list()  # something outlived SIGKILL: trust nothing this chunk did
      break
    }
    out <- size(file.path(folder, ".run.stdout"))
    if (identical(result[[1]], "completed") && identical(size(file.path(folder, ".run.stderr")), 0) &&
        !is.na(out) && out < output_cap) {
      reports[[folder]] <- if (out > 0) readBin(file.path(folder, ".run.stdout"), "raw", out) else raw(0)
    }
  }
  for (folder in Filter(genuine, folders)) {
    Sys.chmod(folder, "777", use_umask = FALSE)
    for (name in c(".run.rc", ".run.stdout", ".run.stderr")) remove(file.path(folder, name))
    if (!is.null(reports[[folder]])) {
      writeBin(reports[[folder]], file.path(folder, ".run.stdout"))
      writeBin(raw(0), file.path(folder, ".run.stderr"))
      writeLines("0", file.path(folder, ".run.rc"))
    }
  }
})
