"""api/stripe"""
