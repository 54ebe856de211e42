// Runs many CRUXEval-X JavaScript programs (and TypeScript ones, once tsc has emitted them) in one
// node process, each in a worker thread of its own. sandboxes/ts/WarmRun.js is a link to this file.
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
// With --compiled (TypeScript, whose [warm] command runs tsc_batch.js first): a folder runs here
// only if its compile succeeded (.compile.rc holds 0), and after the last program every folder is
// put back as the compiler left it (source, main.js, .compile.* reports), so a program left to the
// plain path runs the main.js tsc emitted, whatever an earlier program of the chunk did.
//
// What it decides, and what it leaves to a fresh process: .run.rc (always 0) is written only for a
// worker that ended by itself with exit code 0, within a third of the run timeout, in at most
// 512 MB of heap, with nothing on stderr and less than 1 MB on stdout. Anything else (a failed
// assertion, an uncaught exception: node prints its stack with this process's frames) runs plain.
// A worker shares the process, its file system access and its environment, so sources that
// mention what could reach beyond the program (modules other than assert, `process`, the file
// system, evaluation, shared memory, the module system's internals, the module wrapper's
// `arguments`, whose second is `require`) are not run here at all (FORBIDDEN below). Every program
// without .run.rc runs in a sandbox of its own, so this runner can only save time.
//
// What no program can do, even one that gets past the filter, through a process it starts (a
// shell, say): change another program's report. This process runs as pid 2 (the [warm] command
// execs it) from an execute-only copy of node (bin/node-warm, made by the setup in language.toml:
// node has no prctl, and the kernel makes a process that execs a binary it cannot read not
// dumpable, so nothing it starts can open its memory or descriptors under /proc; if node-warm is
// readable, the runner decides nothing). It reads every source before running any; before each
// program it empties that program's folder (then writes its source back), /tmp and /dev/shm;
// after each it kills every other process of the sandbox (kill(-1) spares only bubblewrap's init
// and this process), keeps the program's outputs in memory and writes its report (so that a
// runner killed later, by an in-process memory bomb say, keeps what it decided); and after the
// last program, when nothing else runs, it removes every report in the job folders and writes
// again those it decided. If the sandbox does not settle within 2 s (a child of a worker that node
// cannot reap, for example), it decides nothing more and writes no report at the end. A folder an
// earlier program replaced by a link is neither run nor reported.
//
// What it does NOT guarantee: a worker is a thread of this process, so a program that gets past
// the filter to node's APIs runs inside the runner itself and can reach its memory (through
// /proc/self/mem, a native addon, ...) and so forge any report; the filter is the only barrier
// against that. A process a program starts can kill the runner (or exhaust the memory it shares
// with it): the harness then reads none of the batch's reports (it believes only a runner that
// exited 0), so the chunk runs plain.
//
// What a program shares with the others of its chunk: the process (its heap limits, its
// environment, read access to the toolchain) and the batch sandbox's limits; one program runs at a
// time.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { Worker } = require('node:worker_threads');

const OUTPUT_CAP = 1 << 20;
const SHARED_SCRATCH = ['/tmp', '/dev/shm']; // writable by every program of the chunk: emptied before each
const SETTLE_MS = 2000; // how long the runner waits for the sandbox to hold no process but itself
const REPORTS = ['.run.stdout', '.run.stderr', '.run.rc'];
const COMPILED = process.argv.includes('--compiled');
const FORBIDDEN = new RegExp([
  String.raw`require\s*\(\s*(?!['"](node:)?assert(\/strict)?['"]\s*\))`, String.raw`\bprocess\b`, String.raw`\bimport\b`,
  String.raw`\beval\b`, String.raw`\bFunction\b`, String.raw`globalThis`, String.raw`\bglobal\b`, String.raw`__filename`,
  String.raw`__dirname`, String.raw`\bmodule\b`, String.raw`\bexports\b`, String.raw`require\.`, String.raw`SharedArrayBuffer`,
  String.raw`Atomics`, String.raw`WebAssembly`, String.raw`\bfetch\b`, String.raw`\barguments\b`, String.raw`HARNESS`,
].join('|'));

