"""A real browser on handoff's status pages: headless Chromium through
chromedriver (Debian's chromium, chromium-driver, python3-selenium).

browser.py WEB_URL TOKEN GATE_DIR ARTEFACT_DIR

Prints "PASS what" or "FAIL what: why" per check; the shell test turns them
into TAP. Opens the pages refused without the token, signs in, finds the
hostile title shown as text, cancels and retries job 2 with the page's
buttons, follows job 1's log live (opening GATE_DIR/one
and GATE_DIR/two lets the agent go on), then sees the diff of the finished
job. Screenshots go to ARTEFACT_DIR.
"""
import os
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import (NoAlertPresentException,
                                        TimeoutException,
                                        WebDriverException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

URL, TOKEN, GATE, ART = sys.argv[1:5]
HOSTILE = "<script>alert(1)</script>"
WAIT = 120	# seconds: a bound on a hung page, never a measure
failed = 0


def check(cond, what, why=""):
    global failed
    if cond:
        print("PASS " + what, flush=True)
    else:
        failed += 1
        print("FAIL " + what + (": " + why if why else ""), flush=True)


def shot(d, name):
    # The whole page: as tall as its content.
    h = d.execute_script("return document.documentElement.scrollHeight")
    d.set_window_size(1200, max(700, min(int(h) + 40, 4000)))
    d.save_screenshot(os.path.join(ART, name + ".png"))
    d.set_window_size(1200, 900)


def no_alert(d):
    try:
        d.switch_to.alert
        return False
    except NoAlertPresentException:
        return True


def until(d, fn, what):
    # A page being replaced (a form's answer arriving) makes elements
    # found a moment before go stale: look again rather than give up.
    try:
        WebDriverWait(d, WAIT, poll_frequency=0.1,
                      ignored_exceptions=(WebDriverException,)
                      ).until(lambda _: fn())
        return True
    except TimeoutException:
        check(False, what, "not seen within %d s" % WAIT)
        return False


def text_of(d, css):
    try:
        return d.find_element(By.CSS_SELECTOR, css).text
    except WebDriverException:	# none, or the document went while read
        return None


def submit(d, css, what):
    # Click a form's button and wait until the page it led to replaced
    # this one (a new document has no mark), so no later look reads the
    # page the click left.
    d.execute_script("window.handoffLeft = 1")
    d.find_element(By.CSS_SELECTOR, css).click()
    until(d, lambda: d.execute_script("return window.handoffLeft") is None,
          what + ": the form's answer arrives")


def login_form(d):
    return len(d.find_elements(By.CSS_SELECTOR, "input[name=token]")) == 1


o = webdriver.ChromeOptions()
for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
          "--disable-gpu", "--window-size=1200,900"):
    o.add_argument(a)
d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
try:
    # Refused without the token: the sign-in form, none of the jobs.
    d.get(URL + "/")
    check(login_form(d), "without the token / shows the sign-in form")
    check(not d.find_elements(By.ID, "jobs"), "and no list of jobs")
    d.get(URL + "/jobs/1")
    check(login_form(d) and "waiting at gate one" not in d.page_source,
          "without the token /jobs/1 shows neither the job nor its log")
    shot(d, "status-refused")

    # A wrong token is refused too.
    d.find_element(By.NAME, "token").send_keys("not-the-token")
    submit(d, "form button", "signing in with a wrong token")
    check(login_form(d) and not d.find_elements(By.ID, "jobs"),
          "a wrong token is refused")

    # Signed in: the list, the hostile title as text, no script run.
    d.get(URL + "/")
    d.find_element(By.NAME, "token").send_keys(TOKEN)
    submit(d, "form button", "signing in")
    until(d, lambda: d.find_elements(By.ID, "jobs"), "signed in, / lists jobs")
    rows = d.find_elements(By.CSS_SELECTOR, "#jobs tr.job")
    check(len(rows) >= 1, "the list has job 1")
    check(any(HOSTILE in r.text for r in rows),
          "the hostile title is shown as text",
          "rows: %r" % [r.text for r in rows])
    check(no_alert(d), "and no script of it ran")
    shot(d, "status-index")

    # Job 2 waits behind job 1: the page's buttons cancel it, retry it
    # (job 3) and cancel that, each a form of the page's own.
    d.get(URL + "/jobs/2")
    submit(d, "#cancel", "cancelling job 2")
    until(d, lambda: d.current_url.endswith("/jobs/2") and
          "cancelled" in (text_of(d, "#state") or ""),
          "the cancel button cancels the queued job")
    check("cancelled" in (text_of(d, "#state") or ""),
          "job 2 is cancelled from its page")
    submit(d, "#retry", "retrying job 2")
    until(d, lambda: d.current_url.endswith("/jobs/3"),
          "the retry button leads to the new job")
    check(d.current_url.endswith("/jobs/3"), "retrying job 2 queued job 3",
          d.current_url)
    submit(d, "#cancel", "cancelling job 3")
    until(d, lambda: "cancelled" in (text_of(d, "#state") or ""),
          "job 3 is cancelled too")
    check("cancelled" in (text_of(d, "#state") or ""),
          "job 3 is cancelled from its page")

    # Job 1 while it runs: its log arrives live, without a reload.
    d.get(URL + "/jobs/1")
    check(no_alert(d), "the job's page runs no script of the title")
    check(HOSTILE in (text_of(d, "h1") or ""),
          "the job's heading shows the title as text")
    until(d, lambda: "waiting at gate one" in (text_of(d, "#log") or ""),
          "the log so far is shown")
    check(d.find_element(By.ID, "log").get_attribute("data-live") == "1",
          "the log of a running job is live")
    d.execute_script("window.handoffMark = 42")
    open(os.path.join(GATE, "one"), "w").close()
    if until(d, lambda: "waiting at gate two" in (text_of(d, "#log") or ""),
             "a new line arrives while the agent runs"):
        check(True, "a new line arrives while the agent runs")
    check(d.execute_script("return window.handoffMark") == 42,
          "the line came without reloading the page")
    shot(d, "status-live")

    # The end: the page says so when the job ends.
    open(os.path.join(GATE, "two"), "w").close()
    if until(d, lambda: (text_of(d, "#log-state") or "").startswith("ended"),
             "the page sees the job end"):
        check(True, "the page sees the job end")
    check(text_of(d, "#log-state") == "ended: done",
          "it ended done", "state: %r" % text_of(d, "#log-state"))
    log = text_of(d, "#log") or ""
    check(log.count("waiting at gate one") == 1 and "agent finished" in log,
          "the live log has every line once, to the last",
          "log: %r" % log[-400:])

    # The diff of the finished job.
    d.get(URL + "/jobs/1")
    adds = [e.text for e in d.find_elements(By.CSS_SELECTOR,
                                            "#diff .file span.add")]
    dels = [e.text for e in d.find_elements(By.CSS_SELECTOR,
                                            "#diff .file span.del")]
    check(any("Remember to commit often." in a for a in adds),
          "the diff shows the added line", "adds: %r" % adds)
    check(any("committ" in x for x in dels),
          "the diff shows the deleted line", "dels: %r" % dels)
    check(no_alert(d), "the finished job's page runs no script either")
    shot(d, "status-job")
except Exception as e:	# say what stopped the session, as a check
    check(False, "the session goes on", "%s: %s" % (type(e).__name__, e))
finally:
    d.quit()
sys.exit(1 if failed else 0)
