"""Production settings have no defaults for the table name or the cursor secret: a function
without them fails on its first use of the settings, naming what is missing."""

from __future__ import annotations

import pytest

from credits.settings import MissingSettings, Settings, load_settings


def test_missing_table_name_and_secret_fail_with_a_clear_message(monkeypatch):
    monkeypatch.delenv("TABLE_NAME", raising=False)
    monkeypatch.delenv("CURSOR_SECRET", raising=False)
    with pytest.raises(MissingSettings, match="TABLE_NAME, CURSOR_SECRET"):
        load_settings()


@pytest.mark.parametrize("missing", ["TABLE_NAME", "CURSOR_SECRET"])
def test_each_one_is_required(monkeypatch, missing):
    monkeypatch.setenv("TABLE_NAME", "credits-test")
    monkeypatch.setenv("CURSOR_SECRET", "a-cursor-secret-for-tests")
    monkeypatch.setenv(missing, "")
    with pytest.raises(MissingSettings, match=missing):
        load_settings()


def test_set_values_are_used(monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "credits-test")
    monkeypatch.setenv("CURSOR_SECRET", "a-cursor-secret-for-tests")
    settings = load_settings()
    assert (settings.table_name, settings.cursor_secret) == ("credits-test", "a-cursor-secret-for-tests")
    assert "a-cursor-secret" not in repr(settings)


def test_the_model_has_no_defaults_for_them():
    with pytest.raises(ValueError):
        Settings()
    with pytest.raises(ValueError, match="at least 16"):
        Settings(table_name="t", cursor_secret="short")
