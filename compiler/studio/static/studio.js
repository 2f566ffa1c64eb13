// dramac studio: the page. Script text only ever reaches the page through textContent (never as HTML).
"use strict";

const $ = (id) => document.getElementById(id);
const mix = $("mix");
const preview = $("preview");
const studio = { state: null, version: -1, peaks: [], current: null, selected: null, shownTake: 1, byLine: new Map(),
                 playAfterBuild: null };
window.studio = studio; // for people poking at it in the console, and for the browser tests

function clock(t) {
  const m = Math.floor(t / 60), s = t - 60 * m;
  return `${m}:${s.toFixed(1).padStart(4, "0")}`;
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store" });
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return r.json();
}

async function post(url, body) {
  const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.error || `${r.status}`);
  return data;
}

function setStatus(text, cls) {
  const s = $("status");
  s.textContent = text;
  s.className = cls || "";
}

// ---- the screenplay ---------------------------------------------------------------------------

function render(state) {
  const root = $("script");
  root.replaceChildren();
  studio.byLine = new Map();
  for (const line of state.lines) if (!studio.byLine.has(line.line)) studio.byLine.set(line.line, line);
  const diags = new Map();
  for (const d of state.build.diagnostics) {
    if (!d.in_script) continue;
    if (!diags.has(d.line)) diags.set(d.line, []);
    diags.get(d.line).push(d);
  }
  const addDiags = (container, from, to) => {
    for (const n of [...diags.keys()].filter((k) => k >= from && k <= to).sort((a, b) => a - b)) {
      for (const d of diags.get(n)) {
        const box = el("div", `diag ${d.severity}`, `${d.line}:${d.col}: ${d.severity}: ${d.message}` +
          (d.notes.length ? "\n" + d.notes.join("\n") : ""));
        box.dataset.line = d.line;
        container.appendChild(box);
      }
    }
  };
  let lastLine = 0;
  for (const b of state.blocks) {
    // Diagnostics on lines that hold no block (blank or unparsed lines) go before the next block.
    addDiags(root, lastLine + 1, b.line - 1);
    let node;
    if (b.kind === "dialogue") {
      node = el("div", "block dialogue");
      const cue = el("div", "cue", b.cue);
      cue.dataset.line = b.line;
      node.appendChild(cue);
      let end = b.line;
      for (const p of b.parts) {
        const part = el("div", p.kind === "speech" ? "speech" : p.kind, p.text);
        part.dataset.line = p.line;
        if (p.kind === "speech") heard(part, p.line);
        node.appendChild(part);
        end = Math.max(end, p.end_line || p.line);
      }
      root.appendChild(node);
      addDiags(root, b.line, end);
      lastLine = end;
      continue;
    }
    node = el("div", `block ${b.kind}`, b.text);
    node.dataset.line = b.line;
    if (b.kind === "action") heard(node, b.line); // read aloud when the narrator is on
    root.appendChild(node);
    addDiags(root, b.line, b.end_line || b.line);
    lastLine = b.end_line || b.line;
  }
  addDiags(root, lastLine + 1, 1e9);
  for (const n of state.build.rendered_lines || []) {
    const node = root.querySelector(`.heard[data-line="${n}"]`);
    if (node) node.classList.add("rerendered");
  }
  renderProblems(state.build.diagnostics);
}

function heard(node, line) {
  const timing = studio.byLine.get(line);
  if (!timing) return;
  node.classList.add("heard");
  node.title = `${clock(timing.start)} · click to play from here`;
  const take = studio.state.takes[String(line)];
  if (take && take.count > 1) node.appendChild(el("span", "take-badge", `take ${take.take}/${take.count}`));
  node.addEventListener("click", () => playLine(line));
}

function renderProblems(diagnostics) {
  const list = $("problems");
  list.replaceChildren();
  if (!diagnostics.length) list.appendChild(el("li", "none", "none"));
  for (const d of diagnostics) {
    const item = el("li", d.severity, `${d.file}:${d.line}:${d.col}: ${d.message}`);
    if (d.in_script) item.addEventListener("click", () => {
      const node = document.querySelector(`#script [data-line="${d.line}"]`);
      if (node) node.scrollIntoView({ block: "center" });
    });
    list.appendChild(item);
  }
}

