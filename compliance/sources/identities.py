"""Worker identities in free text and in identifiers, found at intake and replaced before anything is stored.

``Identities.mask(text, region)`` replaces, in this order of precedence:

* e-mail addresses (also "name [at] host [dot] com")                    -> ``[email]``
* links to messaging apps (wa.me, line.me, t.me, ... ``MESSAGING_LINKS``) -> ``[link]``
* phone numbers (libphonenumber), a local one read in the facility's country (`region`), or in each of
  ``FALLBACK_REGIONS`` when the country is not known                     -> ``[phone]``
* national id numbers of the countries in the data (``NATIONAL_IDS``)    -> ``[id number]``
* messaging handles: "LINE: somchai88", "WeChat ID lili_88", "@somchai", wxid_...  -> ``[handle]``
* the identities known from identity columns (a worker_name, an employee number, the raw complainant) of the
  record or of its file, in full or by a distinctive part ("Somchai" of "Somchai Jaidee")  -> that worker's
  pseudonym

Text is read through its disguises (zero-width characters, any dash, any space, digits of any script, full-width
forms; names without case or accents) but replaced where it stands, the rest of the text as written. Ordinary
text survives: "line 7", "3 workers", "2025-05-12", an order number, an OS ID.

``Identities.found_in_identifier`` says what an identifier (an evidence id or reference) carries, so that intake
refuses it: an id is copied into findings, letters' records and logs, and cannot be masked.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from phonenumbers import Leniency, PhoneNumberMatcher

from compliance.sources.pseudonyms import KEYED, phone_key, plain, plain_char

MASK_EMAIL, MASK_LINK, MASK_PHONE, MASK_ID, MASK_HANDLE = "[email]", "[link]", "[phone]", "[id number]", "[handle]"


@dataclass(frozen=True)
class NationalId:
    """The written shape of one country's national id number (separators as people write them)."""

    country: str
    name: str
    pattern: str


#: National id numbers of the countries in the data: add a row for another country. Shapes, not checksums: a
#: number of this shape in free text is masked whether or not its check digit is right.
NATIONAL_IDS = (
    NationalId("TH", "Thai national id card, 13 digits (1-2345-67890-12-1)",
               r"\d[ -]?\d{4}[ -]?\d{5}[ -]?\d{2}[ -]?\d"),
    NationalId("CN", "Chinese resident identity card, 18 characters", r"\d{6} ?\d{8} ?\d{3}[\dXx]"),
    NationalId("VN", "Vietnamese citizen identity card (CCCD), 12 digits", r"\d{3} ?\d{3} ?\d{6}"),
    NationalId("MY", "Malaysian MyKad, YYMMDD-PB-###G", r"\d{6}[ -]?\d{2}[ -]?\d{4}"),
    NationalId("IN", "Indian Aadhaar, 12 digits (2345 6789 0123)", r"\d{4}[ -]\d{4}[ -]\d{4}"),
    NationalId("MM", "Myanmar national registration card (12/OuKaMa(N)123456)", r"\d{1,2}/\w{2,12}\(\w{1,6}\) ?\d{6}"),
)
#: Where a local phone number is looked for when the facility's country is not known: the countries in the data.
FALLBACK_REGIONS = ("TH", "CN", "VN", "MY", "IN", "MM", "ID", "PH", "KH", "MX", "CZ")
#: Hosts of messaging apps whose links name a person's account.
MESSAGING_LINKS = ("wa.me", "api.whatsapp.com", "chat.whatsapp.com", "line.me", "lin.ee", "t.me", "telegram.me",
                   "u.wechat.com", "weixin.qq.com", "zalo.me", "m.me", "viber.me", "invite.viber.com")
#: Words that name a messaging app or account before a handle ("LINE ID: ...").
MESSAGING_WORDS = ("line", "whatsapp", "wa", "telegram", "tg", "wechat", "weixin", "微信", "viber", "zalo", "kakao",
                   "kakaotalk", "messenger", "facebook", "fb", "instagram", "ig", "tiktok", "ไลน์")

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+(?:@|\s?[\[({]\s?at\s?[\])}]\s?)[\w-]+"
                    r"(?:(?:\.|\s?[\[({]\s?dot\s?[\])}]\s?)[\w-]+)+", re.IGNORECASE)
