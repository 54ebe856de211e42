//! Compiles a chunk of Rust programs with one rustc call per group of 24 instead of one each.
//!
//! Why: a rustc call costs about 0.4 s however small the program, most of it start-up, loading
//! the standard library's metadata and linking; 24 programs in one crate compile in about 1 s.
//!
//! How: each program becomes a module of one crate, `mod pN { include!("<folder>/main.rs"); pub fn
//! harness_entry() { main() } }`, and the crate's own `main` runs the module whose number is
//! written in a marker string in the binary. Each program's folder gets its own copy of the binary
//! as `main` with its number patched in, so `./main` runs that program alone, in its own sandbox,
//! exactly as the plain `rustc main.rs -o main` binary would: same compiler, flags and standard
//! library, the program's code unchanged and run from the process's main thread.
//!
//! Panic messages: rustc knows one source file per (remapped) name, so each program's folder is
//! remapped to `pN/` (remapping all of them to nothing would compile program 0 N times). The
//! crate's `main` installs a panic hook that prints what Rust 1.63's default hook prints (`thread
//! 'NAME' panicked at 'MESSAGE', FILE:LINE:COLUMN`, and the RUST_BACKTRACE note after the first
//! panic) with the `pN/` taken off, so stderr reads `main.rs:LINE:COLUMN` as in the plain build.
//!
//! What it leaves to the plain compile (no `.compile.rc` written, see batch_compile.py):
//! - programs whose text could mean something else inside a module, or reach the crate around it:
//!   inner attributes (`#!`), `crate::`, `super::`, `$crate`, `::main`, `extern`, `include`,
//!   `file!`, `module_path!`, `type_name`, `panic::` (a hook or location of its own),
//!   `RUST_BACKTRACE` (the hook prints no backtrace), and anything
//!   naming this driver's own items;
//! - programs that fail to compile in a group (found with a check-only call without path
//!   remapping, whose diagnostics name the folder): the others are grouped again, up to 3 times,
//!   and every compile error is reported by the plain compile, never by this driver;
//! - a whole group whose rustc call takes longer than one program's compile timeout, so that a
//!   program too slow to compile alone can never pass here.
//!
//! Usage: batch-rustc SOURCE_FILE TIMEOUT_S [RUSTC FLAGS...] < folders (one path per line).

use std::collections::HashSet;
use std::fs;
use std::io::{self, BufRead, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

const MARKER: &[u8] = b"HARNESS-RS-BATCH-ENTRY:";
const DIGITS: usize = 8;
const GROUP: usize = 24;
const ROUNDS: usize = 3;
const WORK: &str = "/tmp/harness-batch-rustc";
const REFUSED: [&str; 15] = [
    "#!", "crate::", "super::", "$crate", "::main", "extern", "include", "file!", "module_path!",
    "type_name", "panic::", "RUST_BACKTRACE", "harness_entry", "harness_report_panic", "HARNESS-RS-BATCH",
];
// The crate's own items besides the program modules: the entry marker, the panic hook and `main`.
const CRATE_MAIN: &str = r#"
static HARNESS_FIRST_PANIC: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

fn harness_report_panic(info: &std::panic::PanicInfo, prefix: &str) {
    use std::io::Write;
    let message = match info.payload().downcast_ref::<&'static str>() {
        Some(text) => *text,
        None => match info.payload().downcast_ref::<String>() {
            Some(text) => &text[..],
            None => "Box<dyn Any>",
        },
    };
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("<unnamed>");
    let location = info.location().unwrap();
    let file = location.file().strip_prefix(prefix).unwrap_or(location.file());
    let mut err = std::io::stderr();
    let _ = writeln!(err, "thread '{}' panicked at '{}', {}:{}:{}", name, message, file, location.line(),
                     location.column());
    if HARNESS_FIRST_PANIC.swap(false, std::sync::atomic::Ordering::SeqCst) {
        let _ = writeln!(err, "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace");
    }
}

fn main() {
    let entry = unsafe { std::ptr::read_volatile(&ENTRY) };
    let number: usize = std::str::from_utf8(&entry[ENTRY.len() - DIGITS..]).unwrap().parse().unwrap();
    let prefix = format!("p{}/", number);
    std::panic::set_hook(Box::new(move |info| harness_report_panic(info, &prefix)));
    harness_run(number);
}
"#;

struct Settings {
    source_file: String,
    binary_name: String,
    timeout: Duration,
    flags: Vec<String>,
}

enum Build {
    Done(Vec<u8>),
    Failed,
    TooSlow,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: batch-rustc SOURCE_FILE TIMEOUT_S [RUSTC FLAGS...] < folders");
        std::process::exit(2);
    }
    let source_file = args[1].clone();
    let settings = Settings {
        binary_name: source_file.trim_end_matches(".rs").to_string(),
        source_file,
        timeout: Duration::from_secs_f64(args[2].parse().expect("TIMEOUT_S must be a number")),
        flags: args[3..].to_vec(),
    };
    fs::create_dir_all(WORK).expect("cannot create the driver's folder in /tmp");
    let folders: Vec<String> = io::stdin().lock().lines().map_while(Result::ok)
        .map(|line| line.trim().to_string()).filter(|line| !line.is_empty()).collect();
    let eligible: Vec<String> = folders.into_iter().filter(|folder| eligible(folder, &settings)).collect();
    for group in eligible.chunks(GROUP) {
        compile_group(group.to_vec(), &settings);
    }
}

