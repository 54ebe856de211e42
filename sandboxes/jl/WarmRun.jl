# Runs many CRUXEval-X Julia programs in one julia process, each in a fresh module.
#
# Why: starting julia and loading Test (which every program uses) is most of a small program's
# run (about 0.13 s of 0.14 s here). Here julia starts once per chunk with Test loaded, and each
# program is included into a module of its own.
#
# Protocol (harness/sandbox/batch_compile.py, through warm.sh): job folders on stdin, one per
# line; for each, FOLDER/main.jl runs and FOLDER/.run.stdout, .run.stderr and, last, .run.rc are
# written. This process prints the number of each program as it starts it, and "done" at the end,
# so warm.sh can stop it when one program runs too long (Julia cannot interrupt a computing task).
#
# What it decides, and what it leaves to a fresh process: .run.rc (always 0) is written only for a
# program whose include finished without an error (a failing @testset throws at its end), with
# nothing on stderr and less than 1 MB on stdout. Failures print the file's path and this
# process's frames, so they run plain. Julia has no guard to trip, and what a program defines on
# shared functions (methods added to Base, for example) would outlive it, so sources that mention
# the shared modules, evaluation, the system, files, tasks or the process (FORBIDDEN below) are not
# run here at all. Every program without .run.rc runs in a sandbox of its own, so this runner can
# only save time.
#
# Methods added to Base's functions as `(::typeof(f))(...)` and the like, and `Random.seed!`, are
# refused too; the global random generator is seeded afresh before each program anyway.
#
# What no program can do, even one that gets past the filter, through a process it starts (a
# shell, say): change the report of a program this julia runs after it, or of one it ran before
# it. This process makes itself not dumpable first (prctl; if that fails it decides nothing), so
# nothing it starts can open its memory or descriptors under /proc. It reads every source before
# running any; before each program it empties that program's folder (then writes its source back),
# /tmp (but for warm.sh's own warm-* files) and /dev/shm, and seeds the random generator; after
# each it kills every other process of the sandbox but bubblewrap's init, warm.sh (pid 2, so not
# kill(-1): every pid under /proc, until none is left) and warm.sh's short-lived polls, keeps the outcome in memory and writes
# its report (so that a julia killed later keeps what it decided); and after its last program,
# when nothing else runs, it removes every report in its job folders and writes again those it
# decided. If the sandbox does not settle within 2 s, it decides nothing more and writes no report
# at the end. A folder an earlier program replaced by a link is neither run nor reported.
#
# What it does NOT guarantee: a program runs inside this process, so one that gets past the filter
# can reach its memory and forge any report; the filter is the only barrier against that, and
# against changes to what the process shares (Base, Test) that outlive a program. A process a
# program starts can kill julia (or warm.sh) after writing reports, or take over one of warm.sh's
# polls (a dumpable tail or sleep, which julia spares) through /proc: the final pass never runs and
# what it wrote stays. When warm.sh starts a fresh julia after a program ran too long, the fresh
# one reads the remaining sources and clears the remaining folders only: what a process started by
# that program wrote into them (a changed source) or into earlier folders stays.
#
# What a program gets afresh: its module (named Main, as a plain run's is; `using Test` binds the
# loaded Test), its current directory, stdout and stderr, the random generator's seed. What it
# shares with the others of its chunk: the loaded Base and Test (whose state a passing program
# leaves as it found it), the process's heap, read access to the toolchain, and the batch
# sandbox's limits.
using Random
using Test

