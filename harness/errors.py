"""Errors the CLI reports on one line: bad input (exit code 2) and runs cut short (exit code 3)."""


class UsageError(Exception):
    """Bad input: an unknown task or model, a malformed spec, missing data, bad arguments.

    The message must name the bad input and say how to fix it.
    """


class RunInterrupted(Exception):
    """The run stopped before it finished for a reason outside its input: a model server went away
    or stopped answering. What finished is saved, so the same command with the same --run-dir
    resumes; the message says what failed.
    """
