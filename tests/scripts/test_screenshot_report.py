"""``scripts/screenshot_report.py`` (``make report-png``): finds a browser or says how to get one, never
installs one, and sizes the full-page screenshot to the page.

Chromium itself is not on every machine that runs the tests; where a browser is needed, a small
stand-in executable named by ``CHROME`` answers ``--dump-dom`` and ``--screenshot`` and records
what it was asked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "screenshot_report.py"


def _run(tmp_path: Path, *arguments: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *arguments],
        env={"PATH": str(tmp_path / "bin"), "HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _bin(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for installer in ("apt-get", "apt", "sudo", "dnf", "brew"):  # would record any install attempt
        path = folder / installer
        path.write_text(f"#!/bin/sh\necho {installer} \"$@\" >> {tmp_path / 'installs.log'}\n")
        path.chmod(0o755)
    return folder


def _report(tmp_path: Path) -> Path:
    report = tmp_path / "report.html"
    report.write_text("<!DOCTYPE html><html><head><title>s</title></head><body><p>report</p></body></html>")
    return report


def test_without_a_browser_it_says_how_to_get_one_and_installs_nothing(tmp_path):
    _bin(tmp_path)
    completed = _run(tmp_path, str(_report(tmp_path)))
    assert completed.returncode == 2
    assert "no Chromium or Chrome found" in completed.stderr
    assert "CHROME=/path/to/chrome" in completed.stderr and "apt-get install chromium" in completed.stderr
    assert not (tmp_path / "installs.log").exists()


def test_a_chrome_that_is_not_executable_is_named(tmp_path):
    _bin(tmp_path)
    completed = _run(tmp_path, str(_report(tmp_path)), CHROME=str(tmp_path / "missing-chrome"))
    assert completed.returncode == 2 and f"CHROME={tmp_path / 'missing-chrome'} is not an executable" in completed.stderr


def test_the_full_page_screenshot_is_as_tall_as_the_measured_page(tmp_path):
    folder = _bin(tmp_path)
    calls = tmp_path / "calls.jsonl"
    browser = folder / "stand-in-chrome"
    browser.write_text(
        f"""#!{sys.executable}
import json, sys
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname
arguments = sys.argv[1:]
with open({str(calls)!r}, "a") as log:
    log.write(json.dumps(arguments) + "\\n")
page = Path(url2pathname(urlparse(arguments[-1]).path)).read_text()
if "--dump-dom" in arguments:
    # a page that measures itself when loaded is what a real browser would run
    assert "document.documentElement.scrollHeight" in page and "addEventListener('load'" in page
    print("<html><head><title>fraudcal-height:1234</title></head><body></body></html>")
for argument in arguments:
    if argument.startswith("--screenshot="):
        Path(argument.split("=", 1)[1]).write_bytes(b"\\x89PNG")
"""
    )
    browser.chmod(0o755)
    report = _report(tmp_path)
    completed = _run(tmp_path, str(report), CHROME="stand-in-chrome")
    assert completed.returncode == 0, completed.stderr
    asked = [json.loads(line) for line in calls.read_text().splitlines()]
    shots = {
        Path(next(a for a in call if a.startswith("--screenshot=")).split("=", 1)[1]).name: call
        for call in asked
        if any(a.startswith("--screenshot=") for a in call)
    }
    assert "--window-size=800,1234" in shots["full_page.png"]
    assert "--window-size=800,1000" in shots["first_screen.png"]
    assert all(call[-1] == report.as_uri() for call in shots.values())  # the report itself, not the measuring copy
    assert all("--headless" in call and "--disable-background-networking" in call for call in asked)
    assert (report.parent / "full_page.png").is_file() and not (tmp_path / "installs.log").exists()
    assert "4200" not in " ".join(" ".join(call) for call in asked)