const OUTPUT_CAP = 1 << 20
const SHARED_SCRATCH = ("/tmp", "/dev/shm")  # writable by every program of the chunk: emptied before each
const SETTLE_S = 2.0  # how long the runner waits for the sandbox to hold no process but itself and warm.sh
const REPORTS = (".run.stdout", ".run.stderr", ".run.rc")
const PR_SET_DUMPABLE = 4
const FORBIDDEN = r"Base|Core|Main|\bimport\b|eval|ccall|cglobal|Libc|Sys\.|\brun\b|\bCmd\b|pipeline|`|\bopen\(|\bread|
                   \bwrite|ENV|pwd|\bcd\(|\brm\(|mkdir|mktemp|tempname|@__|PROGRAM_FILE|ARGS|\bexit|atexit|Threads|
                   @async|@spawn|@sync|schedule|Task|Channel|Timer|sleep|Distributed|Sockets|download|include|Meta|
                   unsafe|Test\.|task_local|pointer|\bGC\b|finalizer|stdout|stderr|stdin|redirect|\bmodule\b|
                   baremodule|\bstruct\b|::\s*typeof|(^|\bfunction)\s*\(\s*\w*\s*::|parentmodule|seed!|HARNESS"xm

"Runs the program in `folder` from `source`; whether it finished without an error."
function run_program(folder::String, source::String)::Bool
    cd(folder)
    program = Module(:Main)
    finished = false
    open(".run.stdout", "w") do out
        open(".run.stderr", "w") do err
            redirect_stdout(out) do
                redirect_stderr(err) do
                    try
                        Base.include_string(program, source, joinpath(folder, "main.jl"))
                        finished = true
                    catch
                    end
                end
            end
        end
    end
    return finished
end

"Removes what `folder` holds (not the folder), whatever an earlier program left there; warm.sh's files stay."
function empty_folder(folder::String)
    chmod(folder, 0o777)
    for entry in readdir(folder)
        startswith(entry, "warm-") && folder == "/tmp" && continue
        rm(joinpath(folder, entry); force = true, recursive = true)
    end
end

"Whether `folder` is still the folder the harness made, not a link an earlier program put there."
genuine(folder::String) = isdir(folder) && realpath(folder) == folder

"The parent of process `pid`, or nothing once it is gone."
parent(pid::Int) = try
    tryparse(Int, split(split(read("/proc/$pid/stat", String), ')')[end])[2])
catch
end

"""Kills every process of the sandbox but bubblewrap's init, warm.sh, warm.sh's own children (its
polls, which it reaps itself) and this one; false if they keep coming."""
function kill_the_rest()::Bool
    shell = ccall(:getppid, Cint, ())
    spared = (1, shell, getpid())
    deadline = time() + SETTLE_S
    while time() < deadline
        others = filter(pid -> pid !== nothing && !(pid in spared) && parent(pid) != shell,
                        map(entry -> tryparse(Int, entry), readdir("/proc")))
        isempty(others) && return true
        foreach(pid -> ccall(:kill, Cint, (Cint, Cint), pid, 9), others)
        while ccall(:waitpid, Cint, (Cint, Ptr{Cint}, Cint), -1, C_NULL, 1) > 0  # reap our own (WNOHANG)
        end
    end
    return false
end

function write_report(folder::String, stdout_bytes::Vector{UInt8})
    write(joinpath(folder, ".run.stdout"), stdout_bytes)
    write(joinpath(folder, ".run.stderr"), "")
    write(joinpath(folder, ".run.rc"), "0\n")
end

"Runs and decides each program (see the header); returns the stdout of each quiet pass, by folder."
function decide(folders::Vector{String})::Dict{String, Vector{UInt8}}
    sources = Dict(folder => read(joinpath(folder, "main.jl"), String) for folder in folders if genuine(folder))
    reports = Dict{String, Vector{UInt8}}()
    for (index, folder) in enumerate(folders)
        println(index)
        flush(stdout)
        source = get(sources, folder, "")
        (isempty(source) || occursin(FORBIDDEN, source) || !genuine(folder)) && continue
        try
            foreach(empty_folder, (folder, SHARED_SCRATCH...))
            write(joinpath(folder, "main.jl"), source)
        catch
            continue  # a folder this runner cannot empty is left to the plain path
        end
        Random.seed!()
        finished = run_program(folder, source)
        kill_the_rest() || return Dict{String, Vector{UInt8}}()  # something outlived SIGKILL: trust nothing
        if finished && filesize(".run.stderr") == 0 && filesize(".run.stdout") < OUTPUT_CAP
            reports[folder] = read(".run.stdout")
            write_report(folder, reports[folder])
        end
    end
    return reports
end

function serve()
    folders = readlines(stdin)
    dumpable = ccall(:prctl, Cint, (Cint, Culong, Culong, Culong, Culong), PR_SET_DUMPABLE, 0, 0, 0, 0) != 0
    reports = dumpable ? Dict{String, Vector{UInt8}}() : decide(folders)
    for folder in filter(genuine, folders), name in REPORTS
        chmod(folder, 0o777)
        rm(joinpath(folder, name); force = true, recursive = true)
    end
    for (folder, stdout_bytes) in reports
        genuine(folder) && write_report(folder, stdout_bytes)
    end
    println("done")
end

serve()
