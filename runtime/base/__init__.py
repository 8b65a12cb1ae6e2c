"""The bottom layer: errors, field types, structured-output dialects, keys, deadlines and
async helpers. Imports nothing else of castlm.
"""