_LINK = re.compile(r"(?<![\w.-])(?:https?://)?(?:www\.)?(?:" + "|".join(map(re.escape, MESSAGING_LINKS)) +
                   r")(?:/[^\s<>\"')\]]*)?|\b(?:whatsapp|line|weixin|viber|tg)://\S+", re.IGNORECASE)
_WORDS = "|".join(map(re.escape, MESSAGING_WORDS))
#: A handle after an app's name: three characters or more with a letter ("LINE: B12"), or six or more; never the
#: "7" of "Line: 7".
_HANDLE_VALUE = r"(@?(?:(?=[\w.+-]{0,63}[^\W\d_])[\w.+-]{3,64}|[\w.+-]{6,64}))"
_HANDLE = re.compile(rf"(?<!\w)(?:{_WORDS})(?:\s?(?:id|account|no\.?|number|号))?\s?[:：=]\s?{_HANDLE_VALUE}"
                     rf"|(?<!\w)(?:{_WORDS})\s(?:id)\s{_HANDLE_VALUE}"
                     r"|(?<![\w@.])(@(?=[\w.]*[^\W\d_])[\w.]{3,30})|\b(wxid_[a-z0-9]{6,})\b", re.IGNORECASE)
#: Not inside a longer run of letters and digits (an OS ID's last characters may be 13 digits in a row).
_MAYBE_HANDLE = re.compile(r"[:：=@]|wxid_|\sid\s", re.IGNORECASE)
_NATIONAL = re.compile(r"(?<![A-Za-z\d/])(?:" + "|".join(f"(?:{n.pattern})" for n in NATIONAL_IDS) +
                       r")(?![A-Za-z\d/])")
#: Words before a number that make it an order or invoice number, not a phone number ("PO 4500012345").
_ORDER_NUMBER = re.compile(r"(?:\bP\.?O\.?|purchase order|order|invoice|inv)\s?(?:no\.?|number)?\s?[:#.\-]?\s?$",
                           re.IGNORECASE)
#: How a local number is written when the country is not known: with a trunk 0, or in groups separated by spaces or
#: brackets (bare digits, or groups joined by hyphens or dots, are as likely an order or case number: 2025-00123).
_WRITTEN_AS_PHONE = re.compile(r"^(?:\+|0|.*[\s()])")
_PSEUDONYM = re.compile(r"\bw[pg]_[0-9a-f]{20}\b")
_DIGITS_7 = re.compile(r"\d(?:[\s\-().]{0,3}\d){6}")
_DIGITS_9 = re.compile(r"\d(?:[ -]?\d){8}")
#: Name parts that identify nobody alone (particles, honorifics) or are words of ordinary evidence text: only the
#: whole name is matched for them.
COMMON_PARTS = frozenset({
    "van", "thi", "bin", "binti", "binte", "bte", "de", "da", "del", "la", "le", "mr", "mrs", "ms", "miss", "khun",
    "nai", "nang", "daw", "ko", "ma", "mg", "line", "shift", "night", "day", "team", "group", "leader", "worker",
    "workers", "staff", "dorm", "room", "the", "and",
})
#: Names, numbers and scripts: at most this many identities are known per file (each row's own are always known).
MAX_KNOWN = 100_000
#: Texts up to this long have their tokens and pattern matches cached (ids, facility ids, channels, codes repeat).
_CACHED_LENGTH = 200


def _view(text: str) -> tuple[str, list[int] | None]:
    """`text` as it is searched (``plain_char`` of each character) and, unless it is unchanged, the position in
    `text` of each of its characters."""
    if text.isascii():
        return text, None
    chars, positions = [], []
    for index, char in enumerate(text):
        for out in plain_char(char):
            chars.append(out)
            positions.append(index)
    view = "".join(chars)
    return (text, None) if view == text else (view, positions)


@functools.lru_cache(maxsize=8192)
def _token_char(char: str) -> tuple[str, str]:
    """(kind, key) of a character for matching names: "word" (letters and digits of scripts written with spaces),
    "solo" (Chinese, Japanese, Thai, Lao, Khmer, Myanmar: each character a token, as these scripts write words
    without spaces), "mark" (a combining mark: ignored) or "sep"."""
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Mc", "Me"):
        return "mark", ""
    if not char.isalnum():
        return "sep", ""
    key = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)).casefold()
    key = key.translate(str.maketrans({"đ": "d", "ł": "l", "ø": "o", "ı": "i", "ħ": "h"}))
    code = ord(char)
    solo = (0x0E00 <= code <= 0x0EFF or 0x1000 <= code <= 0x109F or 0x1780 <= code <= 0x17FF
            or 0x3040 <= code <= 0x30FF or 0x3400 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF
            or 0x20000 <= code <= 0x2FFFF)
    return ("solo" if solo else "word"), key


