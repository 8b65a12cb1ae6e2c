"""The typed core: signatures, fields, adapters, predictors, modules, examples, batching,
streaming and nearest-neighbour demos.
"""