// ---- playback ---------------------------------------------------------------------------------

function playLine(line) {
  const timing = studio.byLine.get(line);
  if (!timing) return;
  select(line);
  mix.currentTime = timing.start;
  mix.play().catch(() => {});
}

function currentLine(t) {
  let found = null;
  for (const line of studio.state.lines) {
    if (line.start <= t + 1e-3) found = line;
    else break;
  }
  return found && t <= found.end + 0.25 ? found : null;
}

function follow() {
  if (!studio.state) return;
  const t = mix.currentTime;
  $("clock").textContent = `${clock(t)} / ${clock(studio.state.duration)}`;
  $("play").textContent = mix.paused ? "▶" : "❚❚";
  const line = currentLine(t);
  const n = line ? line.line : null;
  if (n !== studio.current) {
    document.querySelectorAll(".heard.current").forEach((x) => x.classList.remove("current"));
    studio.current = n;
    if (n !== null) {
      const node = document.querySelector(`#script .heard[data-line="${n}"]`);
      if (node) {
        node.classList.add("current");
        if ($("follow").checked && !mix.paused) node.scrollIntoView({ block: "center", behavior: "smooth" });
      }
    }
  }
  drawWave();
}

mix.addEventListener("timeupdate", follow);
mix.addEventListener("play", follow);
mix.addEventListener("pause", follow);
$("play").addEventListener("click", () => (mix.paused ? mix.play().catch(() => {}) : mix.pause()));
document.addEventListener("keydown", (e) => {
  if (e.code === "Space" && e.target === document.body) {
    e.preventDefault();
    mix.paused ? mix.play().catch(() => {}) : mix.pause();
  }
});
(function tick() { if (!mix.paused) follow(); requestAnimationFrame(tick); })();

// ---- the waveform -----------------------------------------------------------------------------

function drawWave() {
  const canvas = $("wave");
  const width = canvas.clientWidth, height = canvas.clientHeight;
  if (canvas.width !== width * devicePixelRatio) {
    canvas.width = width * devicePixelRatio;
    canvas.height = height * devicePixelRatio;
  }
  const g = canvas.getContext("2d");
  g.setTransform(devicePixelRatio, 0, 0, devicePixelRatio, 0, 0);
  g.clearRect(0, 0, width, height);
  const peaks = studio.peaks, duration = studio.state ? studio.state.duration : 0;
  if (peaks.length) {
    g.fillStyle = "#9bb7d4";
    const mid = height / 2;
    for (let x = 0; x < width; x++) {
      const a = Math.floor((x / width) * peaks.length), b = Math.max(a + 1, Math.floor(((x + 1) / width) * peaks.length));
      let p = 0;
      for (let i = a; i < b && i < peaks.length; i++) p = Math.max(p, peaks[i]);
      const h = Math.max(1, p * (mid - 4));
      g.fillRect(x, mid - h, 1, 2 * h);
    }
  }
  if (duration > 0 && studio.state) {
    g.font = "11px system-ui, sans-serif";
    for (const s of studio.state.scenes) {
      if (s.start === null) continue;
      const x = (s.start / duration) * width;
      g.fillStyle = "#555";
      g.fillRect(x, 0, 1, height);
      g.fillText(s.text, x + 3, 11, 180);
    }
    const x = (mix.currentTime / duration) * width;
    g.fillStyle = "#d33";
    g.fillRect(x - 1, 0, 2, height);
  }
}

$("wave").addEventListener("click", (e) => {
  if (!studio.state || !studio.state.duration) return;
  const rect = e.target.getBoundingClientRect();
  mix.currentTime = ((e.clientX - rect.left) / rect.width) * studio.state.duration;
  mix.play().catch(() => {});
});
window.addEventListener("resize", drawWave);

