'use strict';
// A warm `tsc --target esnext SOURCE` (run in the job folder) for many job folders.
//
// Why: a cold tsc spends nearly all of a small program's 2 s parsing, binding and type-checking
// the ~60 default lib .d.ts files. This process reads job folders on stdin and, for each, does what
// tsc's performCompilation does (same option parsing, compiler host, emitFilesAndReportErrors,
// diagnostic format and exit status: 0, or 2 with diagnostics, main.js emitted either way), with
// two savings:
// - the lib files are parsed and bound once: a bound SourceFile is reused across programs, as
//   tsc --watch and the language service reuse them;
// - the lib files' own semantic check is skipped where its result is known. At start, an empty
//   script is checked in full; say its lib files have no diagnostics (else nothing is skipped).
//   A program with exactly those lib files, whose other files are all scripts declaring no
//   top-level name that a lib file declares, cannot change what a lib file's check sees (every
//   name a lib file uses resolves to the same lib declaration, and no lib declaration merges with
//   user code), so its lib files have no diagnostics either. Any other program (a name clash, an
//   extra lib, a module, which may augment the global scope) is checked in full. A program whose
//   lib check is skipped is emitted file by file: emitting all files at once would check them all.
// Results go to FOLDER/.compile.stdout, .compile.stderr and, last, FOLDER/.compile.rc. Near the
// plain timeout a warm compile could succeed where the plain one times out, so a compile that
// throws or takes over a third of TIMEOUT_SECONDS gets no .compile.rc: the harness compiles it
// the plain way. Arguments: SOURCE_FILE TIMEOUT_SECONDS.
const fs = require('fs');
const path = require('path');
const readline = require('readline');
const ts = require('typescript');

const [sourceFile, timeoutSeconds] = process.argv.slice(2);
const budgetMs = (Number(timeoutSeconds) * 1000) / 3;
const commandLine = ts.parseCommandLine(['--target', 'esnext', sourceFile]);
const libDirectory = ts.getDirectoryPath(ts.normalizePath(ts.sys.getExecutingFilePath()));
const libSourceFiles = new Map();  // lib file name -> parsed (and, once used, bound) SourceFile
const cleanLibSets = new Map();    // lib file names joined -> global names; see checkLibFiles

function isLibFile(file) {
  return ts.getDirectoryPath(file.fileName) === libDirectory;
}

function createHost(options) {
  const host = ts.createCompilerHostWorker(options, undefined, ts.sys);
  const readSourceFile = host.getSourceFile;
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreateNewSourceFile) => {
    if (ts.getDirectoryPath(fileName) !== libDirectory || shouldCreateNewSourceFile) {
      return readSourceFile(fileName, languageVersion, onError, shouldCreateNewSourceFile);
    }
    if (!libSourceFiles.has(fileName)) {
      libSourceFiles.set(fileName, readSourceFile(fileName, languageVersion, onError));
    }
    return libSourceFiles.get(fileName);
  };
  const currentDirectory = host.getCurrentDirectory();
  const canonicalFileName = ts.createGetCanonicalFileName(host.useCaseSensitiveFileNames());
  ts.changeCompilerHostLikeToUseCache(host, (name) => ts.toPath(name, currentDirectory, canonicalFileName));
  return host;
}

function libFilesOf(program) {
  return program.getSourceFiles().filter(isLibFile);
}

function libSetKey(program) {
  return libFilesOf(program).map((file) => file.fileName).join('\n');
}

// Type-checks an empty script once: if the lib files then have no diagnostics, remember their
// global names, so programs whose own files leave those names alone can skip the lib check.
function checkLibFiles(options) {
  const warmup = ts.getNormalizedAbsolutePath('__lib_check__.ts', process.cwd());
  const host = createHost(options);
  const getSourceFile = host.getSourceFile;
  host.getSourceFile = (fileName, ...rest) => (fileName === warmup
    ? ts.createSourceFile(fileName, '', ...rest.slice(0, 1)) : getSourceFile(fileName, ...rest));
  const program = ts.createProgram({ rootNames: [warmup], options, host });
  const libs = libFilesOf(program);
  if (libs.every((file) => program.getSemanticDiagnostics(file).length === 0)) {
    const names = new Set();
    libs.forEach((file) => file.locals.forEach((_, name) => names.add(name)));
    cleanLibSets.set(libSetKey(program), names);
  }
}

function declaresNoneOf(file, names) {
  if (ts.isExternalOrCommonJsModule(file)) return false;
  let clash = false;
  file.locals.forEach((_, name) => { clash = clash || names.has(name); });
  return !clash;
}

// The program as emitFilesAndReportErrors sees it: lib semantic checks left out only when safe.
function withKnownLibChecks(program) {
  const names = cleanLibSets.get(libSetKey(program));
  if (!names) return program;
  program.getTypeChecker();  // binds every file, so each file's top-level names are known
  const userFiles = program.getSourceFiles().filter((file) => !isLibFile(file));
  if (!userFiles.every((file) => declaresNoneOf(file, names))) return program;
  const checked = Object.create(program);
  checked.getSemanticDiagnostics = (file, token) => (file ? program.getSemanticDiagnostics(file, token)
    : ts.sortAndDeduplicateDiagnostics(userFiles.flatMap((user) => program.getSemanticDiagnostics(user, token))));
  // emit(undefined) would type-check every file first; emitting file by file checks only that file.
  checked.emit = (file, ...rest) => (file ? program.emit(file, ...rest)
    : mergeEmitResults(userFiles.map((user) => program.emit(user, ...rest))));
  return checked;
}

function mergeEmitResults(results) {
  const emitted = results.filter((result) => result.emittedFiles);
  return {
    emitSkipped: results.some((result) => result.emitSkipped),
    diagnostics: results.flatMap((result) => result.diagnostics),
    emittedFiles: emitted.length ? emitted.flatMap((result) => result.emittedFiles) : undefined,
  };
}

function absoluteOptions(folder) {
  return ts.convertToOptionsWithAbsolutePaths(commandLine.options, (name) => ts.getNormalizedAbsolutePath(name, folder));
}

function compile(folder) {
  process.chdir(folder);
  const options = absoluteOptions(folder);
  const program = ts.createProgram({
    rootNames: commandLine.fileNames,
    options,
    host: createHost(options),
    configFileParsingDiagnostics: ts.getConfigFileParsingDiagnostics(commandLine),
  });
  let output = '';
  const system = {
    write: (text) => { output += text; },
    getCurrentDirectory: () => folder,
    newLine: ts.sys.newLine,
    useCaseSensitiveFileNames: ts.sys.useCaseSensitiveFileNames,
  };
  const exitStatus = ts.emitFilesAndReportErrorsAndGetExitStatus(withKnownLibChecks(program),
    ts.createDiagnosticReporter(system, false), (text) => system.write(text + system.newLine), undefined);
  return { exitStatus, output };
}

function compileAndReport(folder) {
  const started = Date.now();
  let result;
  try {
    result = compile(folder);
  } catch (error) {
    process.stderr.write(`${folder}: ${error && error.stack}\n`);
    return;
  }
  if (Date.now() - started > budgetMs) return;
  fs.writeFileSync(path.join(folder, '.compile.stdout'), result.output);
  fs.writeFileSync(path.join(folder, '.compile.stderr'), '');
  const partial = path.join(folder, '.compile.rc.partial');
  fs.writeFileSync(partial, String(result.exitStatus));
  fs.renameSync(partial, path.join(folder, '.compile.rc'));
}

checkLibFiles(absoluteOptions(process.cwd()));
const jobs = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
jobs.on('line', (line) => { if (line) compileAndReport(line); });