/// Whether the program in `folder` means the same inside a module as alone.
fn eligible(folder: &str, settings: &Settings) -> bool {
    match fs::read_to_string(Path::new(folder).join(&settings.source_file)) {
        Ok(source) => source.contains("fn main()") && !REFUSED.iter().any(|word| source.contains(word)),
        Err(_) => false,
    }
}

fn compile_group(mut members: Vec<String>, settings: &Settings) {
    for _ in 0..ROUNDS {
        if members.is_empty() {
            return;
        }
        match build(&members, settings) {
            Build::Done(binary) => {
                distribute(&binary, &members, settings);
                return;
            }
            Build::TooSlow => return,
            Build::Failed => {
                let failing = failing_folders(&members, settings);
                if failing.is_empty() {
                    return; // an error no program is named in: leave the whole group to the plain compile
                }
                members.retain(|member| !failing.contains(member));
            }
        }
    }
}

fn crate_source(members: &[String], settings: &Settings) -> String {
    let mut text = String::new();
    for (index, folder) in members.iter().enumerate() {
        text += &format!("mod p{index} {{ include!(\"{folder}/{}\"); pub fn harness_entry() {{ main() }} }}\n",
                         settings.source_file);
    }
    let marker = String::from_utf8(MARKER.to_vec()).unwrap();
    text += &format!("static ENTRY: [u8; {}] = *b\"{marker}{}\";\n", MARKER.len() + DIGITS, "0".repeat(DIGITS));
    text += &format!("const DIGITS: usize = {DIGITS};\n");
    text += CRATE_MAIN;
    text += "\nfn harness_run(number: usize) {\n    match number {\n";
    for index in 0..members.len() {
        text += &format!("        {index} => p{index}::harness_entry(),\n");
    }
    text += "        _ => unreachable!(),\n    }\n}\n";
    text
}

/// Runs rustc on the group's crate; None if it outlived `limit` (it is killed).
fn rustc(arguments: &[String], limit: Duration) -> Option<(bool, String)> {
    let started = Instant::now();
    let mut child = Command::new("rustc").args(arguments).stdin(Stdio::null()).stdout(Stdio::null())
        .stderr(Stdio::piped()).spawn().expect("cannot start rustc");
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = { stderr }.read_to_string(&mut text);
        text
    });
    loop {
        if let Some(status) = child.try_wait().expect("cannot wait for rustc") {
            return Some((status.success(), reader.join().unwrap_or_default()));
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        sleep(Duration::from_millis(10));
    }
}

fn build(members: &[String], settings: &Settings) -> Build {
    let root = format!("{WORK}/batch.rs");
    let output = format!("{WORK}/batch");
    fs::write(&root, crate_source(members, settings)).expect("cannot write the batch crate");
    let mut arguments = settings.flags.clone();
    arguments.extend([root, "-o".to_string(), output.clone()]);
    arguments.extend(members.iter().enumerate()
        .map(|(index, folder)| format!("--remap-path-prefix={folder}/=p{index}/")));
    match rustc(&arguments, settings.timeout) {
        None => Build::TooSlow,
        Some((true, _)) => Build::Done(fs::read(&output).expect("rustc left no binary")),
        Some((false, _)) => Build::Failed,
    }
}

/// The members the compiler's errors name, from a check-only call (`--error-format=short`: one
/// line per diagnostic, `path:line:column: error...`).
fn failing_folders(members: &[String], settings: &Settings) -> HashSet<String> {
    let mut arguments = settings.flags.clone();
    arguments.extend([format!("{WORK}/batch.rs"), "--emit=metadata".to_string(), "-o".to_string(),
                      format!("{WORK}/check.rmeta"), "--error-format=short".to_string()]);
    let diagnostics = match rustc(&arguments, settings.timeout * 2) {
        Some((_, diagnostics)) => diagnostics,
        None => return HashSet::new(),
    };
    let mut failing = HashSet::new();
    for line in diagnostics.lines().filter(|line| line.contains(": error")) {
        for folder in members {
            if line.starts_with(&format!("{folder}/{}:", settings.source_file)) {
                failing.insert(folder.clone());
            }
        }
    }
    failing
}

/// Each member's copy of the binary, its number patched into the marker, then its compile outcome.
fn distribute(binary: &[u8], members: &[String], settings: &Settings) {
    let found: Vec<usize> = binary.windows(MARKER.len()).enumerate()
        .filter(|(_, window)| *window == MARKER).map(|(offset, _)| offset).collect();
    if found.len() != 1 {
        eprintln!("batch-rustc: the entry marker occurs {} times in the binary; leaving the group", found.len());
        return;
    }
    let digits_at = found[0] + MARKER.len();
    for (index, folder) in members.iter().enumerate() {
        let mut copy = binary.to_vec();
        copy[digits_at..digits_at + DIGITS].copy_from_slice(format!("{index:0width$}", width = DIGITS).as_bytes());
        let target = Path::new(folder).join(&settings.binary_name);
        let written = fs::write(&target, &copy)
            .and_then(|_| fs::set_permissions(&target, fs::Permissions::from_mode(0o755)))
            .and_then(|_| fs::write(Path::new(folder).join(".compile.stdout"), ""))
            .and_then(|_| fs::write(Path::new(folder).join(".compile.stderr"), ""))
            .and_then(|_| fs::write(Path::new(folder).join(".compile.rc"), "0\n"));
        if let Err(error) = written {
            eprintln!("batch-rustc: {folder}: {error}");
        }
    }
}
