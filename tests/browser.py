"""A real headless Chromium for the report tests: screenshots and the DOM after the page's script ran.

Chromium is Debian's package (scripts/setup.sh installs it); :func:`find_chromium` returns None
when it is absent so tests can skip with the reason. Every call gets a fresh profile folder and
all of Chromium's background networking switched off, so a run never leaves state behind or
reaches out.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

VOID_TAGS = {"img", "br", "input", "meta", "hr", "link", "source", "wbr", "col", "area", "base", "embed"}


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(args: list[str], url: str, timeout_s: float = 120) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [
            find_chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            *args,
            url,
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)


def url_of(path: Path, query: str = "") -> str:
    return path.resolve().as_uri() + (f"?{query}" if query else "")


def dump_dom(path: Path, query: str = "") -> str:
    """The serialised DOM of ``path`` once loaded (its inline script has run)."""
    result = _run(["--dump-dom"], url_of(path, query))
    assert result.returncode == 0 and result.stdout.strip(), result.stderr[-2000:]
    return result.stdout


def screenshot(path: Path, target: Path, width_px: int = 1280, height_px: int = 1000) -> Path:
    """A PNG of the first ``width_px`` x ``height_px`` of the rendered page."""
    result = _run(
        [f"--screenshot={target}", f"--window-size={width_px},{height_px}", "--hide-scrollbars"], url_of(path)
    )
    assert result.returncode == 0 and target.is_file(), result.stderr[-2000:]
    return target


class Element:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Element | None = None):
        self.tag, self.attrs, self.parts, self.parent = tag, attrs, [], parent

    def inside(self, other: Element) -> bool:
        node = self.parent
        while node is not None and node is not other:
            node = node.parent
        return node is other

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())


class Dom(HTMLParser):
    """Every element of a document with its attributes and its whole text (descendants included)."""

    def __init__(self, document: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.feed(document)

    def handle_starttag(self, tag, attrs):
        element = Element(tag, dict(attrs), self._open[-1] if self._open else None)
        self.elements.append(element)
        if tag not in VOID_TAGS:
            self._open.append(element)

    def handle_endtag(self, tag):
        for k in range(len(self._open) - 1, -1, -1):
            if self._open[k].tag == tag:
                del self._open[k:]
                break

    def handle_data(self, data):
        for element in self._open:
            element.parts.append(data)

    def by_id(self, ident: str) -> Element:
        matches = [e for e in self.elements if e.attrs.get("id") == ident]
        assert len(matches) == 1, f"{len(matches)} elements with id {ident!r}"
        return matches[0]

    def with_class(self, name: str) -> list[Element]:
        return [e for e in self.elements if name in e.classes]

    def visible_items(self) -> list[Element]:
        return [e for e in self.with_class("item") if "hidden" not in e.classes]
