"""A document loads nothing from outside its template folders: no local file, no network, no attachment, no
link out of the folder; and the redaction check reads what hides in attributes, style sheets and images.

Each hostile letterhead below is what an institution's template folder could hold. Every one must stop the draft
with exit 3 naming the template (or exit 9 when it would print something that identifies a worker), write no file,
store no letter, and fetch nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pypdf
import pytest
from click.testing import CliRunner
from helpers import example_store

from compliance import api
from compliance.cli import cli
from compliance.documents import environment as documents
from compliance.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2025, 6, 30)
CONTRACT = "NDNA-CALLOFF-2024-017"
COMMON = ["--rules", str(ROOT / "rules"), "--groups", str(ROOT / "contracts" / "working-groups.yaml"),
          "--date", "2025-07-01"]
# A small valid PNG (1 x 1 pixel), as an institution's logo.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


@pytest.fixture(scope="module")
def example_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return example_store(tmp_path_factory.mktemp("boundaries") / "example.db", AS_OF)


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the handler's name is http.server's
        _Recorder.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        self.wfile.write(PNG)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[str]:
    """A web server on this machine that records every request made to it (none may arrive)."""
    _Recorder.requests = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    assert _Recorder.requests == []


def letters_of(url: str) -> list[str]:
    store = api.open_store(url)
    try:
        return [letter.reference for letter in store.letters(CONTRACT)]
    finally:
        store.close()


def draft_with(url: str, folder: Path, out: Path, code: int, formats: str = "html,pdf") -> str:
    result = CliRunner().invoke(cli, ["--db", url, "letter", "draft", CONTRACT, "--type", "L2", *COMMON,
                                      "--templates", str(folder), "--out", str(out), "--format", formats])
    assert result.exit_code == code, result.output
    return result.output


def letterhead(tmp_path: Path, body: str) -> Path:
    folder = tmp_path / "ours"
    (folder / "letters").mkdir(parents=True, exist_ok=True)
    (folder / "letters" / "letterhead.html.j2").write_text(f"<header>{body}<p>{{{{ buyer.name }}}}</p></header>\n",
                                                          encoding="utf-8")
    return folder


HOSTILE = {
    "attachment of a local file": '<link rel="attachment" href="file:///etc/passwd">',
    "attachment by a link": '<a rel="attachment" href="letters/letterhead.html.j2">terms</a>',
    "image from the network": '<img src="{listener}/x.png">',
    "stylesheet from the network": '<link rel="stylesheet" href="{listener}/x.css">',
    "import in a style sheet": '<style>@import "{listener}/x.css";</style>',
    "url in a style attribute": '<p style="background: url({listener}/x.png)">x</p>',
    "image from a local file": '<img src="file:///etc/hostname">',
    "image out of the folder": '<img src="../../../../../../etc/hostname">',
    "absolute path": '<img src="/etc/hostname">',
    "srcset": '<img srcset="{listener}/a.png 1x, logo.png 2x">',
    "svg image": '<svg><image href="{listener}/x.png" width="1" height="1"/></svg>',
    "object": '<object data="{listener}/x.svg"></object>',
    "frame": '<iframe src="{listener}/x.html"></iframe>',
    "a file link": '<a href="file:///etc/passwd">passwords</a>',
    "not an image": '<img src="data:text/html;base64,PHA+aGk8L3A+">',
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_template_that_loads_from_outside_its_folder_is_refused(example_url: str, tmp_path: Path, listener: str,
                                                                   name: str):
    folder = letterhead(tmp_path, HOSTILE[name].replace("{listener}", listener))
    (folder / "logo.png").write_bytes(PNG)
    before = letters_of(example_url)
    output = draft_with(example_url, folder, tmp_path / "out", code=3)
    assert "letters/L2.html.j2" in output and "template folder" in output
    assert not (tmp_path / "out").exists()
    assert letters_of(example_url) == before


def test_a_template_linked_out_of_its_folder_is_refused(example_url: str, tmp_path: Path):
    secret = tmp_path / "secret.txt"
    secret.write_text("COMPLIANCE_PSEUDONYM_KEY=0123456789abcdef0123456789abcdef\n", encoding="utf-8")
    folder = tmp_path / "ours"
    (folder / "letters").mkdir(parents=True)
    (folder / "letters" / "letterhead.html.j2").symlink_to(secret)
    output = draft_with(example_url, folder, tmp_path / "out", code=3, formats="txt")
    assert "outside the template folder" in output and "letterhead.html.j2" in output
    assert "0123456789abcdef" not in output
    assert not (tmp_path / "out").exists()


def test_an_institutions_logo_from_its_folder_is_printed_and_the_pdf_carries_nothing_else(example_url: str,
                                                                                           tmp_path: Path):
    folder = letterhead(tmp_path, '<img src="logo.png" alt="Logo" style="width: 20mm">'
                                  '<a href="https://procurement.example.ac.uk/suppliers">Supplier guidance</a>')
    (folder / "logo.png").write_bytes(PNG)
    out = tmp_path / "out"
    draft_with(example_url, folder, out, code=0)
    pdf = pypdf.PdfReader(next(out.glob("*.pdf")))
    root = pdf.trailer["/Root"]
    assert "/EmbeddedFiles" not in root.get("/Names", {})
    images = [name for page in pdf.pages for name in page.images]
    assert images, "the logo is in the PDF"
    links = [annotation.get_object().get("/A", {}).get("/URI") for page in pdf.pages
             for annotation in page.get("/Annots", []) or []]
    assert [link for link in links if link] == ["https://procurement.example.ac.uk/suppliers"]
    for number in range(1, len(pdf.xref_objStm) + sum(len(v) for v in pdf.xref.values()) + 1):
        try:
            obj = pdf.get_object(number)
        except Exception:  # noqa: BLE001 - a free or compressed slot
            continue
        text = str(obj)
        assert "/Launch" not in text and "/EmbeddedFile" not in text and "file:" not in text


def test_the_pdf_renderer_itself_refuses_what_slipped_past(tmp_path: Path, listener: str):
    """Defence in depth: HTML that was never checked still cannot make the PDF fetch or attach anything."""
    for body in (f'<img src="{listener}/x.png">', '<link rel="attachment" href="file:///etc/passwd">',
                 '<p style="background: url(file:///etc/hostname)">x</p>'):
        path = tmp_path / "letter.pdf"
        with pytest.raises(InputError, match="refused to load"):
            documents.write_pdf(f"<html><body>{body}<p>Text</p></body></html>", path)
        assert not path.exists()


@pytest.mark.parametrize("body", [
    '<p data-note="3 workers complained">x</p>',
    '<style>header::after { content: "two workers dismissed"; }</style>',
    '<img alt="" src="data:image/svg+xml;base64,'
    + base64.b64encode(b'<svg xmlns="http://www.w3.org/2000/svg"><text>4 workers</text></svg>').decode() + '">',
    '<img src="badge.svg">',
])
def test_what_hides_in_attributes_style_sheets_and_images_is_read_by_the_redaction_check(
        example_url: str, tmp_path: Path, body: str):
    folder = letterhead(tmp_path, body)
    (folder / "badge.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><text>three workers</text></svg>',
                                      encoding="utf-8")
    before = letters_of(example_url)
    output = draft_with(example_url, folder, tmp_path / "out", code=9)
    assert "a count below 5" in output
    assert not (tmp_path / "out").exists()
    assert letters_of(example_url) == before


def test_a_stored_letter_is_written_again_with_its_institutions_assets_and_only_with_them(
        example_url: str, tmp_path: Path):
    folder = letterhead(tmp_path, '<img src="logo.png" alt="Logo">')
    (folder / "logo.png").write_bytes(PNG)
    output = draft_with(example_url, folder, tmp_path / "first", code=0, formats="html")
    reference = re.search(r"Letter (\S+) \(L2", output).group(1)  # type: ignore[union-attr]
    again = CliRunner().invoke(cli, ["--db", example_url, "letter", "write", reference, "--format", "pdf",
                                     "--templates", str(folder), "--out", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    pdf = pypdf.PdfReader(tmp_path / "again" / f"{reference}.pdf")
    assert [name for page in pdf.pages for name in page.images]
    without = CliRunner().invoke(cli, ["--db", example_url, "letter", "write", reference, "--format", "pdf",
                                       "--out", str(tmp_path / "without")])
    assert without.exit_code == 3 and "refused to load" in without.output, without.output
    assert not (tmp_path / "without" / f"{reference}.pdf").exists()