_ASCII_WORD = re.compile(r"[A-Za-z0-9]+")
_CAMEL = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def tokens(text: str, split_words: bool = False) -> tuple[tuple[str, int, int], ...]:
    """The tokens of `text` as names are matched: (key, start, end), keys without case or accents. With
    `split_words` (identifiers), "LiWei2025" is li, wei, 2025."""
    return _tokens(text, split_words) if len(text) <= _CACHED_LENGTH else _tokens.__wrapped__(text, split_words)


@functools.lru_cache(maxsize=65536)
def _tokens(text: str, split_words: bool) -> tuple[tuple[str, int, int], ...]:
    if text.isascii() and split_words:
        return tuple((m.group().lower(), m.start(), m.end()) for m in _CAMEL.finditer(text))
    if text.isascii():
        found = [(m.group(), m.start(), m.end()) for m in _ASCII_WORD.finditer(text)]
    else:
        found = []
        word: list[str] = []
        start = 0
        for index, char in enumerate(text):
            kind, key = _token_char(char)
            if kind == "mark":
                continue
            if kind == "word":
                if not word:
                    start = index
                word.append(key if not split_words else char)
                continue
            if word:
                found.append(("".join(word), start, index))
                word = []
            if kind == "solo":
                found.append((key, index, index + 1))
        if word:
            found.append(("".join(word), start, len(text)))
    if split_words:
        found = [(part.group(), start + part.start(), start + part.end()) for key, start, _end in found
                 for part in (_CAMEL.finditer(key) if key.isascii() else [re.match(r".+", key, re.S)]) if part]
    return tuple((_fold(key), start, end) for key, start, end in found)


@functools.lru_cache(maxsize=65536)
def _fold(key: str) -> str:
    if key.isascii():
        return key.lower()
    return "".join(_token_char(c)[1] for c in key)


class Names:
    """Identities known by name or number, each with the pseudonym that replaces it: matched as whole token
    sequences, and also by their distinctive parts."""

    def __init__(self, limit: int | None = None) -> None:
        self._replacement: dict[tuple[str, ...], str] = {}
        self._prefixes: set[tuple[str, ...]] = set()
        self._firsts: set[str] = set()
        self._values: set[str] = set()
        self._limit = limit

    def __len__(self) -> int:
        return len(self._values)

    def add(self, value: str, replacement: str, parts: bool = True) -> None:
        """Know `value` (a worker's name, number or contact) as the worker `replacement` names; with `parts`, its
        distinctive parts alone too."""
        value = _view(value.strip())[0]
        if not value or value in self._values or KEYED.match(value):
            return
        if self._limit is not None and len(self._values) >= self._limit:
            return
        found = [token for token in tokens(value) if token[0] not in ("wp", "wg")]
        whole = tuple(key for key, _start, _end in found)
        text = "".join(whole)
        # Too short to mean one person: two characters of Chinese or Thai may be a name, two Latin letters not;
        # a number of fewer than five digits is any count or record number.
        if len(text) < (2 if not text.isascii() else 3) or text.isdigit() and len(text) < 5:
            return
        self._values.add(value)
        self._know(whole, replacement)
        if len(whole) > 1 and len("".join(whole)) >= 5:
            self._know(("".join(whole),), replacement)  # written together: "SomchaiJaidee"
        if not parts:
            return
        # Its parts: the words between separators (the characters of a word in a script without spaces together).
        groups: list[list[str]] = []
        for index, (key, start, _end) in enumerate(found):
            joined = index and all(_token_char(c)[0] == "mark" for c in value[found[index - 1][2]:start])
            if joined:
                groups[-1].append(key)
            else:
                groups.append([key])
        for group in groups:
            keys = tuple(group)
            if keys != whole and keys[0] not in COMMON_PARTS and _distinctive(keys):
                self._know(keys, replacement)

    def _know(self, keys: tuple[str, ...], replacement: str) -> None:
        self._replacement.setdefault(keys, replacement)
        self._prefixes.update(keys[:n] for n in range(1, len(keys) + 1))
        self._firsts.add(keys[0])

    def find(self, found: Sequence[tuple[str, int, int]], identifier: bool = False) -> Iterable[tuple[int, int, str]]:
        """(start, end, replacement) of every known identity among `found` tokens, longest first at each place. In an
        identifier an identity of digits alone is not looked for (record numbers are numbered like employees)."""
        index = 0
        while index < len(found):
            if found[index][0] not in self._firsts:
                index += 1
                continue
            best = None
            for end in range(index + 1, len(found) + 1):
                keys = tuple(key for key, _s, _e in found[index:end])
                if keys not in self._prefixes:
                    break
                if keys in self._replacement and not (identifier and all(k.isdigit() for k in keys)):
                    best = end, self._replacement[keys]
            if best is None:
                index += 1
                continue
            yield found[index][1], found[best[0] - 1][2], best[1]
            index = best[0]


