"""What a document may load: nothing from outside its template folders.

A letter goes to a supplier; a template comes from an institution's folder, which whoever edits it controls. So a
rendered document may refer to images, fonts and stylesheets only inside the shipped templates or the
institution's template folder (links included: a symbolic link out of the folder is refused), or embed an image
as a ``data:`` URL. Every other reference (``file:``, ``http(s):``, a path out of the folder, a PDF attachment)
stops the document with an input error naming the template, before any file is written; the PDF renderer is
given a fetcher that refuses the same, in case a reference slips past the check. What the allowed resources
carry as text (an SVG's labels, a stylesheet's ``content:``) is read by the redaction check with the rest.
"""

from __future__ import annotations

import base64
import html.parser
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from pathlib import Path

import jinja2

from compliance.errors import InputError, Problem

#: The kinds of file a template folder may provide to a document.
ASSET_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".css", ".woff", ".woff2", ".ttf",
                            ".otf"})
#: Embedded data a document may carry: images only.
DATA_URL = re.compile(r"^data:image/(png|jpeg|gif|webp|svg\+xml)(;[a-z0-9=.+-]+)*,", re.IGNORECASE)
#: Links a reader may follow (never fetched while the document is made).
LINK_SCHEMES = ("http:", "https:", "mailto:", "tel:")
#: Attributes whose value a renderer fetches.
RESOURCE_ATTRIBUTES = frozenset({"src", "srcset", "href", "xlink:href", "poster", "data", "background", "action",
                                 "formaction", "cite", "longdesc", "usemap", "manifest", "icon", "codebase",
                                 "archive", "ping", "lowsrc", "dynsrc"})
#: Attributes that place or size things (SVG charts, tables): numbers and units, not text a reader sees. Read by
#: the redaction check only when they hold something that looks like a pseudonym or an address.
GEOMETRY_ATTRIBUTES = frozenset({"x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "rx", "ry", "dx", "dy", "d",
                                 "width", "height", "points", "viewbox", "transform", "stroke-width", "font-size",
                                 "stroke-dasharray", "offset", "opacity", "fill-opacity", "stroke-opacity",
                                 "colspan", "rowspan", "span", "tabindex"})
CSS_REFERENCE = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)|@import\s+(['"])(.*?)\3""", re.IGNORECASE | re.DOTALL)
CSS_STRING = re.compile(r"""(['"])((?:\\.|(?!\1).)*)\1""", re.DOTALL)


class ConfinedLoader(jinja2.FileSystemLoader):
    """A template folder whose templates are files inside it: a link that leads out of the folder is refused."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, object]:
        source, filename, uptodate = super().get_source(environment, template)
        folders = [Path(folder).resolve() for folder in self.searchpath]
        if not any(Path(filename).resolve().is_relative_to(folder) for folder in folders):
            raise InputError([Problem(filename, None, "template", "is a link to a file outside the template folder; "
                                      "a template folder must hold its templates itself")])
        return source, filename, uptodate


def roots_of(environment: jinja2.Environment) -> list[Path]:
    """The template folders of an environment, the institution's first: where its documents' assets may be."""
    loaders = getattr(environment.loader, "loaders", [environment.loader])
    return [Path(folder).resolve() for loader in loaders for folder in getattr(loader, "searchpath", [])]


def local_asset(reference: str, roots: Sequence[Path]) -> Path | None:
    """The file a relative reference (or a file: URL the renderer made of one) names inside one of `roots`, if it
    is an allowed kind of asset there; None otherwise."""
    parsed = urllib.parse.urlsplit(reference)
    if parsed.scheme == "file":
        candidates = [Path(urllib.parse.unquote(parsed.path))]
    elif parsed.scheme or parsed.netloc or reference.startswith(("/", "\\")):
        return None
    else:
        candidates = [root / urllib.parse.unquote(parsed.path) for root in roots]
    for candidate in candidates:
        path = candidate.resolve()
        if path.suffix.lower() in ASSET_SUFFIXES and path.is_file() and any(path.is_relative_to(r) for r in roots):
            return path
    return None


class _References(html.parser.HTMLParser):
    """Every reference a document makes, as (tag, attribute, value, is_link), and the text it hides in attributes
    and style sheets."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.references: list[tuple[str, str, str, bool]] = []
        self.hidden: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): value or "" for name, value in attrs}
        attachment = "attachment" in values.get("rel", "").lower().split()
        for name, value in values.items():
            if attachment and name == "href":
                self.references.append((tag, "attachment", value.strip(), False))
            elif name == "style":
                self._css(tag, value)
            elif name in RESOURCE_ATTRIBUTES:
                is_link = tag in ("a", "area") and name == "href" and not attachment
                for part in (_srcset(value) if name == "srcset" else [value]):
                    self.references.append((tag, name, part.strip(), is_link))
            elif name not in GEOMETRY_ATTRIBUTES or "@" in value or "_" in value:
                self.hidden.append(value)
        self._in_style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self._in_style = False

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self._css("style", data)

    def _css(self, tag: str, css: str) -> None:
        for match in CSS_REFERENCE.finditer(css):
            self.references.append((tag, "style", (match.group(2) or match.group(4) or "").strip(), False))
        self.hidden += [m.group(2) for m in CSS_STRING.finditer(CSS_REFERENCE.sub("", css))]


