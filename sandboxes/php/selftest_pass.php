<?php
function f($s) {
    return strrev($s);
}

function candidate(...$args) {
    return f(...$args);
}

function test(): void {
    if (candidate("abc") !== "cba") { throw new Exception("Test failed!"); }
}

test();
