"""Routers shared by several functions (included with app.include_router)."""
