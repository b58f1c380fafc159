"""Reading files with their places: YAML/JSON with lines (structured), contract, facility and working-group files
(records), evidence intake, OCDS, Open Supply Hub, pseudonyms."""
