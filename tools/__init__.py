"""Build-time tools (not shipped in any Lambda): the OpenAPI document generator."""
