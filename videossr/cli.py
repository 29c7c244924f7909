"""What the entry scripts share: argparse parsers whose errors are one line, and config objects.

Each script writes its flags out with plain :mod:`argparse` (``parser.add_argument(...)``, so the
script shows them) and parses them into a config dataclass with :func:`parse_config`. The
dataclass owns the defaults (:func:`parse_config` shows them in ``--help``) and the checks
(``validate()``); a :class:`~videossr.errors.ConfigError` becomes one line on stderr and exit
status 2. Flag groups several scripts take (Ray, the generators' common flags, the model backend)
are functions next to their dataclasses: :func:`videossr.parallel.add_ray_flags`, ...
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from pathlib import Path
from typing import Any, TypeVar

from videossr.errors import ConfigError

ConfigT = TypeVar("ConfigT")


class OneLineErrorParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line naming the script, not a usage dump."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def script_parser(doc: str | None, prog: str) -> OneLineErrorParser:
    """The parser of an entry script: the first paragraph of its docstring, defaults in ``--help``."""
    return OneLineErrorParser(
        prog=prog,
        description=(doc or "").split("\n\n")[0] or None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )


def _field_defaults(config_cls: type) -> dict[str, Any]:
    """The defaults of ``config_cls``'s fields, except lists (argparse appends to a default list)."""
    defaults = {}
    for f in dataclasses.fields(config_cls):
        if f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            continue
        if not isinstance(value, list):
            defaults[f.name] = value
    return defaults


def _config_of(parser: argparse.ArgumentParser, config_cls: type[ConfigT], namespace: dict[str, Any]) -> ConfigT:
    """``config_cls`` of parsed flags (a flag not given keeps the dataclass default), validated."""
    names = {f.name for f in dataclasses.fields(config_cls)}
    config = config_cls(**{k: v for k, v in namespace.items() if k in names and v is not None})
    validate = getattr(config, "validate", None)
    if validate is not None:
        try:
            validate()
        except ConfigError as exc:
            parser.error(str(exc))
    return config


def parse_config(parser: argparse.ArgumentParser, config_cls: type[ConfigT], argv: list[str] | None = None) -> ConfigT:
    """Parse ``argv`` with ``parser`` into a validated ``config_cls``; exits with status 2 on a bad value.

    Every flag's destination must be a field of ``config_cls``; the field's default is the flag's.
    """
    parser.set_defaults(**{k: v for k, v in _field_defaults(config_cls).items() if parser.get_default(k) is None})
    return _config_of(parser, config_cls, vars(parser.parse_args(argv)))


def command_parsers(doc: str | None, prog: str) -> tuple[OneLineErrorParser, Any]:
    """``prog COMMAND --flags``: the parser and its sub-parser factory (``.add_parser(name, help=)``)."""
    parser = script_parser(doc, prog)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineErrorParser)
    return parser, commands


def add_command(commands: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    """One command's parser (its flags are added by the caller)."""
    return commands.add_parser(
        name, help=help_text, description=help_text, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )


def parse_command(
    parser: argparse.ArgumentParser,
    configs: dict[str, tuple[argparse.ArgumentParser, type]],
    argv: list[str] | None = None,
) -> tuple[str, Any]:
    """Parse ``argv`` of a :func:`command_parsers` parser; returns ``(command, its validated config)``.

    ``configs``: per command, its parser and its config dataclass.
    """
    for child, config_cls in configs.values():
        child.set_defaults(**{k: v for k, v in _field_defaults(config_cls).items() if child.get_default(k) is None})
    namespace = vars(parser.parse_args(argv))
    command = namespace.pop("command")
    child, config_cls = configs[command]
    return command, _config_of(child, config_cls, namespace)


def config_to_dict(config: Any) -> dict[str, Any]:
    """JSON-ready dict of a config dataclass (paths as strings), for manifests."""

    def convert(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        return value

    return {f.name: convert(getattr(config, f.name)) for f in dataclasses.fields(config)}


def fail(message: str, prog: str | None = None) -> typing.NoReturn:
    """Print ``prog: error: message`` on one line to stderr and exit with status 2 (scripts only)."""
    prog = prog or Path(sys.argv[0]).name
    sys.stderr.write(f"{prog}: error: {message}\n")
    raise SystemExit(2)


def progress_bar(desc: str, unit: str):
    """A ``progress`` callback for the pipeline drivers: a tqdm bar over their result stream."""

    def wrap(results, total):
        from tqdm import tqdm

        with tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True) as bar:
            for result in results:
                bar.update(1)
                yield result

    return wrap
