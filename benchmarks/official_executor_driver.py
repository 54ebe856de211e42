"""Runs CRUXEval-X's official executor on programs, inside one of our language trees.

benchmarks/cruxeval_official_verdicts.py copies this file, the official
`MutiPL-E/evaluation/src` folder (as `src/`) and a `programs.jsonl` into a work folder, and runs
`python3 driver.py EVALUATOR` in the language's sandbox tree, where the Debian toolchains our
sandboxes use are installed (the reference notes, cruxeval-x-official-executor.md, ran the same
code on a host with the same packages installed). Each program goes through
`containerized_eval.eval_string_script(EVALUATOR, program)`, one at a time, exactly as the
official scripts call it; the only change is the javatuples path the Java evaluator hard-codes
(`/usr/multiple/javatuples-1.2.jar`, a symlink in the reference run), pointed at the Debian jar.
One JSON line per program goes to verdicts.jsonl: status, exit code and the first 2 KB of
stdout and stderr, as the official function returns them.

Runs under the tree's python3 (3.9 to 3.13): standard library only.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEBIAN_JAVATUPLES = "/usr/share/java/javatuples-1.2.jar"


def main() -> None:
    evaluator = sys.argv[1]
    sys.path.insert(0, str(HERE / "src"))
    import eval_java

    eval_java.Path = lambda name: Path(DEBIAN_JAVATUPLES if name == "/usr/multiple/javatuples-1.2.jar" else name)
    import containerized_eval

    with open(HERE / "programs.jsonl", encoding="utf-8") as source, \
            open(HERE / "verdicts.jsonl", "w", encoding="utf-8") as verdicts:
        for line in source:
            program = json.loads(line)["program"]
            try:
                result = containerized_eval.eval_string_script(evaluator, program)
                row = {key: result[key] for key in ("status", "exit_code", "stdout", "stderr")}
            except Exception as error:  # the official function raises on a missing toolchain
                row = {"status": f"raised {type(error).__name__}: {error}", "exit_code": None,
                       "stdout": "", "stderr": ""}
            verdicts.write(json.dumps(row) + "\n")
            verdicts.flush()


if __name__ == "__main__":
    main()
