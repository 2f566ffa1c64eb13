"""The studio's server without a browser: what it refuses (other hosts and origins, large bodies,
files by path, links out of the output folder), what it serves, and dramac.toml edits that keep the
file's comments and layout."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the studio extra is not installed (pip install -e '.[test]')")
pytest.importorskip("tomlkit", reason="the studio extra is not installed (pip install -e '.[test]')")

from starlette.testclient import TestClient  # noqa: E402

from compiler.studio.castfile import CastFileError, set_voice  # noqa: E402
from compiler.studio.server import MAX_BODY_BYTES, create_app  # noqa: E402
from compiler.studio.session import Session  # noqa: E402

PORT = 8799
BASE = f"http://127.0.0.1:{PORT}"
PLAY = "Title: Server\n\nINT. ROOM - DAY\n\nANNA\nHello there, it is late.\n\nBEN\nThen we should go.\n"


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "dramac.toml").write_text("# keep me\n[project]\nname = \"x\"\n")
    (tmp_path / "play.fountain").write_text(PLAY)
    return tmp_path


@pytest.fixture
def client(project):
    session = Session(project / "play.fountain", jobs=1)
    with TestClient(create_app(session, lambda: PORT), base_url=BASE) as test_client:
        test_client.session = session
        yield test_client


def test_other_hosts_and_origins_are_refused(client):
    assert client.get("/").status_code == 200
    assert client.get("/", headers={"Host": "attacker.example:80"}).status_code == 421
    assert client.get("/", headers={"Host": f"localhost:{PORT}"}).status_code == 200
    assert client.get("/api/state", headers={"Origin": "http://attacker.example"}).status_code == 403
    refused = client.post("/api/take", json={"line": 6, "action": "new"})  # no Origin: not from the page
    assert refused.status_code == 403
    cross = client.post("/api/voice", json={"character": "ANNA", "voice": "warm-male"}, headers={"Origin": "http://evil.test"})
    assert cross.status_code == 403
    assert "warm-male" not in (client.session.root / "dramac.toml").read_text()


def test_large_bodies_are_refused_before_they_are_read(client):
    big = client.post("/api/take", content=b"{" + b" " * (MAX_BODY_BYTES + 1) + b"}",
                      headers={"Origin": BASE, "Content-Type": "application/json"})
    assert big.status_code == 413


def test_no_file_is_served_by_path(client, project):
    for path in ("/static/../dramac.toml", "/static/%2e%2e%2fdramac.toml", "/static/play.fountain", "/dramac.toml",
                 "/static/..%2f..%2fetc%2fpasswd"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "keep me" not in response.text
    assert client.get("/static/studio.js").headers["content-type"].startswith("text/javascript")
    headers = client.get("/").headers
    assert headers["x-frame-options"] == "DENY" and "default-src 'self'" in headers["content-security-policy"]


def test_the_mix_is_served_only_as_a_regular_file_inside_the_outputs(client, project, tmp_path_factory):
    assert client.get("/api/audio").status_code == 404  # nothing built yet
    assert client.session.build_now() is not None
    audio = client.get("/api/audio", headers={"Range": "bytes=0-99"})
    assert audio.status_code == 206 and len(audio.content) == 100 and audio.content[:4] == b"RIFF"
    secret = tmp_path_factory.mktemp("outside") / "secret.wav"
    secret.write_bytes(b"RIFF-not-yours")
    wav = project / "outputs" / "play.wav"
    wav.unlink()
    os.symlink(secret, wav)
    assert client.get("/api/audio").status_code == 404


def test_state_holds_the_screenplay_timings_diagnostics_and_takes(client, project):
    client.session.build_now()
    state = client.get("/api/state").json()
    kinds = [b["kind"] for b in state["blocks"]]
    assert kinds == ["title", "scene", "dialogue", "dialogue"]
    assert [line["line"] for line in state["lines"]] == [6, 9]
    assert state["lines"][0]["start"] < state["lines"][1]["start"]
    assert state["takes"] == {"6": {"take": 1, "count": 1}, "9": {"take": 1, "count": 1}}
    assert {m["name"] for m in state["cast"]} == {"ANNA", "BEN"}
    peaks = client.get("/api/peaks").json()
    import numpy as np
    import soundfile

    mix, rate = soundfile.read(project / "outputs" / "play.wav", dtype="float32")
    loudest = np.abs(mix).max(axis=1) if mix.ndim == 2 else np.abs(mix)  # of either channel, per frame
    width = -(-len(loudest) // 1200)
    expected = [float(loudest[i:i + width].max()) for i in range(0, len(loudest), width)]
    assert np.allclose(peaks["peaks"], expected, atol=1e-4) and max(expected) > 0.5
    assert peaks["duration"] == pytest.approx(len(loudest) / rate)
    (project / "play.fountain").write_text(PLAY + "\n[[sfx: ../elsewhere.wav]]\n")
    client.session.build_now()
    state = client.get("/api/state").json()
    assert not state["build"]["ok"]
    assert any(d["in_script"] and d["line"] == 11 and d["severity"] == "error" for d in state["build"]["diagnostics"])


def test_bad_requests_are_answered_with_a_reason(client):
    headers = {"Origin": BASE}
    assert client.post("/api/take", json={"line": 3, "action": "new"}, headers=headers).json()["error"].startswith("no spoken line")
    assert client.post("/api/take", json={"line": "x", "action": "new"}, headers=headers).status_code == 400
    assert client.post("/api/take", content=b"[1]", headers=headers).status_code == 400
    assert client.get("/api/audition?character=NOBODY&voice=warm-male").json()["error"].startswith("no character")
    assert "palette has no voice" in client.post("/api/voice", json={"character": "ANNA", "voice": "../x"}, headers=headers).json()["error"]


def test_a_voice_is_written_into_the_backends_table_keeping_comments_and_layout(tmp_path):
    config = tmp_path / "dramac.toml"
    original = ("# top comment\n[project]\nname = \"x\"  # trailing comment\n\n[cast.ROSA.embedded]\nvoice = \"low-female\"\n"
                "tempo = 1.05  # a touch quicker\n\n[lexicon]\nNguyen = \"Win\"\n")
    config.write_text(original)
    set_voice(config, "rosa", "embedded", "warm-female")
    set_voice(config, "DR. AMES", "embedded", "deep-male")
    text = config.read_text()
    assert text.startswith("# top comment\n[project]\nname = \"x\"  # trailing comment\n")
    assert "tempo = 1.05  # a touch quicker" in text and "Nguyen = \"Win\"" in text
    data = tomllib.loads(text)
    assert data["cast"]["ROSA"]["embedded"] == {"voice": "warm-female", "tempo": 1.05}
    assert data["cast"]["DR. AMES"]["embedded"] == {"voice": "deep-male"}
    config.write_text("[cast]\nROSA = \"low-female\"\n")
    with pytest.raises(CastFileError):
        set_voice(config, "ROSA", "embedded", "warm-female")
    config.write_text("not toml = = 1\n")
    with pytest.raises(CastFileError):
        set_voice(config, "ROSA", "embedded", "warm-female")


def test_serve_refuses_a_missing_script_and_a_taken_port_with_a_diagnostic(tmp_path):
    import socket
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    missing = subprocess.run([sys.executable, "-m", "compiler", "serve", "nope.fountain"], capture_output=True, text=True,
                             cwd=tmp_path, env=env, timeout=60)
    assert missing.returncode == 1 and "no such script file" in missing.stderr
    (tmp_path / "play.fountain").write_text(PLAY)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        busy = subprocess.run([sys.executable, "-m", "compiler", "serve", "play.fountain", "--port", str(port)],
                              capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert busy.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in busy.stderr
    assert "Traceback" not in missing.stderr + busy.stderr
