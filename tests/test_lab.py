"""`make lab` serves JupyterLab on notebooks/ with token auth on.

The test starts the real make target with --no-browser on a free port and a
random token (tests/lab_utils.py), reaches /api/status with the token (and is
refused without it), then stops the whole process group.
"""

from __future__ import annotations

import json

from lab_utils import http_get, start_lab, stop_lab


def test_make_lab_serves_the_notebooks_with_token_auth(tmp_path):
    lab = start_lab(tmp_path)
    try:
        status, body = http_get(lab.url("/api/status"))
        assert status == 200, f"JupyterLab did not answer; log:\n{lab.log_text}"
        assert "started" in json.loads(body)
        assert http_get(f"{lab.base_url}/api/status")[0] == 403, "token auth must stay on"
        names = {item["name"] for item in lab.api("contents")["content"]}
        assert "00_welcome.ipynb" in names, "lab must open on notebooks/"
    finally:
        leftovers = stop_lab(lab)
    assert not leftovers, f"processes outlived the lab's shutdown: {leftovers}"
