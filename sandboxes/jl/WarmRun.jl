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
# What a program gets afresh: its module (named Main, as a plain run's is; `using Test` binds the
# loaded Test), its current directory, stdout and stderr. What it shares with the others of its
# chunk: the loaded Base and Test (whose state a passing program leaves as it found it), the
# process's heap, read access to the toolchain, and the batch sandbox's limits.
using Test

const OUTPUT_CAP = 1 << 20
const FORBIDDEN = r"Base|Core|Main|\bimport\b|eval|ccall|cglobal|Libc|Sys\.|\brun\(|`|\bopen\(|\bread|\bwrite|ENV|
                   pwd|\bcd\(|\brm\(|mkdir|mktemp|tempname|@__|PROGRAM_FILE|ARGS|\bexit|atexit|Threads|@async|
                   @spawn|@sync|schedule|Task|Channel|Timer|sleep|Distributed|Sockets|download|include|Meta|unsafe|Test\.|task_local|
                   pointer|\bGC\b|finalizer|stdout|stderr|stdin|redirect|\bmodule\b|baremodule|\bstruct\b|HARNESS"x

function run_program(folder::String)::Bool
    cd(folder)
    program = Module(:Main)
    finished = false
    open(".run.stdout", "w") do out
        open(".run.stderr", "w") do err
            redirect_stdout(out) do
                redirect_stderr(err) do
                    try
                        Base.include(program, joinpath(folder, "main.jl"))
                        finished = true
                    catch
                    end
                end
            end
        end
    end
    return finished
end

function serve()
    for (index, folder) in enumerate(readlines(stdin))
        println(index)
        flush(stdout)
        occursin(FORBIDDEN, read(joinpath(folder, "main.jl"), String)) && continue
        finished = run_program(folder)
        if finished && filesize(".run.stderr") == 0 && filesize(".run.stdout") < OUTPUT_CAP
            write(".run.rc", "0\n")
        end
    end
    println("done")
end

serve()
