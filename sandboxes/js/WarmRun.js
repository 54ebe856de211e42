// Runs many CRUXEval-X JavaScript programs in one node process, each in a worker thread of its own.
//
// Why: starting node (and bubblewrap around it) is most of a small program's run. A worker thread
// is a fresh V8 isolate with its own globals, built-ins and module cache, started in a fraction
// of a process's time. (`vm` contexts are cheaper still but not fresh enough: any object of the
// main realm handed in leads back to its `Function`, hence `process`.)
//
// Protocol (harness/sandbox/batch_compile.py): job folders on stdin, one per line; for each, the
// program FOLDER/main.js runs and FOLDER/.run.stdout, .run.stderr and, last, .run.rc are written.
// $HARNESS_RUN_TIMEOUT_S is the run timeout a plain run would get.
//
// What it decides, and what it leaves to a fresh process: .run.rc (always 0) is written only for a
// worker that ended by itself with exit code 0, within a third of the run timeout, in at most
// 512 MB of heap, with nothing on stderr and less than 1 MB on stdout. Anything else (a failed
// assertion, an uncaught exception: node prints its stack with this process's frames) runs plain.
// A worker shares the process, its file system access and its environment, so sources that
// mention what could reach beyond the program (modules other than assert, `process`, the file
// system, evaluation, shared memory, the module system's internals) are not run here at all
// (FORBIDDEN below). Every program without .run.rc runs in a sandbox of its own, so this runner
// can only save time.
//
// What a program shares with the others of its chunk: the process (its heap limits, its
// environment, read access to the toolchain) and the batch sandbox's limits; one program runs at a
// time.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { Worker } = require('node:worker_threads');

const OUTPUT_CAP = 1 << 20;
const FORBIDDEN = new RegExp([
  String.raw`require\s*\(\s*(?!['"](node:)?assert(\/strict)?['"]\s*\))`, String.raw`\bprocess\b`, String.raw`\bimport\b`,
  String.raw`\beval\b`, String.raw`\bFunction\b`, String.raw`globalThis`, String.raw`\bglobal\b`, String.raw`__filename`,
  String.raw`__dirname`, String.raw`\bmodule\b`, String.raw`\bexports\b`, String.raw`require\.`, String.raw`SharedArrayBuffer`,
  String.raw`Atomics`, String.raw`WebAssembly`, String.raw`\bfetch\b`, String.raw`HARNESS`,
].join('|'));

function runInWorker(folder, timeoutMs) {
  return new Promise((resolve) => {
    const outputs = ['.run.stdout', '.run.stderr'].map((name) => fs.openSync(path.join(folder, name), 'w'));
    const written = [0, 0];
    let spoiled = false;
    let pending = 3; // the worker's exit and the end of its two streams
    let exitCode = null;
    let settled = false;
    const worker = new Worker(path.join(folder, 'main.js'), {
      stdout: true, stderr: true, argv: [], resourceLimits: { maxOldGenerationSizeMb: 512 },
    });
    const settle = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outputs.forEach((fd) => fs.closeSync(fd));
      resolve(!spoiled && exitCode === 0 && written[1] === 0);
    };
    const finish = () => {
      pending -= 1;
      if (pending === 0) settle();
    };
    [worker.stdout, worker.stderr].forEach((stream, index) => {
      stream.on('data', (chunk) => {
        if (settled) return;
        written[index] += chunk.length;
        if (written[index] >= OUTPUT_CAP) {
          spoiled = true; // the rest is read and dropped: a worker stopped while it writes may never exit
        } else {
          fs.writeSync(outputs[index], chunk);
        }
      });
      stream.on('end', finish);
    });
    const timer = setTimeout(() => { spoiled = true; worker.terminate(); }, timeoutMs);
    worker.on('error', () => { spoiled = true; });
    worker.on('exit', (code) => {
      exitCode = code;
      finish();
      // A worker that was terminated or ran out of memory may never end its streams.
      setTimeout(() => { spoiled = spoiled || !settled; settle(); }, 500).unref();
    });
  });
}

async function serve() {
  const timeoutMs = Number(process.env.HARNESS_RUN_TIMEOUT_S || '5') * 1000 / 3;
  delete process.env.HARNESS_RUN_TIMEOUT_S;
  const folders = fs.readFileSync(0, 'utf8').split('\n').filter(Boolean);
  for (const folder of folders) {
    const source = fs.readFileSync(path.join(folder, 'main.js'), 'utf8');
    if (FORBIDDEN.test(source)) continue;
    if (await runInWorker(folder, timeoutMs)) fs.writeFileSync(path.join(folder, '.run.rc'), '0\n');
  }
}

serve();
