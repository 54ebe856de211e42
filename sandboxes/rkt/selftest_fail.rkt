#lang racket

(define (f s)
  (list->string (reverse (string->list s))))
(require rackunit)

(define (test-humaneval) 

  (let (( candidate f))
    (check-within (candidate "abc") "abc" 0.001)
))

(test-humaneval)
