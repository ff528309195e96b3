"""Seed 001's story through the console only (the invoice comes from the billing system, i.e.
the API): sign in, grant, apply, void, report. A screenshot of each page goes to screenshots/."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from tests.browser.conftest import API_KEY, console_url, shot, sign_in


def test_seed_001_story_through_the_console(page, stack, api):
    customer = f"cus_story{uuid.uuid4().hex[:8]}"
    page.goto(console_url(stack))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shot(page, "01-sign-in")
    sign_in(page, stack)
    # The key is in this tab's session storage, not in the URL.
    assert API_KEY not in page.url
    stored = page.evaluate("() => ({...sessionStorage})")  # the key, and the key's name and scope (no secret)
    assert stored["credits.console.apiKey"] == API_KEY
    assert set(stored) == {"credits.console.apiKey", "credits.console.identity"}
    assert API_KEY not in stored["credits.console.identity"]

    page.get_by_label("Customer id or prefix").fill(customer)
    page.get_by_role("button", name="Open customer").click()
    expect(page.get_by_role("heading", name=f"Customer {customer}")).to_be_visible()

    # $50 welcome credit, expiring in 90 days, with a reason.
    page.get_by_role("button", name="Add credit grant").click()
    panel = page.get_by_role("dialog", name="Add credit grant")
    panel.get_by_label("Name", exact=True).fill("Welcome credit")
    panel.get_by_label("Amount", exact=True).fill("50")
    panel.get_by_role("button", name="Expires in 90 days").click()
    expiry = panel.get_by_label("Expiry date (last usable day)").input_value()
    assert expiry == (datetime.now(UTC).date() + timedelta(days=90)).isoformat()
    panel.get_by_label("Reason (internal note)").fill("Welcome offer for a new sign-up")
    shot(page, "02-add-cash-grant")
    panel.get_by_role("button", name="Add credit grant").click()
    expect(panel).to_be_hidden()
    usd = page.locator("[data-balance=USD]")
    expect(usd.locator("[data-k=available]")).to_have_text("$50.00")

    # 10,000 API-call units: type the price per unit, read the auto-filled total.
    page.get_by_role("button", name="Add credit grant").click()
    panel = page.get_by_role("dialog", name="Add credit grant")
    panel.get_by_label("Name", exact=True).fill("API calls bundle")
    panel.get_by_label("Unit", exact=True).check()
    panel.get_by_label("Units", exact=True).fill("10000")
    panel.get_by_label("Metric").fill("api_calls")
    panel.get_by_label("Price per unit").fill("0.0025")
    expect(panel.get_by_label("Total price")).to_have_value("25.00")
    shot(page, "03-add-unit-grant")
    panel.get_by_role("button", name="Add credit grant").click()
    expect(panel).to_be_hidden()
    expect(page.locator("[data-balance=api_calls] [data-k=available]")).to_have_text("10,000 api_calls")
    grants = api("GET", "/credit-grants", params={"customerId": customer}).json()["items"]
    unit = next(g for g in grants if g["type"] == "USAGE")
    assert unit["costOfCredit"] == "25.00" and unit["pricePerUnit"] == "0.0025"
    cash = next(g for g in grants if g["type"] == "CASH")
    assert cash["reason"] == "Welcome offer for a new sign-up" and cash["expiryDate"] == expiry

    # The billing system applies a $150 invoice through the API.
    invoice = f"inv_{uuid.uuid4().hex[:10]}"
    r = api("POST", "/credit-applications", json={"invoiceId": invoice, "customerId": customer, "currency": "USD",
                                                  "lines": [{"lineId": "l1", "amount": "150.00"}]})
    assert r.status_code == 201, r.text
    page.reload()
    expect(usd.locator("[data-k=available]")).to_have_text("$0.00")
    expect(usd.locator("[data-k=pending]")).to_have_text("$50.00")
    expect(page.get_by_role("table", name="Ledger entries, oldest first")).to_contain_text(invoice)
    shot(page, "04-customer-after-invoice")
    page.get_by_role("link", name=invoice).first.click()
    totals = page.get_by_role("table", name="Totals")
    expect(totals).to_contain_text("$150.00")
    expect(totals.locator("td").nth(1)).to_have_text("$50.00")
    expect(totals.locator("td").nth(2)).to_have_text("$100.00")
    shot(page, "05-invoice")

    # Void the unit grant with a reason; the VOIDED entry shows in the history.
    page.go_back()
    page.get_by_role("button", name="Void API calls bundle").click()
    dialog = page.get_by_role("dialog", name="Void API calls bundle")
    dialog.get_by_role("button", name="Void grant").click()
    expect(dialog.get_by_text("A reason is required to void a grant.")).to_be_visible()
    dialog.get_by_label("Reason (required)").fill("Customer moved to a plan with calls included")
    dialog.get_by_label("I understand that voiding cannot be undone").check()
    shot(page, "06-void-dialog")
    dialog.get_by_role("button", name="Void grant").click()
    expect(dialog).to_be_hidden()
    ledger = page.get_by_role("table", name="Ledger entries, oldest first")
    voided_row = ledger.locator("tr", has_text="VOIDED")
    expect(voided_row).to_contain_text("Customer moved to a plan with calls included")
    expect(voided_row).to_contain_text("10,000 api_calls")
    expect(page.get_by_role("table", name="Credit grants, newest first").locator("tr", has_text="API calls bundle")).to_contain_text("VOIDED")
    shot(page, "07-customer-after-void")

    # Reports -> Credits, filtered to this customer and cash; download the CSV of what is shown.
    page.get_by_role("link", name="Reports").click()
    form = page.get_by_role("form", name="Report filters")
    form.get_by_label("Customer id").fill(customer)
    form.get_by_label("Credit type").select_option("CASH")
    form.get_by_role("button", name="Run report").click()
    totals = page.get_by_role("table", name="Credits in the range and outstanding at its end")
    row = totals.locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(1)).to_have_text("$50.00")   # granted
    expect(row.locator("td").nth(2)).to_have_text("$50.00")   # applied
    expect(page.locator("svg.chart rect.bar-granted").first).to_be_attached()
    shot(page, "08-report")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    text = open(info.value.path(), encoding="utf-8").read()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:5] == ["type", "currency", "metricId", "granted", "applied"]
    assert rows[1:] == [["CASH", "USD", "", "50.00", "50.00", "0", "0", "0", "0.00", ""]] or \
        (len(rows) == 2 and rows[1][:5] == ["CASH", "USD", "", "50.00", "50.00"]), rows

    # Sign out clears the key.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("() => sessionStorage.length") == 0
    assert page.console_errors == [], (page.console_errors, page.failed_requests)
