"""Worker pseudonyms: a keyed hash of a worker identifier, made at intake so the raw identifier is never stored.

The same identifier always gives the same pseudonym under the same key, so rules that correlate records about
one worker (a complaint, then a dismissal of the same person) still work, while nobody holding the database
alone can go back from a pseudonym to the person. The key comes from configuration, never from the
repository:

* ``COMPLIANCE_PSEUDONYM_KEY``       the key itself (e.g. the output of ``python -c "import secrets;
  print(secrets.token_hex(32))"``), or
* ``COMPLIANCE_PSEUDONYM_KEY_FILE``  a file holding it (readable only by the service account).

A weak key (short, one character repeated, a repeated pattern, a run such as abcdef..., too little variety) is
refused, and so are both settings at once when they differ: neither may silently win. A store remembers the
fingerprint of the key its pseudonyms were made with and refuses imports under another key, which would silently
break every correlation.

Only a pseudonym this key made is kept as it is (``wp_`` or ``wg_`` and exactly 20 lower-case hexadecimal
characters, the shape of the keyed hash; nothing else has it). Anything else that looks like one, a monitoring
partner's ``wp_7f3a`` or a disguised name ``wp_somsak_thongdee``, is hashed like any identifier.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import hmac
import math
import os
import re
import unicodedata
from pathlib import Path

import phonenumbers

from compliance.errors import ConfigurationError

KEY_ENV = "COMPLIANCE_PSEUDONYM_KEY"
KEY_FILE_ENV = "COMPLIANCE_PSEUDONYM_KEY_FILE"
MIN_KEY_LENGTH = 32
#: The least a key must carry, estimated from how varied its characters are (a random 32-character hexadecimal
#: key carries about 120 bits by this estimate, 'a' * 32 none).
MIN_KEY_BITS = 96
MAKE_KEY = 'python -c "import secrets; print(secrets.token_hex(32))"'

#: A pseudonym (wp_) or group label (wg_) this store's key made: the prefix and 20 hex characters of the keyed hash.
#: Nothing else is kept as it is.
KEYED = re.compile(r"^w[pg]_[0-9a-f]{20}$")
#: What a pseudonym-looking value starts with; the rest is hashed like any identifier.
_PREFIX = re.compile(r"^w([pg])_", re.IGNORECASE)

#: Columns that hold a worker's identity in the exports people have (grievance apps, HR extracts). Their value
#: becomes the record's pseudonymous person field (a grievance's complainant, an action's subject) and the
#: column itself is never stored. When a row has several, the first in this order is used: stable identifiers
#: (employee and document numbers) before contact details before names, so that two files about one worker
#: correlate as often as possible. Header matching ignores case, spaces and hyphens.
IDENTITY_COLUMNS = ("employee_number", "employee_no", "employee_id", "worker_id", "staff_number", "badge_number",
                    "national_id", "id_card_number", "passport_number", "phone", "phone_number", "mobile",
                    "whatsapp", "email", "email_address", "worker_name", "name_of_worker", "complainant_name")

#: Characters that hide inside identifiers without being seen: zero-width spaces and joiners, the byte-order mark,
#: the soft hyphen.
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
_SEPARATORS = re.compile(r"[\s\-_().]+")
_PHONE_LIKE = re.compile(r"^\+?[\d\s\-().]{7,24}$")
#: Letters Unicode does not decompose into a base letter and a mark.
_UNMARKED = str.maketrans({"đ": "d", "ł": "l", "ø": "o", "ı": "i", "ħ": "h"})


@functools.lru_cache(maxsize=4096)
def plain_char(char: str) -> str:
    """One character as identifiers and free text are compared: invisible characters dropped, every dash a
    hyphen, every space a space, digits of any script ASCII digits, full-width forms their ASCII letters."""
    if char in INVISIBLE:
        return ""
    category = unicodedata.category(char)
    if category == "Pd" or char == "\u2212":
        return "-"
    if category == "Zs":
        return " "
    if category == "Nd":
        return str(unicodedata.decimal(char))
    if "\uff01" <= char <= "\uff5e":
        return chr(ord(char) - 0xFEE0)
    return char


def plain(text: str) -> str:
    """`text` with `plain_char` applied to every character."""
    return text if text.isascii() else "".join(map(plain_char, text))


def _without_latin_marks(text: str) -> str:
    """Latin letters without their accents ("Nguyễn" is "Nguyen", "Dvořák" is "Dvorak"), other scripts untouched:
    officers drop Vietnamese and Czech accents, while a Thai or Tamil vowel sign changes the name."""
    out: list[str] = []
    latin = False
    for char in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(char):
            if not latin:
                out.append(char)
            continue
        latin = char.isascii() or "LATIN" in unicodedata.name(char, "")
        out.append(char)
    return unicodedata.normalize("NFC", "".join(out))


def phone_key(value: str, region: str | None) -> str | None:
    """A phone number in E.164 (+66812345678) when `value` is one, read in `region` when written locally; None for
    anything else (an employee number stays what it is)."""
    if not _PHONE_LIKE.match(value) or sum(c.isdigit() for c in value) < 7:
        return None
    try:
        number = phonenumbers.parse(value, None if value.startswith("+") else region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise(identifier: str, region: str | None = None) -> str:
    """One spelling per identifier: invisible characters, dashes and spaces of every kind, case, Latin accents,
    and spaces, hyphens, underscores, dots and brackets do not matter ("Nguyễn Văn An", "NGUYEN VAN AN",
    "MX-E-20931", "mx-e 20931"); a phone number is its E.164 form, a local one read in `region` (the facility's
    country), so "+66 81 234 5678" and "081-234-5678" at a Thai facility are one number."""
    text = unicodedata.normalize("NFKC", plain(identifier)).strip()
    phone = phone_key(text, region)
    if phone is not None:
        return phone
    return _SEPARATORS.sub("", _without_latin_marks(text).casefold().translate(_UNMARKED))


def key_problem(key: str) -> str | None:
    """Why `key` is too weak to make pseudonyms with, or None."""
    if len(key) < MIN_KEY_LENGTH:
        return f"too short ({len(key)} characters; use at least {MIN_KEY_LENGTH})"
    if len(set(key)) == 1:
        return "one character repeated"
    for period in range(1, len(key) // 2 + 1):
        if key == (key[:period] * (len(key) // period + 1))[:len(key)]:
            return f"a pattern of {period} characters repeated"
    steps = sum(abs(ord(b) - ord(a)) == 1 for a, b in zip(key, key[1:]))
    if steps * 2 >= len(key) - 1:
        return "mostly a run of consecutive characters (abcd..., 1234...)"
    counts = collections.Counter(key)
    bits = -sum(n * math.log2(n / len(key)) for n in counts.values())
    if bits < MIN_KEY_BITS:
        return f"too little variety (about {bits:.0f} bits; a random key of {MIN_KEY_LENGTH} hexadecimal characters " \
               "has about 120)"
    return None


class Pseudonymiser:
    """Turns worker identifiers into pseudonyms ``wp_`` + 20 hex characters (80 bits of HMAC-SHA256)."""

    def __init__(self, key: str):
        problem = key_problem(key)
        if problem is not None:
            raise ConfigurationError(f"the pseudonym key is weak: {problem}. Make a good one with: {MAKE_KEY} "
                                     "(or: openssl rand -hex 32), keep it in the file named by "
                                     f"{KEY_FILE_ENV}, and use it for every import into the store")
        self._key = key.encode()

    @classmethod
    def from_environment(cls) -> Pseudonymiser:
        """The pseudonymiser configured for this process; a clear error when no key, a weak key, or two different
        keys are configured."""
        key = os.environ.get(KEY_ENV, "").strip()
        key_file = os.environ.get(KEY_FILE_ENV, "").strip()
        from_file = ""
        if key_file:
            try:
                from_file = Path(key_file).read_text(encoding="utf-8").strip()
            except OSError as error:
                raise ConfigurationError(f"cannot read the pseudonym key file named by {KEY_FILE_ENV}: "
                                         f"{error.strerror}") from None
            except UnicodeDecodeError:
                raise ConfigurationError(f"the pseudonym key file named by {KEY_FILE_ENV} is not text: it must hold "
                                         f"the key as text, e.g. made with: {MAKE_KEY}") from None
        if key and from_file and key != from_file:
            raise ConfigurationError(f"both {KEY_ENV} and {KEY_FILE_ENV} are set, to different keys: unset one of "
                                     "them (pseudonyms made with the wrong key would never match the store's)")
        key = key or from_file
        if not key:
            raise ConfigurationError(
                f"no pseudonym key is configured. Evidence imports pseudonymise worker identifiers with a secret "
                f"key: set {KEY_FILE_ENV} to a file holding it (or {KEY_ENV} to the key). Create one with: "
                f"{MAKE_KEY}. Keep it outside the repository and use the same key for every import into one store.")
        return cls(key)

    @property
    def fingerprint(self) -> str:
        """Identifies the key without revealing it (stored in the database to detect a changed key)."""
        return hmac.new(self._key, b"compliance pseudonym key fingerprint", hashlib.sha256).hexdigest()[:16]

    def __call__(self, identifier: str, region: str | None = None) -> str:
        """The pseudonym of `identifier`; `region` (the facility's country) reads a local phone number. A group
        label (wg_...) stays a group label, hashed."""
        if KEYED.match(identifier):
            return identifier
        prefix = _PREFIX.match(identifier)
        kind = prefix.group(1).lower() if prefix else "p"
        value = identifier[prefix.end():] if prefix else identifier
        # surrogatepass: a lone surrogate from a hostile file still hashes (its row is refused for it anyway).
        digest = hmac.new(self._key, normalise(value, region).encode("utf-8", "surrogatepass"), hashlib.sha256)
        return f"w{kind}_" + digest.hexdigest()[:20]
