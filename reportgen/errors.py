"""The project's own error types. The CLI turns them into one-line messages and exit codes."""


class ReportgenError(Exception):
    """Base class. `exit_code` is what the CLI exits with."""

    exit_code = 1


class InputError(ReportgenError):
    """Bad input or usage: a file, a column, a config value the user can fix. Exit code 2.

    The message must say what is wrong, where (file, column, row) and how to fix it,
    in one line.
    """

    exit_code = 2


class ConfigError(InputError):
    """A configuration file or value that cannot be used."""


class DeliveryError(ReportgenError):
    """Sending the report failed (SMTP refused, authentication failed, ...)."""

    exit_code = 1


class Unreachable(ReportgenError):
    """A database server that does not answer: not the input's fault, so exit code 1 (the
    same command may work a minute later)."""

    exit_code = 1
