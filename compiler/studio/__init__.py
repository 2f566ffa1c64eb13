"""dramac studio (`dramac serve SCRIPT`): a local page beside the script where the writer hears any
line, takes it again, locks the take, auditions voices, and sees diagnostics, live as they save.

- `screenplay`: the script as screenplay blocks, scene marks and waveform peaks for the page;
- `castfile`: writes a character's voice into dramac.toml, keeping its comments and layout;
- `session`: the builds (dramac watch's loop in a thread, one build lock with every other command),
  takes, auditions, and the events the page listens to;
- `server`: the Starlette app (127.0.0.1 only, same-origin only, small requests, no file by path);
- `static/`: the page itself (HTML, JS, CSS; no build step).
"""
