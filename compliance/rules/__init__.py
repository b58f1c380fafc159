"""The rule language and everything that reads it: spec, library, compiler, engine, reference."""
