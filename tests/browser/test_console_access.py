"""Keyboard-only use, focus handling in dialogs, an automated accessibility check (axe-core),
hostile text rendered as text, and the page's security headers."""

from __future__ import annotations

import uuid

import requests
from playwright.sync_api import expect

from tests.browser.conftest import axe_violations, console_url, shot, sign_in

IN_DIALOG = "() => !!document.activeElement && !!document.activeElement.closest('[role=dialog]')"


def tab_to(page, selector: str, *, inside_dialog: bool = False, limit: int = 60, back: bool = False) -> None:
    """Press Tab until the focused element matches `selector` (keyboard only); inside a dialog,
    every stop must stay in it (the focus trap)."""
    for _ in range(limit):
        if page.evaluate("(s) => { const el = document.activeElement; if (!el) return false;"
                         " return s.startsWith('text=') ? el.textContent === s.slice(5) : el.matches(s); }", selector):
            return
        page.keyboard.press("Shift+Tab" if back else "Tab")
        if inside_dialog:
            assert page.evaluate(IN_DIALOG), "focus left the dialog"
    raise AssertionError(f"never reached {selector} with the keyboard")


def in_dialog(page, steps: list[tuple[str, str]]) -> None:
    """Tab (focus trapped in the dialog) to each selector, then press Enter/Space or type text."""
    for selector, what in steps:
        tab_to(page, selector, inside_dialog=True)
        if what in ("Enter", "Space"):
            page.keyboard.press(what)
        else:
            page.keyboard.type(what)