def _srcset(value: str) -> list[str]:
    return [candidate.split()[0] for candidate in value.split(",") if candidate.split()]


def _parse(document: str) -> _References:
    parser = _References()
    parser.feed(document)
    parser.close()
    return parser


def check(document: str, roots: Sequence[Path], template: str) -> None:
    """Refuse a rendered document that refers to anything but its template folders' assets, embedded images and
    links for the reader; the problem names the template and the reference."""
    problems = []
    for tag, attribute, value, is_link in _parse(document).references:
        if attribute != "attachment" and (not value or value.startswith("#")):
            continue
        if is_link and value.lower().startswith(LINK_SCHEMES):
            continue
        if attribute != "attachment" and not is_link and (DATA_URL.match(value) or local_asset(value, roots)):
            continue
        what = "a PDF attachment" if attribute == "attachment" else f"<{tag} {attribute}>"
        problems.append(Problem(template, None, "template", f"{what} refers to {value[:120]!r}: a document may use "
                                "only images, fonts and stylesheets from the template folder (or an image embedded "
                                "as a data: URL), link only to http(s), mailto or tel addresses, and attach nothing"))
    if problems:
        raise InputError(problems)


def hidden_text(document: str, roots: Sequence[Path]) -> list[str]:
    """Text a document carries besides what it shows: attribute values, style sheet strings, and the text of the
    SVG images and stylesheets it embeds or loads from its template folders."""
    parsed = _parse(document)
    texts = list(parsed.hidden)
    for _tag, _attribute, value, is_link in parsed.references:
        if is_link:
            texts.append(value)
            continue
        if DATA_URL.match(value) and value.lower().startswith("data:image/svg+xml"):
            texts.append(_svg_text(_data_url_text(value)))
        elif (path := local_asset(value, roots)) is not None and path.suffix.lower() in (".svg", ".css"):
            content = path.read_text(encoding="utf-8", errors="replace")
            texts.append(_svg_text(content) if path.suffix.lower() == ".svg" else content)
    return [" ".join(html.unescape(text).split()) for text in texts if text and text.strip()]


def _data_url_text(url: str) -> str:
    header, _, payload = url.partition(",")
    raw = base64.b64decode(payload + "=" * (-len(payload) % 4)) if ";base64" in header.lower() else \
        urllib.parse.unquote(payload).encode()
    return raw.decode("utf-8", errors="replace")


def _svg_text(svg: str) -> str:
    """An SVG's text nodes and attribute values, as words."""
    return " ".join(re.sub(r"<[^>]*?>", " ", svg).split() + re.findall(r'=\s*"([^"]*)"', svg))


def fetcher(roots: Iterable[Path], refused: list[str]) -> object:
    """A URL fetcher for WeasyPrint that serves embedded images and the template folders' assets, and nothing else:
    a refused URL is recorded in `refused` and stops the rendering."""
    from weasyprint.urls import FatalURLFetchingError, URLFetcher

    allowed_roots = [Path(root).resolve() for root in roots]

    class ConfinedFetcher(URLFetcher):
        def fetch(self, url: str, headers: object = None) -> object:
            if DATA_URL.match(url) or local_asset(url, allowed_roots) is not None:
                return super().fetch(url, headers)
            refused.append(url)
            raise FatalURLFetchingError(f"refused to fetch {url}")

    return ConfinedFetcher(allowed_protocols=("data", "file"), allow_redirects=False)