def _distinctive(keys: tuple[str, ...]) -> bool:
    """Whether a part of a name identifies its bearer well enough to be masked alone: three letters or more. A
    number alone is not (the 20931 of MX-E-20931 would mask every amount and record number that happens to be
    20931); the whole identifier is matched in any spelling."""
    text = "".join(keys)
    return sum(not c.isdigit() for c in text) >= 3


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    replacement: str
    kind: str


@functools.lru_cache(maxsize=32768)
def _pattern_spans(view: str, region: str | None, identifier: bool) -> tuple[Span, ...]:
    """The identities found by their shape in `view` (a pseudonym first, kept as it is), first kind first. In an
    identifier a phone number has nine digits or more (a mobile number), so that record numbers are not taken for
    landlines."""
    # Pseudonyms already in the text stay as they are (their hex digits are no phone number).
    found = [Span(m.start(), m.end(), m.group(), "") for m in _PSEUDONYM.finditer(view)] if "w" in view else []
    if "@" in view or "[" in view or "(" in view or "{" in view:
        found += [Span(m.start(), m.end(), MASK_EMAIL, "an e-mail address") for m in _EMAIL.finditer(view)]
    if "." in view or "://" in view:
        found += [Span(m.start(), m.end(), MASK_LINK, "a messaging link") for m in _LINK.finditer(view)]
    if (_DIGITS_9 if identifier else _DIGITS_7).search(view):
        for region_ in (region,) if region else FALLBACK_REGIONS:
            found += [Span(m.start, m.end, MASK_PHONE, "a phone number")
                      for m in PhoneNumberMatcher(view, region_, leniency=Leniency.VALID)
                      if not _ORDER_NUMBER.search(view[max(0, m.start - 24):m.start])
                      and (region or _WRITTEN_AS_PHONE.match(m.raw_string))
                      and (not identifier or sum(c.isdigit() for c in m.raw_string) >= 9)]
    if _DIGITS_9.search(view) or "/" in view:
        found += [Span(m.start(), m.end(), MASK_ID, "a national id number") for m in _NATIONAL.finditer(view)]
    if _MAYBE_HANDLE.search(view):
        for m in _HANDLE.finditer(view):
            group = next(g for g in range(1, 5) if m.group(g))
            found.append(Span(m.start(group), m.end(group), MASK_HANDLE, "a messaging handle"))
    return tuple(found)


