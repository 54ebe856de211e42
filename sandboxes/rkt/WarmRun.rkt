#lang racket/base
;; Runs many CRUXEval-X Racket programs in one racket process, each as `racket main.rkt` runs it in
;; a fresh one.
;;
;; Why: loading `racket` (the language every program is written in) costs most of a small
;; program's run; here it is loaded once and attached to a fresh namespace per program.
;;
;; Protocol (harness/sandbox/batch_compile.py): job folders on stdin, one per line; for each, the
;; program FOLDER/main.rkt runs and FOLDER/.run.stdout, .run.stderr and, last, .run.rc are written.
;; $HARNESS_RUN_TIMEOUT_S is the run timeout a plain run would get.
;;
;; What it decides, and what it leaves to a fresh process: it writes .run.rc only for a program that
;; ran to its end (exit code 0) or raised an uncaught exception (exit code 1, the message on stderr
;; as `racket` prints it), within a third of the run timeout, in at most 512 MB of its own memory,
;; printing at most 1 MB to each stream, with no thread of its own still running at the end, and
;; without calling `exit` or tripping the guard (a security guard: any file access outside its own
;; folder and the toolchain's files, any write or delete, a subprocess, a network connection), and
;; whose source does not mention what the guard cannot see (`forbidden-source` below: the FFI,
;; unsafe operations, evaluation and module loading at run time, process-wide controls). Every
;; other program gets no .run.rc and the harness runs it in its own sandbox.
;;
;; What a program gets afresh: its namespace (so every module it requires other than `racket` and
;; rackunit is instantiated anew: srfi/1, racket/set, ...), its parameters (a thread of its own,
;; its own output ports, random generator, environment variables, current directory), rackunit's
;; test log (rackunit/log's counters, set back to a fresh instance's zeros before each program),
;; and a custodian that ends all it started. What it shares with the other programs of its chunk:
;; the instances of `racket` and rackunit (their exports are immutable bindings; rackunit's state
;; is parameters, which are per thread, and the test log), the process's heap and read access to
;; the toolchain's files. Not guaranteed: internal state of `racket`'s own modules (caches and
;; tables its libraries keep, also what one keeps after the guard refused it something) stays from
;; one program to the next; a program that trips the guard runs plain but the chunk goes on. Its
;; module is declared as /box/main.rkt, the name it has in a plain run, so error messages and
;; srclocs read the same; its current directory is its own folder (a source that mentions
;; `current-directory` runs plain).
(require racket/file racket/list racket/port racket/string)

(define output-cap (* 1024 1024))
(define memory-cap (* 512 1024 1024))
(define toolchain-roots '("/usr/" "/etc/"))
(define program-name (string->path "/box/main.rkt"))
(define shared-modules '(racket racket/runtime-config racket/lang/reader rackunit))
;; A program whose source mentions any of these (unsafe operations, the FFI, primitive modules,
;; run-time evaluation and module loading, process-wide controls) runs in a fresh process instead.
(define forbidden-source
  #px"unsafe|\\bffi|foreign|#%|\\beval\\b|namespace|dynamic-require|\\bload|module->|custodian|plumber|exit-handler|executor|\\bplace|\\bsubprocess|\\bsystem|current-directory|gensym")

(define root (make-base-namespace))
(parameterize ([current-namespace root])
  (for ([name (in-list shared-modules)]) (dynamic-require name #f)))

;; rackunit/log's module-level counters, the only state of rackunit that is not a parameter.
(define rackunit-log (parameterize ([current-namespace root]) (module->namespace 'rackunit/log)))
(define (reset-test-log!)
  (eval '(set!-values (TOTAL FAILED) (values 0 0)) rackunit-log))

(define (fresh-namespace)
  (define ns (parameterize ([current-namespace root]) (make-base-empty-namespace)))
  (for ([name (in-list shared-modules)]) (namespace-attach-module root name ns))
  ns)

(define (under? path root-text)
  (string-prefix? (path->string path) root-text))

;; A security guard that lets the program read its own folder and the toolchain, and trips on the rest.
(define (program-guard folder trip!)
  (define own (string-append (path->string folder) "/"))
  (make-security-guard
   (current-security-guard)
   (lambda (who path modes)
     (when path
       (define full (simplify-path (path->complete-path path folder) #f))
       (define reading? (null? (remove* '(read exists) modes)))
       (define allowed?
         (and reading?
              (or (under? full own) (equal? (path->string full) (path->string folder))
                  (for/or ([root-text (in-list toolchain-roots)]) (under? full root-text))
                  (and (equal? modes '(exists)) (not (under? full "/box"))))))
       (unless allowed?
         (trip! (format "~a ~a ~a" who modes full))
         (raise (exn:fail:filesystem (format "~a: access denied to ~a" who full)
                                     (current-continuation-marks))))))
   (lambda (who host port mode)
     (trip! (format "~a network ~a:~a" who host port))
     (raise (exn:fail:network (format "~a: network denied" who) (current-continuation-marks))))
   (lambda (who path target)
     (trip! (format "~a link ~a" who path))
     (raise (exn:fail:filesystem (format "~a: link denied" who) (current-continuation-marks))))))

(define (capped-port name buffer on-overflow)
  (make-output-port name always-evt
                    (lambda (bytes start end non-block? breakable?)
                      (when (> (+ (file-position buffer) (- end start)) output-cap) (on-overflow))
                      (write-bytes bytes buffer start end))
                    void))

;; The module, read as `racket main.rkt` reads it, declared under its plain-run name, then run with
;; its configure-runtime and main submodules as the `racket` launcher runs them.
(define (run-module source)
  (define form
    (call-with-input-file source
      (lambda (in)
        (port-count-lines! in)
        (parameterize ([read-accept-reader #t] [read-accept-lang #t])
          (read-syntax program-name in)))))
  (define declaration (datum->syntax form (cons (quote-syntax module) (cdr (syntax-e form))) form form))
  (parameterize ([current-module-declare-name (make-resolved-module-path program-name)])
    (eval declaration))
  (define (submodule name) `(submod ,program-name ,name))
  (when (module-declared? (submodule 'configure-runtime) #f)
    (dynamic-require (submodule 'configure-runtime) #f))
  (dynamic-require program-name #f)
  (when (module-declared? (submodule 'main) #f)
    (dynamic-require (submodule 'main) #f)))

;; Prints an uncaught exception as `racket` does, less the context lines of this runner's frames.
(define (report-uncaught e)
  (define report
    (with-output-to-string
      (lambda ()
        (parameterize ([current-error-port (current-output-port)])
          ((error-display-handler) (if (exn? e) (exn-message e) (format "uncaught exception: ~e" e)) e)))))
  (define runner-frame (regexp-quote (path->string (variable-reference->module-source (#%variable-reference)))))
  (for ([line (in-list (string-split report "\n" #:trim? #f))]
        [index (in-naturals)]
        #:unless (regexp-match? runner-frame line))
    (unless (zero? index) (newline (current-error-port)))
    (write-string line (current-error-port))))

;; Runs FOLDER/main.rkt; returns (list exit-code stdout stderr), or a string saying why it is left
;; to a fresh process.
(define (run-program folder timeout-s)
  (define source (build-path folder "main.rkt"))
  (define mention (regexp-match forbidden-source (file->string source)))
  (if mention
      (format "its source mentions ~s" (car mention))
      (run-in-thread folder source timeout-s)))

(define (run-in-thread folder source timeout-s)
  (reset-test-log!)
  (define custodian (make-custodian))
  (custodian-limit-memory custodian memory-cap custodian)
  (define tripped #f)
  (define (trip! why) (unless tripped (set! tripped why)))
  (define (overflow!) (trip! "printed more than 1 MB") (custodian-shutdown-all custodian))
  (define out (open-output-bytes))
  (define err (open-output-bytes))
  (define exit-code #f)
  (define program-thread
    (parameterize ([current-custodian custodian]
                   [current-namespace (fresh-namespace)]
                   [current-directory folder]
                   [current-load-relative-directory #f]
                   [current-output-port (capped-port 'stdout out overflow!)]
                   [current-error-port (capped-port 'stderr err overflow!)]
                   [current-input-port (open-input-bytes #"")]
                   [current-security-guard (program-guard folder trip!)]
                   [exit-handler (lambda (code) (trip! (format "called exit ~s" code))
                                   (custodian-shutdown-all custodian))]
                   [current-command-line-arguments (vector)]
                   [current-pseudo-random-generator (make-pseudo-random-generator)]
                   [current-environment-variables (environment-variables-copy (current-environment-variables))])
      (thread
       (lambda ()
         (with-handlers ([(lambda (e) #t)
                          (lambda (e) (report-uncaught e) (set! exit-code 1))])
           (run-module source)
           (set! exit-code 0))
         (flush-output (current-output-port))
         (flush-output (current-error-port))))))
  (define finished (sync/timeout (/ timeout-s 3) program-thread))
  (define others
    (filter (lambda (item) (and (thread? item) (not (eq? item program-thread)) (not (thread-dead? item))))
            (custodian-managed-list custodian (current-custodian))))
  (custodian-shutdown-all custodian)
  (cond
    [tripped tripped]
    [(not finished) "still running at a third of the timeout"]
    [(not exit-code) "ended without finishing (memory limit)"]
    [(pair? others) "left a thread of its own running"]
    [else (list exit-code (get-output-bytes out) (get-output-bytes err))]))

(define (write-result folder result)
  (define (put name content) (call-with-output-file (build-path folder name) (lambda (o) (write-bytes content o)) #:exists 'truncate))
  (put ".run.stdout" (second result))
  (put ".run.stderr" (third result))
  (put ".run.rc" (string->bytes/utf-8 (format "~a\n" (first result)))))

(module+ main
  (define timeout-s (string->number (or (getenv "HARNESS_RUN_TIMEOUT_S") "15")))
  (for ([line (in-lines (current-input-port))] #:unless (string=? (string-trim line) ""))
    (define folder (string->path (string-trim line)))
    (define result (run-program folder timeout-s))
    (if (string? result)
        (eprintf "~a: ~a; left to a fresh process\n" folder result)
        (write-result folder result))))
