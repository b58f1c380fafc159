"""Reading files with their places: YAML/JSON with lines (structured), contract, facility and working-group files
(records), evidence intake and templates, safe spreadsheet cells, OCDS, Open Supply Hub, pseudonyms."""
