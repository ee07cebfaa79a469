"""How every command reports a failure: one clear line, a non-zero exit, no traceback."""

from __future__ import annotations

import functools
import sys

import click

from sumprobe.errors import Interrupted, OptionError, SumprobeError


def errors_to_messages(command):
    """Turn the library's errors into click's one-line errors (exit code 1; a bad option 2),
    Ctrl-C into 130."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except OptionError as error:
            raise click.BadParameter(error.message, param_hint=error.option) from None
        except Interrupted as error:
            click.echo(str(error), err=True)
            sys.exit(130)
        except SumprobeError as error:
            raise click.ClickException(str(error)) from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper
