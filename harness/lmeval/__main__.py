"""`python -m harness.lmeval ARGS`: lm-eval's own command line, with `--model harness` known.

lm-eval 0.4.13 discovers models only through its in-process registry (no entry points or
plugins), so plain `lm_eval --model harness` cannot find the harness; this registers the model
and hands every argument to lm-eval's CLI unchanged:

    python -m harness.lmeval --model harness --model_args spec=hf:Qwen/Qwen2.5-0.5B --tasks arc_easy
"""

from __future__ import annotations

import sys

from harness.errors import UsageError


def main() -> None:
    """Register `harness`, then run lm-eval's CLI; a harness UsageError exits 2 with its message."""
    from harness.lmeval import register

    register()
    from lm_eval.__main__ import cli_evaluate

    sys.argv[0] = "lm-eval"
    try:
        cli_evaluate()
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from error


if __name__ == "__main__":
    main()
