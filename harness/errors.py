"""Errors the user can fix. The CLI prints their message on one line and exits with code 2."""


class UsageError(Exception):
    """Bad input: an unknown task or model, a malformed spec, missing data, bad arguments.

    The message must name the bad input and say how to fix it.
    """
