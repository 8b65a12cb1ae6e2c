"""Observation of every module, predictor and LM call: tracing spans, usage records, pricing,
guards and audit hooks. Sits with the LM layer (it names LM types for annotations only).
"""
