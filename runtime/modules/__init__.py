"""Compound modules built from the core: BestOfN, Ensemble, MultiChainComparison, Parallel."""
