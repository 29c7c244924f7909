"""Turn a config dataclass into command-line flags, and report errors in one line.

Each script owns one dataclass; every field becomes ``--field-name``. The field's ``metadata``
carries ``help`` (required for a flag to be documented) and optionally ``required=True``,
``positional=True`` (a bare argument instead of a flag), ``choices`` or ``metavar``. Supported field
types: ``str``, ``int``, ``float``, ``bool`` (``--x`` / ``--no-x``),
``Path``, ``X | None`` and ``list[X]`` (flag repeatable: ``--video-dir A --video-dir B``).

Precedence is defaults < command line. The dataclass's ``validate()`` (if any) runs after parsing;
a :class:`~videossr.errors.ConfigError` it raises is printed as one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from videossr.errors import ConfigError

ConfigT = TypeVar("ConfigT")


class OneLineErrorParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line naming the script, not a usage dump."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _unwrap_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _add_field(parser: argparse.ArgumentParser, field: dataclasses.Field, field_type: Any) -> None:
    flag = "--" + field.name.replace("_", "-")
    meta = dict(field.metadata)
    kwargs: dict[str, Any] = {"help": meta.get("help", ""), "dest": field.name}
    if "choices" in meta:
        kwargs["choices"] = meta["choices"]
    if "metavar" in meta:
        kwargs["metavar"] = meta["metavar"]
    tp = _unwrap_optional(field_type)
    default = (
        field.default
        if field.default is not dataclasses.MISSING
        else (field.default_factory() if field.default_factory is not dataclasses.MISSING else None)
    )
    if meta.get("positional"):
        flag = field.name
        kwargs.pop("dest")
        kwargs["metavar"] = meta.get("metavar", field.name.upper())
        if not meta.get("required"):
            kwargs["nargs"] = "?"
            kwargs["default"] = default
    elif meta.get("required"):
        kwargs["required"] = True
    else:
        kwargs["default"] = default
    if tp is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif typing.get_origin(tp) is list:
        (item_type,) = typing.get_args(tp)
        kwargs["action"] = "append"
        kwargs["type"] = item_type
        kwargs["default"] = None
    else:
        kwargs["type"] = tp
    parser.add_argument(flag, **kwargs)


def _build(config_cls: type, namespace: dict[str, Any]) -> Any:
    """The config of parsed flags; repeatable flags given zero times get their default."""
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        if typing.get_origin(_unwrap_optional(hints[field.name])) is list and namespace.get(field.name) is None:
            namespace[field.name] = field.default_factory() if field.default_factory is not dataclasses.MISSING else []
    return config_cls(**namespace)


def build_parser(config_cls: type, description: str | None = None, prog: str | None = None) -> argparse.ArgumentParser:
    """An argument parser with one flag per field of ``config_cls``."""
    parser = OneLineErrorParser(
        prog=prog,
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        if field.init:
            _add_field(parser, field, hints[field.name])
    return parser


def parse_config(
    config_cls: type[ConfigT], argv: list[str] | None = None, description: str | None = None, prog: str | None = None
) -> ConfigT:
    """Parse ``argv`` into a validated ``config_cls``; exits with status 2 on a bad value."""
    parser = build_parser(config_cls, description, prog)
    config = _build(config_cls, vars(parser.parse_args(argv)))
    try:
        validate = getattr(config, "validate", None)
        if validate is not None:
            validate()
    except ConfigError as exc:
        parser.error(str(exc))
    return config


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


def parse_subcommand(
    commands: dict[str, tuple[type, str]],
    argv: list[str] | None = None,
    description: str | None = None,
    prog: str | None = None,
) -> tuple[str, Any]:
    """``prog COMMAND --flags``: one config dataclass per command; returns ``(command, config)``."""
    parser = OneLineErrorParser(prog=prog, description=description)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineErrorParser)
    for name, (config_cls, help_text) in commands.items():
        child = sub.add_parser(
            name, help=help_text, description=help_text, formatter_class=argparse.ArgumentDefaultsHelpFormatter
        )
        hints = typing.get_type_hints(config_cls)
        for field in dataclasses.fields(config_cls):
            if field.init:
                _add_field(child, field, hints[field.name])
    namespace = vars(parser.parse_args(argv))
    command = namespace.pop("command")
    config = _build(commands[command][0], namespace)
    validate = getattr(config, "validate", None)
    if validate is not None:
        try:
            validate()
        except ConfigError as exc:
            parser.error(f"{command}: {exc}")
    return command, config
