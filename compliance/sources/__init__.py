"""Reading files with their places: rule and record files, evidence intake, OCDS, Open Supply Hub."""
