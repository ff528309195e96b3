"""The console and API keys: sign-in shows the key's name and scope, a read key sees no write
controls, the history says who made each change, and an admin manages keys on its own page."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from tests.browser.conftest import console_url, shot, sign_in


def test_keys_page_read_key_view_and_who_did_what(page, stack, api):
    customer = f"cus_keys{uuid.uuid4().hex[:8]}"
    writer = api("POST", "/api-keys", json={"name": "Alice (billing)", "scope": "write"}).json()
    grant = api("POST", "/credit-grants", key=writer["key"], json={
        "customerId": customer, "name": "Goodwill", "type": "CASH", "amount": "20.00", "currency": "USD"}).json()
    assert api("POST", f"/credit-grants/{grant['id']}/void", json={"reason": "duplicate"}).status_code == 200

    # The admin: its identity, the keys page, a read key made there (shown once).
    sign_in(page, stack)
    me = api("GET", "/api-keys/current").json()
    expect(page.locator("#identity")).to_have_text(f"{me['name']} · admin")
    page.get_by_role("link", name="API keys").click()
    page.get_by_role("heading", name="API keys").wait_for()
    name = f"Support desk {uuid.uuid4().hex[:4]}"
    page.get_by_label("Name").fill(name)
    page.get_by_label("Scope").select_option("read")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator(".new-key code").inner_text()
    assert secret.startswith("sk_")
    expect(page.get_by_role("cell", name=name, exact=True)).to_be_visible()
    shot(page, "api-keys")

    # The history names who made each change.
    page.goto(f"{console_url(stack)}#/customers/{customer}")
    history = page.get_by_role("table", name="Ledger entries, oldest first")
    expect(history.get_by_role("cell", name="Alice (billing)", exact=True).first).to_be_visible()
    expect(history.get_by_role("cell", name=me["name"], exact=True).first).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    # The read key: its name and scope, no write control, no keys page.
    sign_in(page, stack, key=secret)
    expect(page.locator("#identity")).to_have_text(f"{name} · read")
    expect(page.get_by_role("link", name="API keys")).to_be_hidden()
    page.goto(f"{console_url(stack)}#/customers/{customer}")
    page.get_by_role("heading", name="Transaction history").wait_for()
    expect(page.get_by_role("table", name="Ledger entries, oldest first").get_by_role("cell", name="Alice (billing)", exact=True).first).to_be_visible()
    expect(page.get_by_role("button", name="Add credit grant")).to_be_hidden()
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("heading", name="Tax rates").wait_for()
    expect(page.get_by_role("button", name="Add tax rate")).to_be_hidden()
    shot(page, "read-key")
    assert page.console_errors == []
