#!/bin/bash
# $1 is a string
f() {
    local s="$1" reversed="" i
    for (( i=${#s}-1; i>=0; i-- )); do
        reversed+="${s:i:1}"
    done
    echo "$reversed"
}

candidate() {
    f "$@"
}

set -e
run_test() {
    [[ $(candidate "abc") = "abc" ]]
}

run_test
