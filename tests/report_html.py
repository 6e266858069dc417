"""Test helper: a rendered run report parsed strictly, and its tables and fact boxes as dictionaries."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from lxml import etree

VOID_ELEMENTS = {"meta", "img", "br", "hr", "link", "input"}


class _BalanceChecker(HTMLParser):
    """Fails on any end tag that does not close the innermost open element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in VOID_ELEMENTS:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        """`<img .../>`: opens nothing."""

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.errors.append(f"unexpected </{tag}> at {self.getpos()}")


def parse_report(path: Path) -> etree._Element:
    """Strict parse twice: tag balance with html.parser, then well-formedness with an XML parser."""
    text = path.read_text(encoding="utf-8")
    checker = _BalanceChecker()
    checker.feed(text)
    checker.close()
    assert not checker.errors and not checker.open, (checker.errors, checker.open)
    return etree.fromstring(text.encode("utf-8"), etree.XMLParser(recover=False, no_network=True))


def text_of(element: etree._Element) -> str:
    return " ".join("".join(element.itertext()).split())


def table_rows(root: etree._Element, table_id: str) -> list[dict[str, str]]:
    [table] = root.xpath(f"//table[@id='{table_id}']")
    headers = [text_of(cell) for cell in table.xpath("./thead/tr/th")]
    return [dict(zip(headers, (text_of(cell) for cell in row.xpath("./td")))) for row in table.xpath("./tbody/tr")]


def facts_of(root: etree._Element, table_id: str) -> dict[str, str]:
    [table] = root.xpath(f"//table[@id='{table_id}']")
    return {text_of(row[0]): text_of(row[1]) for row in table.xpath("./tbody/tr")}
