"""Documents for people: templates (shipped, or an institution's own) rendered to HTML, then to PDF, DOCX and text.

HTML is the one rendering; the other formats are made from it: PDF by WeasyPrint (same page, same CSS), DOCX and
plain text by walking its headings, paragraphs, lists and tables (so officers can edit the letter in a word
processor). Every template runs in jinja2's sandbox with undefined names as errors: an institution's template
folder can change the letterhead, wording and language, but cannot reach into Python or print a name that does
not exist, and what it renders may load nothing from outside the template folders (`resources`). A document is
checked by `compliance.documents.redaction` before any of its files is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import html.parser
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import jinja2.sandbox

from compliance.documents import resources
from compliance.errors import ConfigurationError, InputError, Problem
from compliance.rules.spec import BudgetedSandbox

TEMPLATES = Path(__file__).parent / "templates"
FORMATS = ("html", "pdf", "docx", "txt")
#: What one document may cost: the numbers all its range() calls may produce together (a loop inside a loop counts
#: every turn), and the characters it may hold. A letter or report needs far less; a template beyond is refused.
RANGE_BUDGET = 100_000
OUTPUT_LIMIT = 20_000_000


class _DocumentSandbox(BudgetedSandbox, jinja2.sandbox.ImmutableSandboxedEnvironment):
    """The documents' sandbox: immutable, with the rule language's budget (``spec.BudgetedSandbox``)."""

    MAX_RANGE = RANGE_BUDGET


def _range_budget(limit: int) -> Callable[..., range]:
    """range() for one rendering, refusing once the numbers produced by all its calls together exceed `limit`."""
    left = [limit]

    def budgeted(*args: int) -> range:
        numbers = range(*args)
        left[0] -= len(numbers)
        if left[0] < 0:
            raise jinja2.sandbox.SecurityError(f"the template loops more than {limit:,} times over range(): "
                                               "a letter or report never needs that many")
        return numbers
    return budgeted


def environment(user_templates: Path | None = None, language: str = "en") -> jinja2.sandbox.SandboxedEnvironment:
    """The template environment: an institution's folder first (when given), then the shipped templates."""
    _require_language(language)
    loaders: list[jinja2.BaseLoader] = [resources.ConfinedLoader(TEMPLATES)]
    if user_templates is not None:
        if not user_templates.is_dir():
            raise InputError([Problem(str(user_templates), None, "templates", "is not a folder of templates")])
        loaders.insert(0, resources.ConfinedLoader(user_templates))
    env = _DocumentSandbox(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["date"] = _date_filter(language)
    env.filters["month"] = _month_filter(language)
    env.filters["number"] = lambda value: f"{value:,.0f}" if isinstance(value, (int, float)) else value
    env.globals["language"] = language
    return env


def _require_language(language: str) -> None:
    """Refuse a language Babel does not know (it names templates and writes dates): an input error, not a crash."""
    from babel import Locale, UnknownLocaleError  # imported when a document is made, not when the CLI starts

    try:
        Locale.parse(language)
    except (ValueError, TypeError, UnknownLocaleError):
        raise InputError([Problem("document", None, "language", f"{language!r} is not a language compliance knows; "
                                  "use a language code such as en, cy, fr or zh_Hans")]) from None


def _date_filter(language: str) -> Callable[[dt.date], str]:
    def date(value: dt.date) -> str:
        from babel.dates import format_date  # imported when a document is made, not when the CLI starts
        return format_date(value, "d MMMM y", locale=language)
    return date


def _month_filter(language: str) -> Callable[[dt.date], str]:
    def month(value: dt.date) -> str:
        from babel.dates import format_date
        return format_date(value, "LLLL y", locale=language)
    return month


def template_names(env: jinja2.Environment, name: str) -> list[str]:
    """`name` and every template it extends, includes or imports, in the order found."""
    seen: list[str] = []
    pending = [name]
    while pending:
        current = pending.pop(0)
        if current in seen:
            continue
        seen.append(current)
        source = env.loader.get_source(env, current)[0]  # type: ignore[union-attr]
        pending += [n for n in jinja2.meta.find_referenced_templates(env.parse(source)) if n]
    return seen


def template_fingerprint(env: jinja2.Environment, name: str) -> tuple[str, str]:
    """Where `name` comes from ("shipped" or the institution's folder) and a hash of its source and everything it
    uses, so a letter records exactly which wording made it."""
    digest = hashlib.sha256()
    origin = "shipped"
    for current in template_names(env, name):
        source, filename, _ = env.loader.get_source(env, current)  # type: ignore[union-attr]
        if filename and not Path(filename).resolve().is_relative_to(TEMPLATES.resolve()):
            origin = "institution"
        digest.update(current.encode() + b"\0" + source.encode() + b"\0")
    return origin, digest.hexdigest()


def render(env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
    """Render a template, turning template mistakes into input errors that name the template and line; a document
    that would load anything from outside its template folders is refused the same way."""
    env.globals["range"] = _range_budget(RANGE_BUDGET)
    try:
        parts, size = [], 0
        for part in env.get_template(name).generate(context):
            size += len(part)
            if size > OUTPUT_LIMIT:
                raise jinja2.sandbox.SecurityError(f"the document grows past {OUTPUT_LIMIT:,} characters")
            parts.append(part)
        document = "".join(parts)
        resources.check(document, resources.roots_of(env), name)
        return document
    except jinja2.TemplateNotFound as error:
        raise InputError([Problem(name, None, "template", f"no template {error.name!r} in the institution's folder "
                                  "or the shipped templates")]) from None
    except jinja2.TemplateSyntaxError as error:
        raise InputError([Problem(error.filename or error.name or name, error.lineno, "template",
                                  error.message or "syntax error")]) from None
    except jinja2.UndefinedError as error:
        raise InputError([Problem(name, _template_line(error), "template",
                                  f"{error.message}; the variables each template may use are listed in the README "
                                  "(Letters and reports: template variables)")]) from None
    except jinja2.sandbox.SecurityError as error:
        raise InputError([Problem(name, _template_line(error), "template", f"not allowed in a template: {error}")]
                         ) from None
    except (OverflowError, MemoryError, RecursionError) as error:  # the sandbox's range limit, a runaway template
        raise InputError([Problem(name, _template_line(error), "template", f"the template asks too much: {error}")]
                         ) from None


def _template_line(error: Exception) -> int | None:
    """The template line of a rendering error, from its traceback (jinja2 maps template frames to lines)."""
    tb = error.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(".j2"):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


# ---------------------------------------------------------------------------------------------------------------------
# HTML -> blocks (for DOCX and text)


@dataclass
class Run:
    text: str
    bold: bool = False
    italic: bool = False


@dataclass
class Block:
    """A heading (h1-h3), paragraph (p), list item (li, numbered when `number` is set) or table."""

    kind: str
    runs: list[Run] = field(default_factory=list)
    level: int = 0
    number: int | None = None
    rows: list[list[list[Run]]] = field(default_factory=list)
    header_rows: int = 0

    @property
    def text(self) -> str:
        return _join(self.runs)


def _join(runs: list[Run]) -> str:
    return " ".join("".join(r.text for r in runs).split())


class _BlockParser(html.parser.HTMLParser):
    # Chart labels (SVG text, title, desc) are pieces of text of their own, never run together with their neighbours.
    BLOCKS = {"p", "h1", "h2", "h3", "h4", "li", "div", "address", "blockquote", "header", "footer", "section",
              "text", "title", "desc", "figcaption", "caption"}
    SKIPPED = ("style", "script", "head")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.current: Block | None = None
        self.skip = 0
        self.bold = self.italic = 0
        self.lists: list[list[int]] = []  # stack of [ordered, counter]
        self.table: Block | None = None
        self.row: list[list[Run]] | None = None
        self.cell: list[Run] | None = None
        self.in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIPPED:
            self.skip += 1
        elif tag in ("strong", "b", "th"):
            self.bold += 1
        elif tag in ("em", "i"):
            self.italic += 1
        if tag in ("ol", "ul"):
            self._close()
            self.lists.append([tag == "ol", 0])
        elif tag == "table":
            self._close()
            self.table = Block("table")
        elif tag == "thead":
            self.in_head = True
        elif tag == "tr" and self.table is not None:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []
        elif tag == "br":
            self._text("\n")
        elif tag in self.BLOCKS and self.table is None:
            self._close()
            level = int(tag[1]) if tag[0] == "h" and tag[1:].isdigit() else 0
            kind = "h" if level else "li" if tag == "li" else "p"
            number = None
            if tag == "li" and self.lists:
                self.lists[-1][1] += 1
                number = self.lists[-1][1] if self.lists[-1][0] else None
            self.current = Block(kind, level=level, number=number)
            if tag == "li" and not (self.lists and self.lists[-1][0]):
                self.current.number = 0  # a bullet

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIPPED:
            self.skip = max(0, self.skip - 1)
        elif tag in ("strong", "b", "th"):
            self.bold = max(0, self.bold - 1)
        elif tag in ("em", "i"):
            self.italic = max(0, self.italic - 1)
        if tag in ("ol", "ul"):
            self._close()
            if self.lists:
                self.lists.pop()
        elif tag in ("td", "th") and self.row is not None and self.cell is not None:
            self.row.append(self.cell)
            self.cell = None
        elif tag == "tr" and self.table is not None and self.row is not None:
            self.table.rows.append(self.row)
            if self.in_head:
                self.table.header_rows += 1
            self.row = None
        elif tag == "thead":
            self.in_head = False
        elif tag == "table" and self.table is not None:
            self.blocks.append(self.table)
            self.table = None
        elif tag in self.BLOCKS and self.table is None:
            self._close()

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self._text(" ".join(data.split("\n")))  # line breaks in the source are spaces; <br> breaks lines

    def _text(self, data: str) -> None:
        run = Run(data, bool(self.bold), bool(self.italic))
        if self.cell is not None:
            self.cell.append(run)
        elif self.table is None:
            if self.current is None:
                if not data.strip():
                    return
                self.current = Block("p")
            self.current.runs.append(run)

    def _close(self) -> None:
        if self.current is not None and self.current.text:
            self.blocks.append(self.current)
        self.current = None

    def close(self) -> None:
        super().close()
        self._close()


def blocks(document: str) -> list[Block]:
    parser = _BlockParser()
    parser.feed(document)
    parser.close()
    return parser.blocks


def to_text(document: str, width: int = 100) -> str:
    """Plain text of an HTML document: headings underlined, lists numbered, tables as aligned columns."""
    import textwrap
    lines: list[str] = []
    previous = ""
    for block in blocks(document):
        if previous == "li" and block.kind != "li":
            lines.append("")
        previous = block.kind
        if block.kind == "table":
            cells = [[_join(cell) for cell in row] for row in block.rows]
            columns = max((len(r) for r in cells), default=0)
            widths = [min(40, max((len(r[i]) for r in cells if i < len(r)), default=0)) for i in range(columns)]
            for n, row in enumerate(cells):
                wrapped = [textwrap.wrap(cell, widths[i]) or [""] for i, cell in enumerate(row)]
                for part in range(max(len(w) for w in wrapped)):
                    lines.append("  ".join((w[part] if part < len(w) else "").ljust(widths[i])
                                           for i, w in enumerate(wrapped)).rstrip())
                if n + 1 == block.header_rows:
                    lines.append("  ".join("-" * w for w in widths))
            lines.append("")
        elif block.kind == "h":
            lines += [block.text, ("=" if block.level == 1 else "-") * len(block.text), ""]
        elif block.kind == "li":
            marker = f"{block.number}. " if block.number else "- "
            lines += textwrap.wrap(block.text, width, initial_indent=marker, subsequent_indent=" " * len(marker))
        else:
            for paragraph in "".join(r.text for r in block.runs).split("\n"):
                lines += textwrap.wrap(" ".join(paragraph.split()), width) or [""]
            lines.append("")
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip() + "\n"


def write_docx(document: str, path: Path, title: str, dated: dt.date | None = None) -> None:
    """A Word document with the same headings, paragraphs, numbered actions and tables as the HTML, on A4, whose
    properties say what it is and when it was dated (never python-docx's own defaults: its template carries an
    author and dates of its own)."""
    import docx
    from docx.shared import Mm, Pt

    out = docx.Document()
    properties = out.core_properties
    moment = dt.datetime.combine(dated, dt.time()) if dated is not None else \
        dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)
    properties.title = title
    properties.author = properties.last_modified_by = ""
    properties.comments = properties.keywords = properties.subject = properties.category = ""
    properties.created = properties.modified = moment
    properties.last_printed = moment
    properties.revision = 1
    for section in out.sections:  # A4, as letters in the UK are printed
        section.page_width, section.page_height = Mm(210), Mm(297)
        section.left_margin = section.right_margin = Mm(20)
        section.top_margin = section.bottom_margin = Mm(20)
    style = out.styles["Normal"]
    style.font.name = "Arial"
    style.font.size = Pt(10.5)
    for block in blocks(document):
        if block.kind == "h":
            paragraph = out.add_heading(level=min(block.level, 3))
            _add_runs(paragraph, block.runs)
        elif block.kind == "li":
            paragraph = out.add_paragraph(style="List Number" if block.number else "List Bullet")
            if block.number:  # python-docx numbering restarts poorly across lists: write the number itself
                paragraph.style = out.styles["Normal"]
                paragraph.paragraph_format.left_indent = Pt(18)
                paragraph.paragraph_format.first_line_indent = Pt(-18)
                paragraph.add_run(f"{block.number}.\t")
            _add_runs(paragraph, block.runs)
        elif block.kind == "table":
            columns = max((len(r) for r in block.rows), default=0)
            table = out.add_table(rows=0, cols=columns)
            table.style = "Table Grid"
            for n, row in enumerate(block.rows):
                cells = table.add_row().cells
                for i, cell in enumerate(row):
                    paragraph = cells[i].paragraphs[0]
                    _add_runs(paragraph, cell, bold=n < block.header_rows)
            out.add_paragraph()
        else:
            for n, part in enumerate(_split_lines(block.runs)):
                paragraph = out.add_paragraph()
                _add_runs(paragraph, part)
    out.save(str(path))


def _split_lines(runs: list[Run]) -> list[list[Run]]:
    """A paragraph's runs cut at line breaks (<br>), one list per line."""
    lines: list[list[Run]] = [[]]
    for run in runs:
        pieces = run.text.split("\n")
        for n, piece in enumerate(pieces):
            if n:
                lines.append([])
            lines[-1].append(Run(piece, run.bold, run.italic))
    return [line for line in lines if _join(line)]


def _add_runs(paragraph: Any, runs: Iterable[Run], bold: bool = False) -> None:
    text_runs = list(runs)
    for n, run in enumerate(text_runs):
        text = " ".join(run.text.split())
        if not text:
            continue
        if run.text[:1].isspace() and n:
            text = " " + text
        if run.text[-1:].isspace() and n + 1 < len(text_runs):
            text += " "
        added = paragraph.add_run(text)
        added.bold = run.bold or bold or None
        added.italic = run.italic or None


def write_pdf(document: str, path: Path, templates: Path | None = None) -> None:
    """The HTML printed to PDF by WeasyPrint (A4, the page CSS of the template); fonts come from the system. It may
    load only the assets of the shipped templates and of the institution's folder `templates`: anything else
    stops it (InputError), and no partial file is left."""
    import logging
    import warnings

    # WeasyPrint logs each font it embeds without the system's HarfBuzz-Subset; the officer needs none of it.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        # Without the system's HarfBuzz-Subset library WeasyPrint embeds fonts its own way and says so on every PDF.
        warnings.filterwarnings("ignore", message="HarfBuzz-Subset", category=DeprecationWarning)
        try:
            import weasyprint
        except (ImportError, OSError) as error:  # OSError: the Pango library is missing
            raise ConfigurationError(f"PDF output needs WeasyPrint and the Pango library ({error}); see the README, "
                                     "'Letters to contractors'") from None
        roots = [folder.resolve() for folder in (templates, TEMPLATES) if folder is not None]
        refused: list[str] = []
        fetch = resources.fetcher(roots, refused)
        try:
            weasyprint.HTML(string=document, base_url=roots[0].as_uri() + "/", url_fetcher=fetch).write_pdf(str(path))
        except BaseException:  # a refused URL stops WeasyPrint with a BaseException of its own
            path.unlink(missing_ok=True)
            if not refused:
                raise
        if refused:
            path.unlink(missing_ok=True)
            raise InputError([Problem(str(path), None, "resource", f"refused to load {url[:120]!r}: a document may "
                                      "use only the template folder's images, fonts and stylesheets")
                              for url in refused])


def write(document: str, base: Path, formats: Iterable[str], title: str, templates: Path | None = None,
          dated: dt.date | None = None) -> list[Path]:
    """Write `document` (HTML) as each of `formats` beside `base` (base.html, base.pdf...). Call only after the
    redaction check has passed; `templates` is the institution's template folder the document was made with (its
    assets may appear in the PDF); `dated`: the document's date (a letter's), for the Word file's properties."""
    written = []
    base.parent.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        path = base.with_name(f"{base.name}.{fmt}")
        if fmt == "html":
            path.write_text(document, encoding="utf-8")
        elif fmt == "txt":
            path.write_text(to_text(document), encoding="utf-8")
        elif fmt == "docx":
            write_docx(document, path, title, dated)
        elif fmt == "pdf":
            write_pdf(document, path, templates)
        else:
            raise InputError([Problem("format", None, "format", f"unknown format {fmt!r}; expected one of "
                                      f"{', '.join(FORMATS)}")])
        written.append(path)
    return written


def readable_text(document: str, env: jinja2.Environment | None = None) -> str:
    """Everything a reader of `document` (or of its PDF, DOCX or text) could see, as the redaction check reads it:
    the text of every block, and also what is hidden in the HTML file: comments, the <title>, attribute values,
    style sheet strings, and the text of the SVG images and stylesheets it embeds or loads from the template
    folders of `env`."""
    parts = [block.text if block.kind != "table" else "\n".join(_join(c) for row in block.rows for c in row)
             for block in blocks(document)]
    hidden = [m.group(1) or m.group(2) or "" for m in _HIDDEN.finditer(document)]
    roots = resources.roots_of(env) if env is not None else [TEMPLATES.resolve()]
    return "\n".join(parts + [" ".join(html.unescape(value).split()) for value in hidden]
                     + resources.hidden_text(document, roots))


_HIDDEN = re.compile(r"<!--(.*?)-->|<title[^>]*>(.*?)</title>", re.DOTALL | re.IGNORECASE)
