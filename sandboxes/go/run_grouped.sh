#!/bin/sh
# Runs a test binary built by batch_go.py as `go test main_test.go` runs the one it builds: with
# the flags go test passes, stdout and stderr merged into stdout, and go test's report. When the
# binary exits 0, go test prints only `ok  command-line-arguments TIME` (the binary's own output,
# even a printed FAIL, is dropped); otherwise all of it, then `FAIL  command-line-arguments TIME`
# and `FAIL`, and exits 1. TIME is measured here, around the binary, as go test measures it.
started=$(date +%s%N)
./main -test.paniconexit0 -test.timeout=10m0s > .go-test-output 2>&1
status=$?
took=$(awk -v started="$started" -v ended="$(date +%s%N)" 'BEGIN { printf "%.3f", (ended - started) / 1e9 }')
if [ "$status" -eq 0 ]; then
  printf 'ok  \tcommand-line-arguments\t%ss\n' "$took"
else
  cat .go-test-output
  printf 'FAIL\tcommand-line-arguments\t%ss\nFAIL\n' "$took"
  exit 1
fi
