"""Click options built from configuration dataclasses, and `--config FILE` for every command.

A field made with `sumprobe.fields.setting` becomes one option: its name (`--batch-size`, or the
field's `flag`), its help, its type with bounds (`IntRange`, `FloatRange`, `Choice`), a
`--x/--no-x` pair for booleans, a repeatable option for tuples. The defaults come from the class,
so they are written once. `config_file_option` reads a YAML or JSON mapping of option names to
values into click's default map: options given on the command line override the file.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import click

from sumprobe.errors import DataError
from sumprobe.fields import base_type, brief, is_sequence, read_config_file


def _flag(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def param_name(f: dataclasses.Field) -> str:
    """The option's Python name: its flag's (`--blanc-rule` -> blanc_rule), so that the fields
    of different classes (two measures' `rule`) never collide on one command."""
    return _flag(f)[2:].replace("-", "_")


class OldNamesOption(click.Option):
    """An option whose old names still work but are not shown in --help."""

    def __init__(self, *args, old_names: tuple[str, ...] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.old_names = old_names

    def get_help_record(self, ctx):
        shown, self.opts = self.opts, [o for o in self.opts if o not in self.old_names]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = shown


# Shown as what they name; checked by the commands themselves, whose messages say more than
# click's ("is a file, not a folder", "inside a data folder", "holds a model").
_PATHS = {"file": (click.Path(), "FILE"), "dir": (click.Path(), "DIR"),
          "path": (click.Path(), "PATH"), "model": (None, "MODEL")}


def option_for(f: dataclasses.Field, hint, default=dataclasses.MISSING,
               choices=None, show_default: bool = True, unset: bool = False,
               help_text: str | None = None):
    """The click option of one field; `default` replaces the field's own (None: unset),
    `choices` its choices (a tuple, or a function giving them when asked: a registry),
    `help_text` its help.

    unset: the option defaults to None (the caller layers a file, a resumed run and the
    field's default itself), while --help still shows the field's default."""
    meta, kind = f.metadata, base_type(hint)
    flag = _flag(f)
    overridden = default is not dataclasses.MISSING
    if default is dataclasses.MISSING:
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    shown = "none" if default is None else str(default).lower() if kind is bool else default
    help_text = meta.get("help", "") if help_text is None else help_text
    if overridden and "[default" in help_text:  # the field's own default no longer applies
        help_text = re.sub(r"\s*\[default:[^\]]*\]", "", help_text)
    if show_default and "[default" not in help_text and default not in ((), None):
        help_text = f"{help_text}  [default: {shown}]"
    if unset:
        default = None
    old = tuple(meta.get("old_names", ()))
    common = dict(cls=OldNamesOption, old_names=old, help=help_text,
                  required=bool(meta.get("required")))
    if kind is bool:  # a flag pair: old names would read as more "on" halves, so none
        negative = meta.get("negative") or f"--no-{flag[2:]}"
        return click.option(f"{flag}/{negative}", param_name(f), default=default,
                            help=help_text)
    choices = choices or meta.get("choices")
    metavar = None
    if callable(choices):
        kind = LiveChoice(choices)
    elif choices:
        kind = click.Choice(choices)
    elif meta.get("path") in _PATHS:
        kind, metavar = _PATHS[meta["path"]]
        kind = kind or str
    elif kind is int and (meta.get("low") is not None or meta.get("high") is not None):
        kind = click.IntRange(min=meta.get("low"), max=meta.get("high"))
    elif kind is float and (meta.get("low") is not None or meta.get("high") is not None):
        kind = click.FloatRange(min=meta.get("low"), max=meta.get("high"),
                                min_open=meta.get("low_open", False))
    flags = (flag, *meta.get("aliases", ()), *old)
    if is_sequence(hint):
        return click.option(*flags, param_name(f), type=kind, multiple=True,
                            default=default or (), metavar=metavar, **common)
    return click.option(*flags, param_name(f), type=kind, default=default, metavar=metavar,
                        **common)


def options_from(cls, *, defaults: dict | None = None, choices: dict | None = None,
                 unset: bool = False, exclude: tuple[str, ...] = (), helps: dict | None = None):
    """A decorator adding one option per CLI field of `cls`.

    defaults / choices / helps: per-command replacements (a command whose data differ); unset:
    every option defaults to None, so the caller can layer file, resumed run and defaults
    itself (`given`); --help shows the field's default all the same.
    """
    defaults, choices, helps = defaults or {}, choices or {}, helps or {}
    hints = typing.get_type_hints(cls)

    def decorate(command):
        for f in reversed(dataclasses.fields(cls)):
            if not f.metadata.get("cli", True) or f.name in exclude:
                continue
            default = defaults.get(f.name, dataclasses.MISSING)
            option = option_for(f, hints[f.name], default, choices.get(f.name), unset=unset,
                                help_text=helps.get(f.name))
            command = option(command)
        return command

    return decorate


def given(cls, options: dict) -> dict:
    """{field: value} of the options of `cls` that were given (on the command line or in
    --config), for commands built with `options_from(..., unset=True)`."""
    return {f.name: options[param_name(f)] for f in dataclasses.fields(cls)
            if f.metadata.get("cli", True) and options.get(param_name(f)) not in (None, ())}


def build(cls, options: dict, **fixed):
    """An instance of `cls` from the command's options (fields it has) and `fixed` values.

    A value a check refuses becomes a usage error that names the option.
    """
    values = {f.name: options[param_name(f)] for f in dataclasses.fields(cls)
              if f.metadata.get("cli", True) and options.get(param_name(f)) is not None}
    values.update({k: v for k, v in fixed.items()
                   if k in {f.name for f in dataclasses.fields(cls)}})
    try:
        return cls(**values)
    except ValueError as error:
        raise click.UsageError(str(error)) from None


class LiveChoice(click.Choice):
    """A choice whose values are read when used, so that it sees what a registry gained after
    the CLI was built (a measure registered by a test or a late plugin)."""

    def __init__(self, values):
        self._values = values
        super().__init__(())

    @property
    def choices(self):
        return tuple(self._values())

    @choices.setter
    def choices(self, _ignored):
        pass  # click.Choice assigns its snapshot here; the values stay live


def _read_into_default_map(ctx: click.Context, param, path):
    if not path:
        return path
    try:
        values = read_config_file(path)
    except DataError as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from None
    # A key is an option's name as --help shows it (`measure`, `blanc-rule`) or its Python name;
    # the `--no-x` half of a flag pair is not a key (`any-word: true` would read backwards).
    known: dict[str, str] = {}
    hidden: set[str] = set()
    for p in ctx.command.params:
        if isinstance(p, click.Option) and p.name != "config_file":
            known[p.name] = p.name
            for opt in p.opts:
                known[opt.lstrip("-").replace("-", "_")] = p.name
            hidden.update(o.lstrip("-").replace("-", "_") for o in getattr(p, "old_names", ()))
    unknown = sorted(set(values) - set(known))
    if unknown:
        shown = sorted({k.replace("_", "-") for k in known if k not in ("help", *hidden)})
        raise click.BadParameter(f"{path}: unknown setting(s) {', '.join(unknown)}; known: "
                                 f"{', '.join(shown)}", ctx=ctx, param=param)
    multiple = {p.name for p in ctx.command.params if getattr(p, "multiple", False)}
    mapped = {}
    for key, value in values.items():
        name = known[key]
        if name == "groups" and isinstance(value, list):  # `groups: [7, 4]` reads as "7,4"
            value = ",".join(str(v) for v in value)
        scalars = value if isinstance(value, list) and name in multiple else [value]
        if not all(v is None or isinstance(v, (str, int, float, bool)) for v in scalars):
            what = "one value or a list of values" if name in multiple else "one value"
            raise click.BadParameter(f"{path}: {key} should be {what}, got "
                                     f"{type(value).__name__} {brief(value)}", ctx=ctx,
                                     param=param)
        mapped[name] = [value] if name in multiple and isinstance(value, str) else value
    ctx.default_map = {**(ctx.default_map or {}), **mapped}
    ctx.meta["sumprobe.config_file"] = path  # an input: no output may write over it
    return path


def read_inputs(**inputs) -> dict[str, list[str]]:
    """What a command reads, for `results.check_outputs`: the given option -> paths (a model
    counts when it is a local file or folder), and the `--config` file if one was read."""
    found = {f"--{name.replace('_', '-')}": [str(p) for p in paths if p and Path(p).exists()]
             for name, paths in inputs.items()}
    ctx = click.get_current_context(silent=True)
    config = ctx.meta.get("sumprobe.config_file") if ctx is not None else None
    if config:
        found["--config"] = [config]
    return found


def config_file_option(command):
    """`--config FILE`: a YAML or JSON mapping of option names (as in --help, `-` or `_`) to
    values; options given on the command line override it."""
    return click.option(
        "--config", "config_file", type=click.Path(exists=True, dir_okay=False),
        is_eager=True, expose_value=False, callback=_read_into_default_map,
        help="YAML or JSON file of option values (names as below, - or _); options given "
        "here override it.")(command)


def format_option():
    """`--format`: how a command's results reach stdout (the same choice on every command that
    prints results)."""
    return click.option("--format", "output_format",
                        type=click.Choice(("table", "markdown", "tsv", "json")),
                        default="table", show_default=True,
                        help="What goes to stdout: rich tables, the same tables as Markdown "
                        "or tab-separated values, or the results as JSON for scripts (what "
                        "--output writes, where the command has it).")


QUIET_HELP = "Results and errors only: no progress bars or notes on stderr."
VERBOSE_HELP = ("Also the libraries' own progress bars and warnings (transformers' GGUF "
                "de-quantizing, shard writing), hidden by default.")


def _chosen_level(ctx, param, value):
    from sumprobe import verbosity

    if not value:
        return value
    wanted = verbosity.QUIET if param.name == "quiet" else verbosity.VERBOSE
    earlier = ctx.find_root().meta.setdefault("sumprobe.verbosity", wanted)
    if earlier != wanted:
        raise click.UsageError("-q and -v ask for opposite things: give one")
    verbosity.set_level(wanted)
    return value


def verbosity_options() -> list[click.Option]:
    """-q / -v for a command (`sumprobe compare -q ...`), as `sumprobe -q compare ...` has."""
    return [click.Option(["-q", "--quiet"], is_flag=True, expose_value=False,
                         callback=_chosen_level, help=QUIET_HELP),
            click.Option(["-v", "--verbose"], is_flag=True, expose_value=False,
                         callback=_chosen_level, help=VERBOSE_HELP)]
