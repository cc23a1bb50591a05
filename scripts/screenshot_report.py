"""Render the newest archived coverage report to PNG in headless Chromium or Chrome (``make report-png``).

Looks at the report as a reader would: ``first_screen.png`` (800x1000) and ``full_page.png``,
the whole page at exactly its height, written next to the report. Renders the archive's
``report.html`` (the browser copy, charts inlined), or the file given as the one argument.

The page is measured first: a copy with a one-line script that writes the laid-out height into
the title, read back with ``--dump-dom``; the full-page screenshot then uses that height (no
blank space, nothing cut). Chromium runs with the flags that keep it off the network.

It uses a browser that is already installed: ``$CHROME``, else ``chromium``,
``chromium-browser``, ``google-chrome`` or ``google-chrome-stable`` on ``PATH``. It never
installs anything: without a browser it says how to get one and exits with status 2.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 800
FIRST_SCREEN_HEIGHT = 1000
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
HEIGHT_TITLE = re.compile(r"<title>fraudcal-height:(\d+)</title>")
MEASURE = (
    "<script>addEventListener('load', function () {"
    " document.title = 'fraudcal-height:' + Math.ceil(document.documentElement.scrollHeight); });</script>"
)
NO_BROWSER = """\
no Chromium or Chrome found: looked at $CHROME, then {names} on PATH.
Install one with your system's package manager, e.g.
    sudo apt-get install chromium           (Debian, Ubuntu)
    sudo dnf install chromium               (Fedora)
    brew install --cask chromium            (macOS)
or point CHROME at one that is installed:  CHROME=/path/to/chrome make report-png
(this script never installs anything itself)"""


def find_browser() -> str | None:
    """``$CHROME`` if set (None when it is not an executable), else the first browser on PATH."""
    chosen = os.environ.get("CHROME")
    if chosen:
        return shutil.which(chosen)
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def newest_report() -> Path | None:
    """The newest archived browser report: a ``report.html`` with its ``mail.html`` beside it."""
    artifacts = Path(os.environ.get("FRAUDCAL_ARTIFACTS_DIR", ROOT / "artifacts"))
    reports = [mail.with_name("report.html") for mail in artifacts.rglob("mail.html")]
    reports = [report for report in reports if report.is_file()]
    return max(reports, key=lambda path: path.stat().st_mtime, default=None)


def run_browser(browser: str, *arguments: str) -> str:
    """Run the browser headless, off the network, in a throwaway profile; return its stdout."""
    with tempfile.TemporaryDirectory() as profile:
        completed = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--hide-scrollbars",
                "--virtual-time-budget=5000",
                *arguments,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
    return completed.stdout


def page_height(browser: str, report: Path) -> int:
    """The report's laid-out height in CSS pixels at the screenshot's width."""
    html = report.read_text(encoding="utf-8")
    head, tag, tail = html.rpartition("</body>")
    measured = f"{head}{MEASURE}{tag}{tail}" if tag else html + MEASURE
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "measure.html"
        copy.write_text(measured, encoding="utf-8")
        dom = run_browser(browser, f"--window-size={WIDTH},100", "--dump-dom", copy.as_uri())
    found = HEIGHT_TITLE.search(dom)
    if not found:
        raise RuntimeError(f"{browser} did not report the page height (no JavaScript?); --dump-dom gave {dom[:200]!r}")
    return int(found.group(1))


def main(argv: list[str]) -> int:
    report = Path(argv[0]).resolve() if argv else newest_report()
    if report is None or not report.is_file():
        print(f"no report: {argv[0]} is not a file" if argv else "no report yet: run `make demo` first", file=sys.stderr)
        return 2
    browser = find_browser()
    if browser is None:
        where = f"CHROME={os.environ['CHROME']} is not an executable" if os.environ.get("CHROME") else ""
        print(NO_BROWSER.format(names=", ".join(BROWSERS)) + (f"\n{where}" if where else ""), file=sys.stderr)
        return 2
    height = page_height(browser, report)
    for name, size in (("first_screen.png", FIRST_SCREEN_HEIGHT), ("full_page.png", height)):
        run_browser(browser, f"--window-size={WIDTH},{size}", f"--screenshot={report.parent / name}", report.as_uri())
        print(f"{report.parent / name} ({WIDTH}x{size})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
