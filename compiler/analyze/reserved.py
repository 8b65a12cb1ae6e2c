"""Field names a signature may not use.

Signatures and their results are pydantic models, so a field named like a BaseModel
attribute would shadow it (and break validation or serialization); castlm itself
reads ``instructions``, ``demos`` and ``signature`` off signatures and predictors.
The same names are therefore always fine to read from a predictor result.
"""

from __future__ import annotations

# The public BaseModel API of pydantic 2, plus the v1 names pydantic still defines.
PYDANTIC_ATTRIBUTES = frozenset(
    {
        "construct",
        "copy",
        "dict",
        "fields",
        "from_orm",
        "json",
        "model_computed_fields",
        "model_config",
        "model_construct",
        "model_copy",
        "model_dump",
        "model_dump_json",
        "model_extra",
        "model_fields",
        "model_fields_set",
        "model_json_schema",
        "model_parametrized_name",
        "model_post_init",
        "model_rebuild",
        "model_validate",
        "model_validate_json",
        "model_validate_strings",
        "parse_file",
        "parse_obj",
        "parse_raw",
        "schema",
        "schema_json",
        "update_forward_refs",
        "validate",
    }
)
CASTLM_ATTRIBUTES = frozenset({"instructions", "demos", "signature"})


def reserved_reason(name: str) -> str | None:
    """Why ``name`` cannot be a field name, or None if it can."""
    if name.startswith("_"):
        return "field names must not start with '_'"
    if name in PYDANTIC_ATTRIBUTES or name.startswith("model_"):
        return f"'{name}' would shadow a pydantic BaseModel attribute"
    if name in CASTLM_ATTRIBUTES:
        return f"'{name}' is used by castlm itself"
    return None


def is_result_attribute(name: str) -> bool:
    """Attributes every predictor result has besides its fields (``model_dump``, ...)."""
    return name.startswith("_") or name in PYDANTIC_ATTRIBUTES or name.startswith("model_")
