"""The studio's web app (Starlette), served by uvicorn on 127.0.0.1 only.

Safe by default:
- it answers only requests whose Host is the address it listens on (a DNS-rebinding page that
  resolves its own name to 127.0.0.1 is refused) and whose Origin, when sent, is that address too;
  a request that changes anything (POST) must carry a same-origin Origin, so another site cannot
  make the writer's browser lock a take or rewrite dramac.toml;
- request bodies are small JSON objects: anything over MAX_BODY_BYTES is refused (413) before it
  is read in full;
- no file is named by a request: the page's own files come from a fixed list, and audio from the
  session's outputs after checking that they are regular files inside the output folder (no links);
- every response forbids framing and sniffing, and the page's scripts come only from itself (CSP).
"""

from __future__ import annotations

import asyncio
import json
from importlib import resources

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from compiler.diagnostics import CompileError
from compiler.studio.session import Session, StudioError, checked_file

MAX_BODY_BYTES = 16 * 1024
KEEPALIVE_SECONDS = 15.0
# The page's own files: the only static files served, by these names only.
STATIC = {"studio.js": "text/javascript", "studio.css": "text/css", "index.html": "text/html"}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; media-src 'self' blob:; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "Cache-Control": "no-store",
}


class Guard:
    """ASGI middleware: Host and Origin checks, a body-size limit, and the security headers."""

    def __init__(self, app, port_of):
        self.app = app
        self.port_of = port_of  # the bound port is known only once uvicorn listens

    def allowed_hosts(self) -> set[str]:
        port = self.port_of()
        return {f"127.0.0.1:{port}", f"localhost:{port}"}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        hosts = self.allowed_hosts()
        origin = headers.get("origin")
        length = headers.get("content-length")
        refusal = None
        if headers.get("host") not in hosts:
            refusal = (421, "this studio answers only at " + " or ".join(sorted(f"http://{h}" for h in hosts)))
        elif origin is not None and origin not in {f"http://{h}" for h in hosts}:
            refusal = (403, "requests from other origins are refused")
        elif scope["method"] not in ("GET", "HEAD") and origin is None:
            refusal = (403, "a request that changes something must come from the studio's page (Origin)")
        elif length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            refusal = (413, f"requests are limited to {MAX_BODY_BYTES} bytes")
        if refusal is not None:
            response = PlainTextResponse(refusal[1] + "\n", status_code=refusal[0], headers=SECURITY_HEADERS)
            return await response(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k.lower().encode() not in names]
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        return await self.app(scope, receive, send_with_headers)


async def _json_body(request: Request) -> dict:
    """The request's JSON object, read up to MAX_BODY_BYTES (a chunked body says no length up front)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise StudioError(f"requests are limited to {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise StudioError("the request is not JSON") from None
    if not isinstance(data, dict):
        raise StudioError("the request must be a JSON object")
    return data


def _int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise StudioError(f"{what} must be a whole number")
    try:
        number = int(value)
    except ValueError:
        raise StudioError(f"{what} must be a whole number") from None
    if not 0 < number < 10**7:
        raise StudioError(f"{what} is out of range")
    return number


def _text(value, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise StudioError(f"{what} must be a short text")
    return value


def create_app(session: Session, port_of) -> Starlette:
    def static_text(name: str) -> bytes:
        return resources.files("compiler.studio").joinpath("static", name).read_bytes()

    async def index(request: Request) -> Response:
        return Response(static_text("index.html"), media_type="text/html; charset=utf-8")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return PlainTextResponse("not found\n", status_code=404)
        return Response(static_text(name), media_type=f"{STATIC[name]}; charset=utf-8")

    async def state(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(session.state))

    async def audio(request: Request) -> Response:
        try:
            path = checked_file(session.wav_path(), session.out_dir)
        except OSError:
            return PlainTextResponse("no audio yet: the first build has not finished\n", status_code=404)
        return FileResponse(path, media_type="audio/wav")  # answers Range requests: the page seeks in it

    async def peaks(request: Request) -> Response:
        try:
            return JSONResponse(await run_in_threadpool(session.peaks))
        except OSError:
            return JSONResponse({"duration": 0.0, "peaks": []})

    async def take(request: Request) -> Response:
        data = await _json_body(request)
        line = _int(data.get("line"), "line")
        action = _text(data.get("action"), "action")
        number = _int(data["take"], "take") if data.get("take") is not None else None
        return JSONResponse(await run_in_threadpool(session.take, line, action, number))

    async def take_audio(request: Request) -> Response:
        line = _int(request.query_params.get("line"), "line")
        number = _int(request.query_params.get("take"), "take")
        return Response(await run_in_threadpool(session.take_audio, line, number), media_type="audio/wav")

    async def audition(request: Request) -> Response:
        character = _text(request.query_params.get("character"), "character")
        voice = _text(request.query_params.get("voice"), "voice")
        return Response(await run_in_threadpool(session.audition, character, voice), media_type="audio/wav")

    async def voice(request: Request) -> Response:
        data = await _json_body(request)
        chosen = await run_in_threadpool(session.choose_voice, _text(data.get("character"), "character"),
                                         _text(data.get("voice"), "voice"))
        return JSONResponse(chosen)

    async def events(request: Request) -> Response:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        session.subscribe(loop, queue)

        async def stream():
            try:
                yield f"event: hello\ndata: {json.dumps({'version': session.version})}\n\n"
                idle = 0.0
                while not session.stop.is_set():
                    try:
                        message = await asyncio.wait_for(queue.get(), 1.0)
                    except asyncio.TimeoutError:
                        idle += 1.0
                        if idle >= KEEPALIVE_SECONDS:
                            idle = 0.0
                            yield ": keep-alive\n\n"
                        continue
                    idle = 0.0
                    yield message
            finally:
                session.unsubscribe(loop, queue)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})

    async def refused(request: Request, exc: StudioError) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=400)

    async def does_not_compile(request: Request, exc: CompileError) -> Response:
        # The script or settings have errors (shown by the last build), or the cache folder is refused.
        first = exc.diagnostics[0] if exc.diagnostics else None
        where = f"{first.span.file}:{first.span.line}: " if first is not None and first.span.file else ""
        return JSONResponse({"error": f"{where}{first.message if first else exc}"}, status_code=409)

    routes = [
        Route("/", index),
        Route("/static/{name}", static),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Route("/api/state", state),
        Route("/api/audio", audio),
        Route("/api/peaks", peaks),
        Route("/api/events", events),
        Route("/api/take", take, methods=["POST"]),
        Route("/api/take-audio", take_audio),
        Route("/api/audition", audition),
        Route("/api/voice", voice, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={StudioError: refused, CompileError: does_not_compile})
    app.add_middleware(Guard, port_of=port_of)
    return app


def serve(session: Session, port: int = 0, open_browser: bool = False, on_ready=None) -> None:
    """Listen on 127.0.0.1:`port` (0: a free one) until interrupted. `on_ready(url)` is called once
    the socket is bound."""
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts: the URL works once printed
    bound = sock.getsockname()[1]
    app = create_app(session, lambda: bound)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2, access_log=False)
    server = uvicorn.Server(config)
    url = f"http://127.0.0.1:{bound}/"
    session.start()
    if on_ready is not None:
        on_ready(url)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.run(sockets=[sock])
    finally:
        session.close()
