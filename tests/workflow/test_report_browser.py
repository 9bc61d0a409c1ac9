"""The tiny config's report page, opened in headless Chromium: every image loads, no errors."""

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=5000",
]
# Injected first in <head>: records script errors and console.error calls.
CATCH = (
    "<script>window.__errors=[];window.addEventListener('error',e=>__errors.push(String("
    "e.message||e.target&&e.target.src)),true);const __ce=console.error;console.error="
    "(...a)=>{__errors.push(a.join(' '));__ce(...a)};</script>"
)
# Injected last in <body>: once loaded, writes what it found into the DOM that is dumped.
CHECK = (
    "<script>window.addEventListener('load',()=>{const imgs=[...document.images];"
    "const broken=imgs.filter(i=>!i.complete||i.naturalWidth===0).length;"
    "const out=document.createElement('pre');out.id='browser-check';out.textContent="
    "JSON.stringify({images:imgs.length,broken:broken,errors:__errors});"
    "document.body.appendChild(out)});</script>"
)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (apt-get install chromium)"
)


@pytest.fixture(scope="module")
def page(finished):
    """The report page of the tiny config's run (the session's, shared; only read here)."""
    return finished / "results/tiny/report/index.html"


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_every_image_loads_without_errors(page, tmp_path):
    html = page.read_text()
    assert html.count("<img") >= 16  # 8 panels for each of the 2 pairs
    probe = tmp_path / "probe.html"
    probe.write_text(
        html.replace("<head>", "<head>" + CATCH, 1).replace("</body>", CHECK + "</body>")
    )
    proc = chromium(tmp_path, "--dump-dom", probe.as_uri())
    found = re.search(r"<pre id=\"browser-check\">(.*?)</pre>", proc.stdout)
    assert found, proc.stderr[-2000:]
    check = json.loads(found.group(1).replace("&quot;", '"'))
    assert check["images"] == html.count("<img") and check["broken"] == 0, check
    assert check["errors"] == [], check
    assert '<table border="1" class="dataframe" id="summary">' in proc.stdout
    assert "The paper" not in proc.stdout  # "tiny" is not a dataset of the paper


def test_screenshot_shows_the_page(page, tmp_path):
    shot = tmp_path / "report.png"
    proc = chromium(tmp_path, "--window-size=1200,1600", f"--screenshot={shot}", page.as_uri())
    assert shot.exists(), proc.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1200, 1600)
        grey = np.asarray(image.convert("L").resize((60, 80)))
        assert len(np.unique(grey)) > 20  # not a blank page
