"""Shared domain package of the credit grants service (shipped as a Lambda layer)."""