// Resolves to the worker's stdout if it passed quietly (see the header), else to null.
function runInWorker(folder, timeoutMs) {
  return new Promise((resolve) => {
    const outputs = [[], []];
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
      resolve(!spoiled && exitCode === 0 && written[1] === 0 ? Buffer.concat(outputs[0]) : null);
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
          outputs[index].push(chunk);
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

// Removes what `folder` holds (not the folder), whatever an earlier program left there.
function empty(folder) {
  fs.chmodSync(folder, 0o777);
  for (const entry of fs.readdirSync(folder)) fs.rmSync(path.join(folder, entry), { recursive: true, force: true });
}

// Whether `folder` is still the folder the harness made, not a link an earlier program put there.
function genuine(folder) {
  try {
    return fs.realpathSync(folder) === folder && fs.statSync(folder).isDirectory();
  } catch (error) {
    return false;
  }
}

// Kills every process of the sandbox but this one and bubblewrap's init; false if they keep coming.
function killTheRest() {
  const deadline = Date.now() + SETTLE_MS;
  while (Date.now() < deadline) {
    try {
      process.kill(-1, 'SIGKILL');
    } catch (error) {
      return error.code === 'ESRCH';
    }
  }
  return false;
}

// What each folder holds before any program runs: its regular files by name (main.js, and with
// --compiled the TypeScript source and the compiler's reports).
function snapshot(folders) {
  const contents = new Map();
  for (const folder of folders) {
    const files = new Map();
    try {
      for (const name of fs.readdirSync(folder)) {
        const file = path.join(folder, name);
        if (fs.lstatSync(file).isFile()) files.set(name, fs.readFileSync(file));
      }
    } catch (error) {
      continue; // unreadable: neither run here nor put back
    }
    contents.set(folder, files);
  }
  return contents;
}

// Whether the folder's program runs here: it has main.js and, with --compiled, compiled cleanly.
function runnable(files) {
  return files.has('main.js') && (!COMPILED || String(files.get('.compile.rc') || '').trim() === '0');
}

// Writes `files` into `folder`, a .compile.rc last (the harness reads a compile only once it is there).
function restore(folder, files) {
  const names = [...files.keys()].sort((a, b) => (a === '.compile.rc') - (b === '.compile.rc'));
  for (const name of names) fs.writeFileSync(path.join(folder, name), files.get(name));
}

async function decide(contents, timeoutMs) {
  const reports = new Map(); // folder -> stdout of a quiet pass
  for (const [folder, files] of contents) {
    if (!runnable(files) || FORBIDDEN.test(files.get('main.js').toString('utf8')) || !genuine(folder)) continue;
    try {
      [folder, ...SHARED_SCRATCH].forEach(empty);
      restore(folder, new Map([...files].filter(([name]) => !name.startsWith('.'))));
    } catch (error) {
      continue; // a folder this runner cannot empty is left to the plain path
    }
    const stdout = await runInWorker(folder, timeoutMs);
    if (!killTheRest()) return new Map(); // something outlived SIGKILL: trust nothing this chunk did
    if (stdout !== null) {
      reports.set(folder, stdout);
      write(folder, stdout);
    }
  }
  return reports;
}

function write(folder, stdout) {
  fs.writeFileSync(path.join(folder, '.run.stdout'), stdout);
  fs.writeFileSync(path.join(folder, '.run.stderr'), '');
  fs.writeFileSync(path.join(folder, '.run.rc'), '0\n');
}

function report(folders, contents, reports) {
  for (const folder of folders.filter(genuine)) {
    try {
      if (COMPILED) {
        empty(folder);
        restore(folder, contents.get(folder) || new Map());
      }
      for (const name of REPORTS) {
        fs.chmodSync(folder, 0o777);
        fs.rmSync(path.join(folder, name), { recursive: true, force: true });
      }
    } catch (error) {
      reports.delete(folder); // a folder it cannot clear is not reported on
    }
  }
  for (const [folder, stdout] of reports) {
    if (genuine(folder)) write(folder, stdout);
  }
}

async function serve() {
  const timeoutMs = Number(process.env.HARNESS_RUN_TIMEOUT_S || '5') * 1000 / 3;
  delete process.env.HARNESS_RUN_TIMEOUT_S;
  const folders = fs.readFileSync(0, 'utf8').split('\n').filter(Boolean);
  let dumpable = true;
  try {
    fs.accessSync(process.execPath, fs.constants.R_OK);
  } catch (error) {
    dumpable = false;
  }
  const contents = snapshot(folders);
  const reports = dumpable ? new Map() : await decide(contents, timeoutMs);
  report(folders, contents, reports);
}

serve();