// ---- takes ------------------------------------------------------------------------------------

function select(line) {
  document.querySelectorAll(".heard.selected").forEach((x) => x.classList.remove("selected"));
  studio.selected = line;
  const node = document.querySelector(`#script .heard[data-line="${line}"]`);
  if (node) node.classList.add("selected");
  const take = studio.state.takes[String(line)] || { take: 1, count: 1 };
  studio.shownTake = take.take;
  showTake();
}

function showTake() {
  const line = studio.selected;
  const timing = line !== null ? studio.byLine.get(line) : null;
  const take = (line !== null && studio.state.takes[String(line)]) || { take: 1, count: 1 };
  $("take-line").textContent = timing ? `Line ${line} · ${timing.speaker}: ${timing.original}` : "Click a spoken line.";
  $("take-label").textContent = timing ? `take ${studio.shownTake} of ${take.count}` : "–";
  $("take-label").dataset.take = studio.shownTake;
  $("take-label").dataset.count = take.count;
  $("take-label").dataset.locked = take.take;
  $("take-prev").disabled = !timing || studio.shownTake <= 1;
  $("take-next").disabled = !timing || studio.shownTake >= take.count;
  $("take-new").disabled = !timing;
  $("take-lock").disabled = !timing || studio.shownTake === take.take;
  $("take-note").textContent = timing ? (studio.shownTake === take.take ? `take ${take.take} is locked: builds render it`
    : `hearing take ${studio.shownTake}; take ${take.take} is locked`) : "";
}

function hearTake(n) {
  studio.shownTake = n;
  showTake();
  mix.pause();
  preview.src = `/api/take-audio?line=${studio.selected}&take=${n}`;
  preview.play().catch(() => {});
}

$("take-prev").addEventListener("click", () => hearTake(studio.shownTake - 1));
$("take-next").addEventListener("click", () => hearTake(studio.shownTake + 1));
$("take-new").addEventListener("click", async () => {
  const line = studio.selected;
  setStatus("rendering another take…", "building");
  try {
    const t = await post("/api/take", { line, action: "new" });
    studio.state.takes[String(line)] = { take: t.take, count: t.count };
    studio.shownTake = t.take;
    studio.playAfterBuild = line; // hear the new take in the mix as soon as it is built
    showTake();
    setStatus(`take ${t.take} of ${t.count} locked; building…`, "building");
  } catch (e) { setStatus(`another take failed: ${e.message}`, "failed"); }
});
$("take-lock").addEventListener("click", async () => {
  const line = studio.selected;
  try {
    const t = await post("/api/take", { line, action: "lock", take: studio.shownTake });
    studio.state.takes[String(line)] = { take: t.take, count: t.count };
    studio.playAfterBuild = line;
    showTake();
    setStatus(`take ${t.take} locked; building…`, "building");
  } catch (e) { setStatus(`lock failed: ${e.message}`, "failed"); }
});

// ---- voices -----------------------------------------------------------------------------------

function renderVoices() {
  const pick = $("audition-character");
  const chosen = pick.value;
  pick.replaceChildren();
  for (const m of studio.state.cast) {
    const option = el("option", "", `${m.name} (${m.voice})`);
    option.value = m.name;
    pick.appendChild(option);
  }
  if (chosen && studio.state.cast.some((m) => m.name === chosen)) pick.value = chosen;
  listVoices();
}