class Identities:
    """The identities known while one file is read (names and numbers from its identity columns, up to
    ``MAX_KNOWN``), and the finding and masking of every kind of identity in text."""

    def __init__(self) -> None:
        self.names = Names(limit=MAX_KNOWN)
        #: The file's names found in short texts, by text (the names are all known before the first row is masked).
        self._named: dict[tuple[str, bool], list[Span]] = {}

    @staticmethod
    def _name_spans(names: Names, view: str, identifier: bool) -> list[Span]:
        if view.isascii() and len(names._firsts) < 16:  # a record's own few names: a quick look first
            lower = view.lower()
            if not any(first in lower for first in names._firsts):
                return []
        return [Span(start, end, replacement, "a worker's name or number")
                for start, end, replacement in names.find(tokens(view, identifier), identifier)]

    @property
    def full(self) -> bool:
        return len(self.names) >= MAX_KNOWN

    def spans(self, text: str, region: str | None, own: Names | None = None,
              identifier: bool = False) -> tuple[str, list[int] | None, list[Span]]:
        """The identities in `text`, as spans of its searched form (see `_view`), first kind first; no overlaps."""
        view, positions = _view(text)
        short = len(view) <= _CACHED_LENGTH
        found = list(_pattern_spans(view, region, identifier) if short else
                     _pattern_spans.__wrapped__(view, region, identifier))
        if own is not None and len(own):  # the record's own worker first: its pseudonym is the record's
            found += self._name_spans(own, view, identifier)
        if len(self.names):
            if short and (view, identifier) in self._named:  # ids, codes and channels repeat in a file
                found += self._named[(view, identifier)]
            else:
                named = self._name_spans(self.names, view, identifier)
                if short and len(self._named) < MAX_KNOWN:
                    self._named[(view, identifier)] = named
                found += named
        if not found:
            return view, positions, []
        kept: list[Span] = []
        for span in found:  # where two overlap, the first kind found covers both ("wa.me/66 81 234 5678" is a link)
            overlapping = [k for k in kept if span.start < k.end and k.start < span.end]
            if any(not k.kind for k in overlapping):
                continue  # inside a pseudonym
            if overlapping:
                first = overlapping[0]
                kept = [k for k in kept if k not in overlapping]
                span = Span(min(span.start, *(k.start for k in overlapping)),
                            max(span.end, *(k.end for k in overlapping)), first.replacement, first.kind)
            kept.append(span)
        return view, positions, sorted((s for s in kept if s.kind), key=lambda s: s.start)

    def mask(self, text: str, region: str | None, own: Names | None = None) -> str:
        """`text` with every identity in it replaced by its mask or the worker's pseudonym."""
        _view_, positions, spans = self.spans(text, region, own)
        return _replaced(text, positions, spans)

    def found_in_identifier(self, value: str, region: str | None, own: Names | None = None) -> list[str]:
        """What kinds of identity an identifier carries (empty when none): ids are never masked, only refused."""
        return list(dict.fromkeys(span.kind for span in self.spans(value, region, own, identifier=True)[2]))


def _replaced(text: str, positions: list[int] | None, spans: list[Span]) -> str:
    """`text` with each span (of its searched form) replaced."""
    if not spans:
        return text
    out, last = [], 0
    for span in spans:
        start = span.start if positions is None else positions[span.start]
        end = span.end if positions is None else positions[span.end - 1] + 1
        out += [text[last:start], span.replacement]
        last = end
    out.append(text[last:])
    return "".join(out)


ERASED = "[erased]"


def eraser(value: str, region: str | None = None) -> tuple[str, Callable[[str], str]]:
    """What kind of identity `value` is, and a function that replaces it in any text with ``[erased]``: the same
    value however spelt (case, accents, dashes, spaces, invisible characters; a phone number in any format of the
    same number, a local one read in `region`), never a part of it alone."""
    names = Names()
    names.add(value, ERASED, parts=False)
    phone = phone_key(plain(value).strip(), region)
    email = value.strip().casefold() if _EMAIL.fullmatch(plain(value).strip()) else None
    if not len(names) and phone is None and email is None:
        raise ValueError("too short to erase: it would match ordinary text")
    kind = "a phone number" if phone else "an e-mail address" if email else \
        "a national id number" if _NATIONAL.fullmatch(plain(value).strip()) else "a name or other text"

    def replace(text: str) -> str:
        view, positions = _view(text)
        spans = [Span(start, end, ERASED, kind) for start, end, _r in names.find(tokens(view))]
        if phone is not None and _DIGITS_7.search(view):
            for region_ in (region,) if region else FALLBACK_REGIONS:
                spans += [Span(m.start, m.end, ERASED, kind) for m in PhoneNumberMatcher(view, region_, Leniency.VALID)
                          if phone_key(m.raw_string, region_) == phone]
        if email is not None:
            spans += [Span(m.start(), m.end(), ERASED, kind) for m in _EMAIL.finditer(view)
                      if m.group().casefold() == email]
        kept: list[Span] = []
        for span in sorted(spans, key=lambda s: (s.start, -s.end)):
            if not kept or span.start >= kept[-1].end:
                kept.append(span)
        return _replaced(text, positions, kept)

    return kind, replace
