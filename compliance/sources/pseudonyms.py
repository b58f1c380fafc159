"""Worker pseudonyms: a keyed hash of a worker identifier, made at intake so the raw identifier is never stored.

The same identifier always gives the same pseudonym under the same key, so rules that correlate records about
one worker (a complaint, then a dismissal of the same person) still work, while nobody holding the database
alone can go back from a pseudonym to the person. The key comes from configuration, never from the
repository:

* ``COMPLIANCE_PSEUDONYM_KEY``       the key itself (at least 32 characters, e.g. ``openssl rand -hex 32``), or
* ``COMPLIANCE_PSEUDONYM_KEY_FILE``  a file holding it (readable only by the service account).

A store remembers the fingerprint of the key its pseudonyms were made with and refuses imports under another
key, which would silently break every correlation.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata
from pathlib import Path

from compliance.errors import ConfigurationError

KEY_ENV = "COMPLIANCE_PSEUDONYM_KEY"
KEY_FILE_ENV = "COMPLIANCE_PSEUDONYM_KEY_FILE"
MIN_KEY_LENGTH = 32

#: Values that already are pseudonyms or group labels and are kept as they are: a monitoring partner's own
#: pseudonym (wp_...), a worker-group label (wg_...), or one of ours (re-importing a corrected quarantine row).
#: A name, an employee number, a phone number or an e-mail address never has this shape.
PSEUDONYMOUS = re.compile(r"^w[pg]_[A-Za-z0-9_-]{1,80}$")

#: Columns that hold a worker's identity in the exports people have (grievance apps, HR extracts). Their value
#: becomes the record's pseudonymous person field (a grievance's complainant, an action's subject) and the
#: column itself is never stored. When a row has several, the first in this order is used: stable identifiers
#: (employee and document numbers) before contact details before names, so that two files about one worker
#: correlate as often as possible. Header matching ignores case, spaces and hyphens.
IDENTITY_COLUMNS = ("employee_number", "employee_no", "employee_id", "worker_id", "staff_number", "badge_number",
                    "national_id", "id_card_number", "passport_number", "phone", "phone_number", "mobile",
                    "whatsapp", "email", "email_address", "worker_name", "name_of_worker", "complainant_name")

_SEPARATORS = re.compile(r"[\s\-().]+")


def normalise(identifier: str) -> str:
    """One spelling per identifier: Unicode-normalised, case-folded, without spaces, hyphens, dots or brackets
    (so "+66 81-234 5678" and "+66812345678", or "Nguyễn Văn An" and "NGUYỄN VĂN AN", are the same worker)."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", identifier).casefold())


class Pseudonymiser:
    """Turns worker identifiers into pseudonyms ``wp_`` + 20 hex characters (80 bits of HMAC-SHA256)."""

    def __init__(self, key: str):
        if len(key) < MIN_KEY_LENGTH:
            raise ConfigurationError(f"the pseudonym key is too short ({len(key)} characters); use at least "
                                     f"{MIN_KEY_LENGTH}, e.g. the output of: openssl rand -hex 32")
        self._key = key.encode()

    @classmethod
    def from_environment(cls) -> Pseudonymiser:
        """The pseudonymiser configured for this process; a clear error when no key is configured."""
        key = os.environ.get(KEY_ENV, "").strip()
        key_file = os.environ.get(KEY_FILE_ENV, "").strip()
        if not key and key_file:
            try:
                key = Path(key_file).read_text(encoding="utf-8").strip()
            except OSError as error:
                raise ConfigurationError(f"cannot read the pseudonym key file named by {KEY_FILE_ENV}: "
                                         f"{error.strerror}") from None
            except UnicodeDecodeError:
                raise ConfigurationError(f"the pseudonym key file named by {KEY_FILE_ENV} is not text: it must hold "
                                         "the key as text, e.g. made with: openssl rand -hex 32") from None
        if not key:
            raise ConfigurationError(
                f"no pseudonym key is configured. Evidence imports pseudonymise worker identifiers with a secret "
                f"key: set {KEY_FILE_ENV} to a file holding it (or {KEY_ENV} to the key). Create one with: "
                "openssl rand -hex 32. Keep it outside the repository and use the same key for every import "
                "into one store.")
        return cls(key)

    @property
    def fingerprint(self) -> str:
        """Identifies the key without revealing it (stored in the database to detect a changed key)."""
        return hmac.new(self._key, b"compliance pseudonym key fingerprint", hashlib.sha256).hexdigest()[:16]

    def __call__(self, identifier: str) -> str:
        if PSEUDONYMOUS.match(identifier):
            return identifier
        digest = hmac.new(self._key, normalise(identifier).encode(), hashlib.sha256).hexdigest()
        return "wp_" + digest[:20]