function listVoices() {
  const name = $("audition-character").value;
  const member = studio.state.cast.find((m) => m.name === name);
  const list = $("voices");
  list.replaceChildren();
  if (!member) return;
  for (const v of studio.state.palette) {
    const item = el("li", v.name === member.voice ? "current" : "");
    item.dataset.voice = v.name;
    item.appendChild(el("span", "name", v.name));
    item.appendChild(el("span", "desc", v.description));
    const hear = el("button", "audition-play", "▶");
    hear.title = `${member.name}'s first line in ${v.name}`;
    hear.addEventListener("click", () => {
      mix.pause();
      preview.src = `/api/audition?character=${encodeURIComponent(member.name)}&voice=${encodeURIComponent(v.name)}`;
      preview.play().catch(() => {});
    });
    const choose = el("button", "audition-choose", "choose");
    choose.disabled = v.name === member.voice;
    choose.addEventListener("click", async () => {
      try {
        await post("/api/voice", { character: member.name, voice: v.name });
        setStatus(`${member.name} now speaks as ${v.name} (dramac.toml); building…`, "building");
      } catch (e) { setStatus(`choosing the voice failed: ${e.message}`, "failed"); }
    });
    item.append(hear, choose);
    list.appendChild(item);
  }
}
$("audition-character").addEventListener("change", listVoices);

// ---- live updates -----------------------------------------------------------------------------

// Where the listener is, as a line (speaker and text) and the offset into it: after a rebuild the
// same line may start elsewhere, and playback resumes there.
function position() {
  const t = mix.currentTime;
  const line = studio.state ? currentLine(t) : null;
  return { t, playing: !mix.paused, line: line ? { speaker: line.speaker, original: line.original, offset: t - line.start, at: line.line } : null };
}

function restore(pos, state) {
  let t = pos.t;
  if (pos.line) {
    const same = state.lines.filter((l) => l.speaker === pos.line.speaker && l.original === pos.line.original);
    if (same.length) {
      same.sort((a, b) => Math.abs(a.line - pos.line.at) - Math.abs(b.line - pos.line.at));
      const l = same[0];
      t = Math.min(l.start + pos.line.offset, l.end);
    }
  }
  return Math.max(0, Math.min(t, state.duration || 0));
}

async function load() {
  const pos = position();
  const state = await getJSON("/api/state");
  const first = studio.state === null;
  studio.state = state;
  studio.version = state.version;
  $("title").textContent = `${state.file}${state.backend ? " · " + state.backend : ""}`;
  render(state);
  renderVoices();
  if (studio.selected !== null) {
    const t = state.takes[String(studio.selected)];
    studio.shownTake = t ? t.take : 1;
    const node = document.querySelector(`#script .heard[data-line="${studio.selected}"]`);
    if (node) node.classList.add("selected");
    else studio.selected = null;
    showTake();
  }
  try { studio.peaks = (await getJSON(`/api/peaks?v=${state.version}`)).peaks; } catch (e) { studio.peaks = []; }
  if (state.lines.length) {
    const target = first ? 0 : restore(pos, state);
    await new Promise((resolve) => {
      mix.addEventListener("loadedmetadata", resolve, { once: true });
      mix.addEventListener("error", resolve, { once: true });
      mix.src = `/api/audio?v=${state.version}`;
      mix.load();
    });
    mix.currentTime = target;
    if (pos.playing) mix.play().catch(() => {});
  }
  studio.current = null;
  if (studio.playAfterBuild !== null && !state.building && studio.byLine.has(studio.playAfterBuild)) {
    const line = studio.playAfterBuild;
    studio.playAfterBuild = null;
    playLine(line);
  }
  follow();
  const b = state.build;
  const failed = !b.ok && state.version > 0;
  setStatus(state.building ? "building…" : state.version === 0 ? "first build…" : b.message, state.building ? "building" : failed ? "failed" : "");
  document.body.dataset.version = state.version;
  document.body.dataset.ready = "1";
}

let loading = Promise.resolve();
function reload() { loading = loading.then(load).catch((e) => setStatus(`cannot reach the studio: ${e.message}`, "failed")); return loading; }

function listen() {
  const events = new EventSource("/api/events");
  events.addEventListener("building", () => setStatus("building…", "building"));
  events.addEventListener("build", () => reload());
  events.addEventListener("hello", (e) => {
    const v = JSON.parse(e.data).version;
    if (v !== studio.version) reload(); // missed a build while disconnected
  });
  events.onerror = () => setStatus("disconnected from the studio; retrying…", "failed");
}

reload();
listen();
