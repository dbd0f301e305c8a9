"""The console in a real browser: Debian's headless Chromium driven by Playwright.

Run by cli/tests/console.rs against a console it started, with an event EVENT_ID that a
failing sink dead-lettered and an open circuit breaker. Exits non-zero with the reason when a
step fails; writes overview.png and event.png to --out.

Steps: log in; the overview shows the events and a lag figure; search finds the event by id;
its page lists its failed attempts; the breaker is reset; the event is retried from the DLQ
page and its page then shows a delivered attempt; a POST without the CSRF token is refused;
after logging out, the same POST with the old session cookie is refused too.
"""

import argparse
import shutil
import sys
import time

from playwright.sync_api import expect, sync_playwright


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="the console's URL, e.g. http://127.0.0.1:8090/console")
    parser.add_argument("--token", required=True)
    parser.add_argument("--event-id", required=True)
    parser.add_argument("--out", required=True, help="directory for the screenshots")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium is not installed (scripts/install-deps.sh installs it)", file=sys.stderr)
        return 1
    expect.set_options(timeout=15_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        flow(page, args)
        browser.close()
    print("console flow: every step passed")
    return 0


def step(text: str) -> None:
    print(f"step: {text}", flush=True)


def flow(page, args) -> None:
    base, event_id = args.base, args.event_id

    step("a page without a session leads to the login form")
    page.goto(base)
    expect(page).to_have_url(f"{base}/login")

    step("a wrong token is refused")
    page.fill("input[name=name]", "browser-test")
    page.fill("input[name=token]", "not-the-token-at-all")
    page.click("button[type=submit]")
    expect(page.locator(".problem")).to_have_text("Wrong token.")

    step("log in")
    page.fill("input[name=name]", "browser-test")
    page.fill("input[name=token]", args.token)
    page.click("button[type=submit]")
    expect(page).to_have_url(base)
    cookie = next(c for c in page.context.cookies() if c["name"] == "hookline_console")
    assert cookie["httpOnly"], cookie
    assert cookie["sameSite"] == "Strict", cookie

    step("the overview shows the events and a lag figure")
    expect(page.locator("#hot-events")).not_to_have_text("0")
    expect(page.locator("#dlq-total")).to_have_text("1")
    expect(page.locator("#lag tr td").first).to_be_visible()
    lag_cells = page.locator("#lag tr:has(td) td:nth-child(5)")
    assert lag_cells.count() >= 1 and lag_cells.first.inner_text().strip().isdigit(), "no lag figure"
    expect(page.locator("#breakers")).to_contain_text("open")
    page.screenshot(path=f"{args.out}/overview.png", full_page=True)

    step("search finds the event by id; its page shows its failed attempts")
    page.click("text=Events")
    page.fill("input[name=id]", event_id)
    page.click("text=Find")
    expect(page).to_have_url(f"{base}/events/{event_id}")
    expect(page.locator("#attempts td.outcome-failed")).to_have_count(2)
    expect(page.locator("#groups")).to_contain_text("dead-lettered")

    step("reset the open breaker")
    page.click("text=Breakers")
    page.click("#breakers button:has-text('Reset to closed')")
    expect(page.locator("#breakers td.state-closed")).to_have_count(1)

    step("retry the event from the DLQ page")
    page.click("text=Dead letters")
    expect(page.locator("#dead-letters")).to_contain_text(event_id)
    page.click(f"#dead-letters tr:has-text('{event_id}') button:has-text('Retry')")
    expect(page.locator("p.ok")).to_contain_text("Re-appended 1 dead letter(s)")

    step("the event's page then shows a delivered attempt")
    deadline = time.monotonic() + 20
    while True:
        page.goto(f"{base}/events/{event_id}")
        if page.locator("#attempts td.outcome-delivered").count() == 1:
            break
        if time.monotonic() > deadline:
            raise AssertionError("no delivered attempt 20 s after the retry")
        time.sleep(0.5)
    page.screenshot(path=f"{args.out}/event.png", full_page=True)

    step("a POST without the CSRF token is refused")
    refused = page.request.post(f"{base}/dlq/retry", form={"event_id": event_id})
    assert refused.status == 403, refused.status

    step("log out; the old session cookie no longer works")
    page.click("text=Log out")
    expect(page).to_have_url(f"{base}/login")
    page.context.add_cookies([cookie])  # an attacker's copy of the cookie
    replayed = page.request.post(f"{base}/dlq/retry", form={"event_id": event_id})
    assert replayed.status == 401, replayed.status
    page.goto(f"{base}/dlq")
    expect(page).to_have_url(f"{base}/login")


if __name__ == "__main__":
    sys.exit(main())
