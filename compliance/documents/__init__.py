"""Documents for people: letters, reports, digests, exports, and the redaction check."""
