#!/bin/sh
# Runs WarmRun.jl over the job folders on stdin and stops it when one program has run longer than
# a third of the run timeout ($HARNESS_RUN_TIMEOUT_S): Julia cannot interrupt a computing task.
# That program gets no .run.rc (the plain path runs it) and a fresh julia takes the jobs after it;
# so does one after a program that made julia die (out of memory, for example). Before a fresh
# julia starts, this shell kills every other process of the sandbox: the [warm] command execs it,
# so it is pid 2 and kill(-1) spares only bubblewrap's init and itself. (julia, which is not pid 2,
# kills the others one by one between programs, sparing this shell and its polls.) WarmRun.jl's
# header says what this guarantees.
set -u
polls_allowed=$(awk -v t="${HARNESS_RUN_TIMEOUT_S:-5}" 'BEGIN { print int(t / 3 / 0.05) }')
jobs="$TMPDIR/warm-jobs"
progress="$TMPDIR/warm-progress"
cat > "$jobs"
while [ -s "$jobs" ]; do
    julia --compile=min /opt/harness/jl/WarmRun.jl < "$jobs" > "$progress" &
    runner=$!
    seen=""
    polls=0
    while kill -0 "$runner" 2> /dev/null; do
        sleep 0.05
        current=$(tail -n 1 "$progress")
        if [ "$current" != "$seen" ]; then
            seen=$current
            polls=0
        elif [ -n "$current" ] && [ "$current" != "done" ]; then
            polls=$((polls + 1))
            if [ "$polls" -gt "$polls_allowed" ]; then
                kill -9 "$runner"
            fi
        fi
    done
    wait "$runner"
    last=$(tail -n 1 "$progress")
    # finished, or died before it started a program: the rest (if any) run plain
    if [ "$last" = "done" ] || [ -z "$last" ]; then
        break
    fi
    while kill -9 -1 2> /dev/null; do :; done
    tail -n "+$((last + 1))" "$jobs" > "$jobs.rest"
    mv "$jobs.rest" "$jobs"
done
