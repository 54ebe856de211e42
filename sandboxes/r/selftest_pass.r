f <- function(s) {
    return(paste(rev(strsplit(s, "")[[1]]), collapse = ""))
}
test_humaneval <- function() {
    candidate <- f
    stopifnot(isTRUE(all.equal(candidate("abc"), "cba")))
}
test_humaneval()