def test_grant_form_and_void_dialog_by_keyboard_only(page, stack, api):
    customer = f"cus_kbd{uuid.uuid4().hex[:8]}"
    page.goto(console_url(stack))
    page.keyboard.type("key_a")  # the key field has focus on arrival
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()
    tab_to(page, "input[name=customer]")
    page.keyboard.type(customer)
    tab_to(page, "text=Open customer")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=f"Customer {customer}")).to_be_visible()

    add = "text=Add credit grant"
    tab_to(page, add)
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Add credit grant")
    expect(dialog).to_be_visible()
    assert page.evaluate("() => document.activeElement.closest('.field').querySelector('label').textContent") == "Name"
    # The trap: Shift+Tab from the first stop wraps to the last one, and back.
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(IN_DIALOG)
    page.keyboard.press("Tab")
    assert page.evaluate(IN_DIALOG)
    # Escape closes, and focus returns to the button that opened it.
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert page.evaluate("() => document.activeElement.textContent") == "Add credit grant"

    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    page.keyboard.type("Keyboard credit")
    in_dialog(page, [("input[inputmode=decimal]:not([hidden])", "12.34"), ("button[aria-label='Expires in 30 days']", "Enter"),
                     ("textarea", "typed without a mouse"), ("button[type=submit]", "Enter")])
    expect(dialog).to_be_hidden()
    expect(page.locator("[data-balance=USD] [data-k=available]")).to_have_text("$12.34")
    grant = api("GET", "/credit-grants", params={"customerId": customer}).json()["items"][0]
    assert grant["name"] == "Keyboard credit" and grant["reason"] == "typed without a mouse"
    assert grant["expiryDate"] is not None

    void = "button[aria-label='Void Keyboard credit']"
    expect(page.locator(void)).to_be_visible()  # the grants table re-renders after the balances
    tab_to(page, void, limit=120)  # the nav grew (test clocks, API keys) and the history a column
    page.keyboard.press("Enter")
    vdialog = page.get_by_role("dialog", name="Void Keyboard credit")
    expect(vdialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(vdialog).to_be_hidden()
    assert page.evaluate("(s) => document.activeElement.matches(s)", void), "focus did not return to the Void button"
    page.keyboard.press("Enter")
    expect(vdialog).to_be_visible()
    in_dialog(page, [("textarea", "keyboard void"), ("#void-confirm", "Space"), ("button[type=submit]", "Enter")])
    expect(vdialog).to_be_hidden()
    expect(page.get_by_role("table", name="Ledger entries, oldest first").locator("tr", has_text="VOIDED")).to_contain_text("keyboard void")


def test_no_serious_accessibility_violations_on_any_page(page, stack, api):
    customer = f"cus_a11y{uuid.uuid4().hex[:8]}"
    assert api("POST", "/credit-grants", json={"customerId": customer, "name": "a11y", "type": "CASH", "amount": "5.00",
                                               "currency": "USD"}).status_code == 201
    page.goto(console_url(stack))
    found = {"sign-in": axe_violations(page)}
    sign_in(page, stack)
    expect(page.get_by_role("link", name=customer)).to_be_visible()
    found["customers"] = axe_violations(page)
    page.goto(f"{console_url(stack)}#/customers/{customer}")
    expect(page.locator("[data-balance=USD]")).to_be_visible()
    found["customer"] = axe_violations(page)
    page.get_by_role("button", name="Add credit grant").click()
    expect(page.get_by_role("dialog", name="Add credit grant")).to_be_visible()
    found["grant form"] = axe_violations(page)
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Void a11y").click()
    found["void dialog"] = axe_violations(page)
    page.keyboard.press("Escape")
    for name, hash_ in (("invoices", "#/invoices"), ("reports", "#/reports"), ("schedules", "#/schedules"), ("settings", "#/settings")):
        page.goto(f"{console_url(stack)}{hash_}")
        page.locator("main h1").wait_for()
        if name == "reports":
            page.get_by_role("button", name="Run report").click()
            page.get_by_role("table", name="Credits in the range and outstanding at its end").wait_for()
        shot(page, f"page-{name}")
        found[name] = axe_violations(page)
    assert {k: v for k, v in found.items() if v} == {}


def test_hostile_names_reasons_and_metadata_render_as_text(page, stack, api):
    customer = f"cus_xss{uuid.uuid4().hex[:8]}"
    name = "<img src=x onerror=alert(1)>"
    reason = "<script>alert('reason')</script>"
    r = api("POST", "/credit-grants", json={"customerId": customer, "name": name, "type": "CASH", "amount": "9.00",
                                            "currency": "USD", "reason": reason, "metadata": {"note": "<b>bold</b>"}})
    assert r.status_code == 201, r.text
    grant = r.json()
    assert api("POST", f"/credit-grants/{grant['id']}/void", json={"reason": reason}).status_code == 200
    api("POST", "/tax-rates", json={"name": name, "percentage": "7"})
    alerts: list[str] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    sign_in(page, stack)
    page.goto(f"{console_url(stack)}#/customers/{customer}")
    grants = page.get_by_role("table", name="Credit grants, newest first")
    expect(grants.get_by_text(name, exact=True)).to_be_visible()
    ledger = page.get_by_role("table", name="Ledger entries, oldest first")
    expect(ledger.get_by_text(reason, exact=True).first).to_be_visible()
    page.goto(f"{console_url(stack)}#/settings")
    expect(page.get_by_text(name, exact=True).first).to_be_visible()
    shot(page, "hostile-text")
    assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
    assert alerts == []


def test_console_is_public_with_a_strict_csp_and_the_api_is_not(stack):
    r = requests.get(f"{stack.api_url}/console", timeout=10)
    assert r.status_code == 200 and "text/html" in r.headers["Content-Type"]
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in r.text and "style=" not in r.text  # no inline script or style
    assert '<base href="/console/">' in r.text
    asset = requests.get(f"{stack.api_url}/console/app.mjs", timeout=10)
    assert asset.status_code == 200 and asset.headers["Content-Type"].startswith("text/javascript")
    assert ".innerHTML" not in asset.text and "insertAdjacentHTML" not in asset.text
    assert requests.get(f"{stack.api_url}/console/../template.yaml", timeout=10).status_code == 404
    assert requests.get(f"{stack.api_url}/console/app.py", timeout=10).status_code == 404
    assert requests.get(f"{stack.api_url}/customers", timeout=10).status_code == 401
