"""Evaluating contracts: one contract, and the pipeline of a run."""
