"""The README and docs/ say only what exists: every relative link resolves, every script and flag is real.

Links: every ``[text](target)`` and ``![alt](target)`` in README.md, CHANGELOG.md and docs/*.md
that is not a URL must name an existing file, and a ``#anchor`` must be one of the target page's
headings (GitHub's slugs). Scripts and flags: every command of the README's ``bash`` blocks that
runs one of our scripts (``python pretext_tasks/x.py``, ``bash train/train.sh``, ``python -m
videossr...``) names a file that exists and only flags its ``--help`` lists (its subcommand's, for
``eval/viubench.py run`` and ``eval/convert.py mvbench``); a flag written in prose (``--placement``)
must be listed by the ``--help`` of a script named in the same section, or appear in the
same section's command of another program (``python -m lmms_eval --tasks``), whose flags are that
program's to check.
"""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from media import REPO_ROOT

PAGES = [REPO_ROOT / "README.md", REPO_ROOT / "CHANGELOG.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9_-]*")
_OUR_SCRIPT = re.compile(r"^(?:pretext_tasks|eval|train|scripts|bench)/[\w-]+\.(?:py|sh)$")
PYTHONS = {"python", "python3", ".venv/bin/python", "$PYTHON"}


def heading_slugs(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces to hyphens."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    slugs = set()
    for line in text.splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if match:
            title = re.sub(r"[`*]", "", match.group(1)).lower()
            slugs.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return slugs


def relative_links(page: Path) -> list[str]:
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    return [t for t in _LINK.findall(text) if not re.match(r"^(?:https?|mailto):", t)]


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(REPO_ROOT).as_posix() for p in PAGES])
def test_every_relative_link_resolves(page):
    broken = []
    for target in relative_links(page):
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in heading_slugs(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_the_readme_is_a_guide_of_about_300_lines():
    assert len((REPO_ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 300


# ---------------------------------------------------------------------------------------------
# Scripts and flags
# ---------------------------------------------------------------------------------------------


def sections(text: str) -> list[str]:
    """The README cut at its ``## `` headings (fences kept whole)."""
    parts, current, fenced = [], [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if line.startswith("## ") and not fenced:
            parts.append("\n".join(current))
            current = []
        current.append(line)
    parts.append("\n".join(current))
    return parts


def commands(section: str) -> list[list[str]]:
    """Each command of the section's bash blocks, as words, environment assignments dropped."""
    found = []
    for language, body in _FENCE.findall(section):
        if language not in ("bash", "sh"):
            continue
        for line in body.replace("\\\n", " ").splitlines():
            for part in re.split(r"&&|;", line.split(" #")[0] if not line.startswith("#") else ""):
                words = shlex.split(part, posix=True)
                while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
                    words.pop(0)
                if words:
                    found.append(words)
    return found


def our_program(words: list[str]) -> tuple[list[str], list[str]] | None:
    """(the ``--help`` command prefix, the flags) of a command running one of our scripts, else None."""
    if words[0] in PYTHONS and len(words) > 2 and words[1] == "-m" and words[2].startswith("videossr."):
        prefix, rest = [sys.executable, "-m", words[2]], words[3:]
    elif words[0] in PYTHONS and len(words) > 1 and _OUR_SCRIPT.match(words[1]):
        prefix, rest = [sys.executable, words[1]], words[2:]
    elif words[0] == "bash" and len(words) > 1 and _OUR_SCRIPT.match(words[1]):
        prefix, rest = ["bash", words[1]], words[2:]
    elif _OUR_SCRIPT.match(words[0]):  # written without its interpreter: `train/train.sh --dry-run`
        words = ["bash" if words[0].endswith(".sh") else "python", *words]
        prefix, rest = ["bash" if words[0] == "bash" else sys.executable, words[1]], words[2:]
    else:
        return None
    if rest and not rest[0].startswith("-") and words[1] in ("eval/viubench.py", "eval/convert.py"):
        prefix = [*prefix, rest[0]]  # a subcommand: its own flags
    return prefix, [w.split("=")[0] for w in rest if _FLAG.fullmatch(w.split("=")[0])]


@functools.cache
def help_text(prefix: tuple[str, ...]) -> str:
    result = subprocess.run([*prefix, "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{' '.join(prefix)} --help failed:\n{result.stderr[-2000:]}"
    return result.stdout


README_SECTIONS = sections((REPO_ROOT / "README.md").read_text(encoding="utf-8"))


@pytest.mark.slow
@pytest.mark.parametrize("section", README_SECTIONS, ids=[s.splitlines()[0][:40] for s in README_SECTIONS])
def test_every_script_and_flag_the_readme_names_exists(section):
    problems = []
    helps, foreign_flags = [], set()
    for words in commands(section):
        program = our_program(words)
        if program is None:
            foreign_flags.update(w.split("=")[0] for w in words if _FLAG.fullmatch(w.split("=")[0]))
            continue
        prefix, flags = program
        script = prefix[1] if prefix[0] == "bash" else (prefix[1] if prefix[1] != "-m" else None)
        if script and not (REPO_ROOT / script).is_file():
            problems.append(f"{script}: no such script")
            continue
        if prefix[0] == "bash" and not flags:
            continue  # a shell script without flags may not take --help: it would run
        text = help_text(tuple(prefix))
        helps.append(text)
        problems += [f"{' '.join(prefix[1:])}: --help does not list {f}" for f in flags if f not in text]
    inline = _INLINE_CODE.findall(_FENCE.sub("", section))
    for code in inline:  # a script named in prose (`python pretext_tasks/x.py`) documents its flags too
        words = code.split()
        program = our_program(words) if words else None
        script = program[0][1] if program else ""
        if program and (REPO_ROOT / script).is_file() and (program[0][0] != "bash" or program[1]):
            helps.append(help_text(tuple(program[0])))
    for code in inline:
        for name in re.findall(r"(?:pretext_tasks|eval|train|scripts|bench)/[\w-]+\.(?:py|sh)", code):
            if not (REPO_ROOT / name).is_file():
                problems.append(f"{name}: no such script")
        for flag in _FLAG.findall(code):
            if flag not in foreign_flags and not any(re.search(rf"{flag}(?![\w-])", text) for text in helps):
                problems.append(f"{flag} (in `{code}`): listed by no --help of this section's scripts")
    assert not problems, "\n".join(problems)
