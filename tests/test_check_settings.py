"""`dramac check` reports the settings errors a build would stop on, at the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DRAMAC = str(Path(sys.executable).with_name("dramac"))


def test_check_reports_machine_settings_in_front_matter_at_the_key(tmp_path):
    script = tmp_path / "play.md"
    script.write_text("---\nbuild: {jobs: 100000}\n---\n\n# Scene\n\n**ANNA:** Hello there.\n", encoding="utf-8")
    run = subprocess.run([DRAMAC, "check", str(script)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert f"{script}:2:9: error: [build] jobs cannot be set in a script" in run.stderr
    assert "Traceback" not in run.stderr


def test_check_passes_a_script_whose_settings_are_fine(tmp_path):
    script = tmp_path / "play.md"
    script.write_text("---\nnarrator: {enabled: true}\n---\n\n# Scene\n\n**ANNA:** Hello there.\n", encoding="utf-8")
    run = subprocess.run([DRAMAC, "check", str(script)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
