"""Open both reports in a real headless Chromium: no console error, every section rendered, a screenshot.

Screenshots are written to the test's temporary folder, never into the source tree; set
GARDEN_TEST_ARTIFACTS=DIR to keep a copy for a human to look at.
Set-up: `apt-get update && apt-get install -y chromium` (Debian); the test skips only when no
Chromium/Chrome binary can be found (override with GARDEN_CHROMIUM=/path/to/chrome).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import yaml

from garden.analysis.analyze import run_analysis
from garden.run_report import write_run_report
from report_helpers import EN, ZH, make_run


def chromium() -> str | None:
    for name in (os.environ.get("GARDEN_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


CHROME = chromium()
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROME is None, reason="Chromium not found: apt-get update && apt-get install -y "
                                                        "chromium (or set GARDEN_CHROMIUM)")]


def browse(page: str, tmp: str, screenshot: str | None = None) -> tuple[str, list[str]]:
    """Load `page` headless; return the DOM after its scripts ran and the console messages it logged."""
    base = [CHROME, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp}", "--enable-logging=stderr", "--v=0", "--window-size=1280,2000"]
    url = "file://" + os.path.abspath(page)
    console: list[str] = []
    dom = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=90)
    console += [ln for ln in dom.stderr.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]
    if screenshot:
        shot = subprocess.run(base + [f"--screenshot={screenshot}", url], capture_output=True, text=True, timeout=90)
        console += [ln for ln in shot.stderr.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]
    return dom.stdout, console


def sections(dom: str) -> set[str]:
    return set(re.findall(r'<section id="([^"]+)"', dom))


def test_detector_sees_a_broken_page(tmp_path):
    """The console check can fail: a page with a script error is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><p>x</p><script>notDefined();</script></body></html>")
    dom, console = browse(str(bad), str(tmp_path / "profile"))
    assert any("notDefined" in ln for ln in console)
    assert "data-ready" not in dom


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, str]:
    tmp = str(tmp_path_factory.mktemp("reports"))
    run_dir, _ = make_run(tmp)
    recipe = os.path.join(tmp, "r.yaml")
    with open(recipe, "w") as fh:
        yaml.safe_dump({"name": "cal", "inputs": [{"path": EN, "source": "en"}, {"path": ZH, "source": "zh"}],
                        "output": os.path.join(tmp, "unused"),
                        "pipeline": [{"length_filter": {"min_chars": 50}}]}, fh)
    run_analysis([EN, ZH], os.path.join(tmp, "analysis"), sample_size=200, recipe_path=recipe,
                 targets=["length_filter.min_chars=0.2"])
    return {"run": write_run_report(run_dir), "analysis": os.path.join(tmp, "analysis", "report.html"), "tmp": tmp}


@pytest.mark.parametrize("kind,expected", [
    ("run", {"summary", "funnel", "drops", "rejected", "dedup", "sources", "timings", "quarantine"}),
    ("analysis", {"overview", "sources", "languages", "distributions", "near-duplicates", "calibration", "examples"}),
])
def test_report_renders_without_errors(reports, kind, expected):
    png = os.path.join(reports["tmp"], f"{kind}_report.png")
    dom, console = browse(reports[kind], os.path.join(reports["tmp"], f"profile-{kind}"), png)
    assert console == [], "console errors:\n" + "\n".join(console)
    assert 'data-ready="1"' in dom, "the page's script did not run to the end"
    missing = expected - sections(dom)
    assert not missing, f"sections missing from the rendered page: {missing}"
    assert dom.count("<svg") >= 3, "charts missing"
    assert os.path.getsize(png) > 20_000, "screenshot is (nearly) empty"
    keep = os.environ.get("GARDEN_TEST_ARTIFACTS")
    if keep:
        os.makedirs(keep, exist_ok=True)
        shutil.copy(png, os.path.join(keep, os.path.basename(png)))
