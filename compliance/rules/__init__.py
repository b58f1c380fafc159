"""The rule language and everything that reads it: grammar, spec, meaning, library, compiler, engine, reference."""
