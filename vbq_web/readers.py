"""``vbq web --worklist manifest.csv --readers R1,R2,R3 --out readings/``: one session per reader (Slicer-free).

Each reader gets a separate ``vbq web --worklist ... --reader R`` process on its own port, with its own random
token (given to the child as ``VBQ_WEB_TOKEN``) and its own link, printed as

    vbq web: open http://127.0.0.1:8091/?token=... in a browser (Ctrl+C stops)  [reader R1]

Why processes and not one server for all: a trame-slicer app owns one MRML scene, one set of VTK render windows
and one trame state, all on one thread; several readers in one process would share that thread (one reader's
Quick ROI or save stalls the others' painting) and one crash would end every session. A process per reader
isolates the readers (blinding: a session holds only its reader's files in memory) at the cost of memory:
about 560 MB per reader (measured: one reader's link after 2.7 s, 565 MB; three readers' links after 6.3 s,
3 x 564 MB + 22 MB for this parent, on 2 shared cores). This parent only starts the children, rewrites their link
lines and stops them all on Ctrl+C/SIGTERM (each child in its own session, so a terminal's Ctrl+C reaches only
this parent, which sends every child one SIGTERM: the child saves its reader's unsaved changes and stops;
children also get SIGTERM if the parent dies: PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time

URL_LINE = re.compile(r"vbq web: open (https?://\S+) in a browser \(Ctrl\+C stops\)(.*)$")

#: measuring flags forwarded to every reader's session: (flag, attribute, kind)
MEASURE_FLAGS = (("--preset", "preset", "value"), ("--stat", "stat", "value"), ("--levels", "levels", "value"),
                 ("--aggregate", "aggregate", "value"), ("--csf-reference", "csf_reference", "value"),
                 ("--erode-mm", "erode_mm", "value"), ("--mid-slices", "mid_slices", "value"),
                 ("--require-all-levels", "require_all_levels", "flag"), ("--vbq-range", "vbq_range", "pair"),
                 # and the access and upload flags of vbq_web.access (each child its own token, by env)
                 ("--no-token", "no_token", "flag"), ("--certfile", "certfile", "value"),
                 ("--keyfile", "keyfile", "value"), ("--max-upload", "max_upload", "value"),
                 ("--max-voxels", "max_voxels", "value"))


def parse_readers(text: str) -> list:
    from VBQScoreLib.errors import VBQInputError

    from .worklist import check_name

    readers = [r.strip() for r in (text or "").split(",") if r.strip()]
    if not readers:
        raise VBQInputError("--readers: give reader ids separated by commas, e.g. --readers R1,R2,R3")
    for r in readers:
        check_name(r, "--readers")
    dup = sorted({r for r in readers if readers.count(r) > 1})
    if dup:
        raise VBQInputError(f"--readers: {', '.join(dup)} given twice")
    return readers


def measure_argv(args) -> list:
    out = []
    for flag, attr, kind in MEASURE_FLAGS:
        value = getattr(args, attr, None)
        if value is None or value is False:
            continue
        if kind == "flag":
            out.append(flag)
        elif kind == "pair":
            out += [flag, *(repr(float(v)) for v in value)]
        else:
            out += [flag, str(value)]
    return out


def with_token(url: str, token: str) -> str:
    """The child's link with its token (kept when the child printed one itself)."""
    if "token=" in url:
        return url
    return f"{url}{'&' if '?' in url else '?'}token={token}"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def serve_readers(args, readers: list) -> int:
    """Start one session per reader, print each link, wait; Ctrl+C (or SIGTERM) stops them all."""
    from VBQScoreLib.errors import VBQInputError

    from .worklist import Worklist

    out = args.out or "readings"
    for r in readers:  # every reader's folder and the manifest checked before anything starts
        Worklist(args.worklist, r, out)
    children = []
    lock = threading.Lock()
    started = time.perf_counter()
    for i, reader in enumerate(readers):
        token = secrets.token_urlsafe(24)  # 32 URL-safe characters (vbq_web.access takes 16-256)
        port = 0 if args.port == 0 else args.port + i
        cmd = [sys.executable, "-m", "vbq_cli", "web", "--worklist", str(args.worklist), "--reader", reader,
               "--out", str(out), "--host", args.host, "--port", str(port), "--no-browser", *measure_argv(args)]
        env = dict(os.environ, VBQ_WEB_TOKEN=token)
        if getattr(args, "no_token", False):
            env.pop("VBQ_WEB_TOKEN")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, bufsize=1,
                                env=env, start_new_session=True,
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        children.append((reader, token, proc))

    def relay(reader, token, proc):
        for line in proc.stdout:
            line = line.rstrip("\n")
            m = URL_LINE.search(line)
            with lock:
                if m:
                    print(f"vbq web: open {with_token(m.group(1), token)} in a browser (Ctrl+C stops)"
                          f"{m.group(2)}  [reader {reader}]", flush=True)
                    if os.environ.get("VBQ_WEB_DEBUG"):
                        print(f"vbq web: [{reader}] link after {time.perf_counter() - started:.1f} s",
                              file=sys.stderr, flush=True)
                else:
                    print(f"[{reader}] {line}", flush=True)

    threads = [threading.Thread(target=relay, args=c, daemon=True) for c in children]
    for t in threads:
        t.start()

    def stop(*_):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        while True:
            dead = [(r, p.returncode) for r, _, p in children if p.poll() is not None]
            if dead:
                reader, rc = dead[0]
                if rc != 0:
                    code = 2
                    print(f"vbq web: the session of reader {reader} ended (exit status {rc}); stopping the others",
                          file=sys.stderr, flush=True)
                    break
                if len(dead) == len(children):
                    break
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        for _, _, p in children:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)  # each child saves its unsaved changes, then stops
        deadline = time.monotonic() + 60
        for _, _, p in children:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for t in threads:
            t.join(timeout=5)
    if code:
        raise VBQInputError("a reader's session could not start (its error is above)")
    return 0
