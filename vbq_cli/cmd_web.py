"""``vbq web [IMAGE [SEGMENTATION]]``: label C2-C7 and CSF and see VBQ live in a browser (needs ``.[web]``)."""

from __future__ import annotations

import argparse
import os
import sys

INSTALL_HINT = ('vbq web needs the web extra: pip install "slicervbq[web]" (in a checkout: '
                'pip install -e ".[web]")')


def register(sub) -> None:
    p = sub.add_parser(
        "web",
        help="label the levels and CSF and see VBQ live, in a browser (needs the [web] extra)",
        description="Serve the VBQ labelling app (Slicer's segmentation core, trame-slicer) to a browser: open an "
        "MRI, create the level segments, paint/erase/threshold or click Quick ROIs, watch the VBQ table, save "
        "a .seg.nrrd with the vbq score result. IMAGE and SEGMENTATION as in vbq score (or open them in the "
        "page). With --worklist, walks one reader through the cases of a vbq batch manifest. Only the printed "
        "link opens the page: it carries a random access token (--token, VBQ_WEB_TOKEN), which the browser then "
        "keeps in a cookie.",
        epilog="Keys in the page: 2-7 select a level, C the CSF, P/E/T/Q paint/erase/threshold/Quick ROI, "
        "Ctrl+Z undo, Ctrl+S save, PageDown/PageUp next/previous case (unsaved changes are saved first). "
        "Exit status: 0 when stopped with Ctrl+C; 2 bad input or the web extra missing.",
    )
    p.add_argument("image", metavar="IMAGE", nargs="?", help="T1-weighted MRI (file or DICOM folder)")
    p.add_argument("segmentation", metavar="SEGMENTATION", nargs="?",
                   help="an existing segmentation to start from: .seg.nrrd or integer labelmap (with --labels)")
    p.add_argument("--labels", metavar="FILE", help="label names for a labelmap: lines '1=C3' or a Slicer "
                   "color table ('1 C3 r g b a')")
    from .measure_options import add_measure_options

    add_measure_options(p)
    p.add_argument("--worklist", metavar="MANIFEST", help="reader worklist: a vbq batch manifest CSV "
                   "(case_id,image[,labels]; a segmentation column is ignored: readers are blinded)")
    p.add_argument("--reader", metavar="NAME", help="reader id for --worklist (readings go to OUT/NAME/)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="where Save writes <case>.seg.nrrd, <case>.result.json and <case>.levels.csv (default: "
                   "the current folder; with --worklist: readings)")
    p.add_argument("--case-id", metavar="ID", help="file name stem of the saved files (default: the IMAGE name)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to serve on (default 127.0.0.1: this computer only; 0.0.0.0 serves every "
                   "network the computer is on)")
    p.add_argument("--port", type=int, default=8091, help="port (default 8091; 0 picks a free one)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    p.add_argument("--token", metavar="TEXT", default=None,
                   help="the access token the link carries (default: $VBQ_WEB_TOKEN, else a new random one); "
                   "every request and websocket without it is refused. Other users of this computer can read a "
                   "command line: prefer VBQ_WEB_TOKEN")
    p.add_argument("--no-token", action="store_true",
                   help="no token (only with a loopback --host: anyone on this computer can then connect)")
    p.add_argument("--certfile", metavar="PEM", help="serve HTTPS with this certificate (with --keyfile)")
    p.add_argument("--keyfile", metavar="PEM", help="the private key of --certfile")
    p.add_argument("--max-upload", metavar="SIZE", default="2G",
                   help="largest file the page may upload (default 2G; e.g. 500M, or bytes)")
    p.set_defaults(func=run)
    from .oneline import one_line_errors

    one_line_errors(p)


def access_from_args(args):
    """The :class:`vbq_web.access.Access` of the flags (token, host, HTTPS), checked."""
    from VBQScoreLib.errors import VBQInputError

    from vbq_web.access import TOKEN_ENV, Access, check_token_text, is_loopback

    loopback = is_loopback(args.host)
    if args.no_token:
        if args.token:
            raise VBQInputError("--no-token and --token: give one of them")
        if not loopback:
            raise VBQInputError(f"--no-token is only for a loopback --host (127.0.0.1, localhost), not {args.host}")
        access = Access(None, host=args.host, generate=False)
    else:
        token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None
        if token is not None:
            check_token_text(token, "--token" if args.token is not None else TOKEN_ENV)
        access = Access(token, host=args.host)
    if bool(args.certfile) != bool(args.keyfile):
        raise VBQInputError("--certfile and --keyfile go together (HTTPS needs both)")
    if args.certfile:
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(args.certfile, args.keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise VBQInputError(f"--certfile {args.certfile} --keyfile {args.keyfile}: cannot use them "
                                f"({getattr(exc, 'strerror', None) or exc})") from None
        access.ssl_context = context
    return access


def host_warning(access, host: str):
    """The one warning line of a non-loopback ``--host`` (who can reach the server, what protects it), or
    None."""
    if access.loopback:
        return None
    how = "only the link's token protects it" if access.token else "anyone can open it"
    if access.ssl_context is None:
        how += ", and the traffic is not encrypted (--certfile/--keyfile serve HTTPS)"
    return f"vbq web: warning: --host {host} serves every computer that can reach this one; {how}"


def _check_web_extra() -> None:
    from importlib.util import find_spec

    from VBQScoreLib.errors import VBQInputError

    if any(find_spec(m) is None for m in ("trame", "trame_slicer", "slicer")):
        raise VBQInputError(INSTALL_HINT)


def session_from_args(args):
    """The :class:`vbq_web.logic.Session` of the parsed flags (worklist and options validated)."""
    from pathlib import Path

    from VBQScoreLib.atomic import check_output_directory
    from VBQScoreLib.errors import VBQInputError

    from vbq_web.logic import Session
    from vbq_web.worklist import Worklist

    from .measure_options import options_from_args

    from vbq_web.uploads import parse_size

    options = options_from_args(args)
    if not 0 <= args.port <= 65535:
        raise VBQInputError(f"--port {args.port}: a port is a number from 0 to 65535")
    max_upload = parse_size(args.max_upload)
    if args.worklist:
        if args.image or args.segmentation:
            raise VBQInputError("--worklist takes the images from the manifest: give no IMAGE/SEGMENTATION")
        if not args.reader:
            raise VBQInputError("--worklist needs --reader NAME (the readings go to OUT/NAME/)")
        worklist = Worklist(args.worklist, args.reader, Path(args.out or "readings"))
        for message in worklist.skipped:  # a vbq intake manifest: rows not ok (ambiguous, no_series)
            print(f"vbq web: {message}", file=sys.stderr)
        return Session(options=options, out_dir=worklist.folder, worklist=worklist, max_upload=max_upload)
    if args.reader:
        raise VBQInputError("--reader applies to --worklist")
    if args.segmentation and not args.image:  # pragma: no cover - argparse fills IMAGE first
        raise VBQInputError("give the MRI first, then its segmentation")
    out = Path(args.out or ".")
    check_output_directory(out)
    if not out.exists():
        out.mkdir()
    return Session(options=options, out_dir=out, image=args.image, segmentation=args.segmentation,
                   labels=args.labels, case_id=args.case_id, max_upload=max_upload)


def _quiet_vtk(before_app: bool) -> None:
    """VTK's warnings (deprecations, views without an image yet) in a log file instead of the terminal, unless
    VBQ_WEB_DEBUG is set. trame-slicer sends them to stderr when it builds the app, so: off while it does, then
    to the file."""
    import tempfile

    from vtkmodules.vtkCommonCore import vtkFileOutputWindow, vtkLogger, vtkObject, vtkOutputWindow

    if before_app:
        vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_OFF)
        vtkObject.GlobalWarningDisplayOff()
        return
    window = vtkFileOutputWindow()
    window.SetFileName(os.path.join(tempfile.gettempdir(), f"vbq-web-vtk-{os.getpid()}.log"))
    window.SetAppend(1)
    window.SetFlush(1)
    vtkOutputWindow.SetInstance(window)
    vtkObject.GlobalWarningDisplayOn()


def run(args: argparse.Namespace) -> int:
    from VBQScoreLib.errors import VBQInputError

    import logging

    _check_web_extra()
    access = access_from_args(args)
    session = session_from_args(args)

    if os.environ.get("VBQ_WEB_DEBUG"):  # timings of every change and table on stderr
        logging.basicConfig(format="%(asctime)s.%(msecs)03d %(name)s %(message)s", datefmt="%H:%M:%S")
        logging.getLogger("vbq_web").setLevel(logging.DEBUG)
    from vbq_web.app import VBQWebApp

    debug = bool(os.environ.get("VBQ_WEB_DEBUG"))
    if not debug:
        _quiet_vtk(before_app=True)
    app = VBQWebApp(session=session, access=access)
    if not debug:
        _quiet_vtk(before_app=False)
    app.logic.start()
    if app.server.state.vbq_error:  # e.g. an IMAGE vbq score would reject: shown in the page, said here too
        print(f"vbq web: {app.server.state.vbq_error}", file=sys.stderr, flush=True)
    host = args.host
    warning = host_warning(access, host)
    if warning:
        print(warning, file=sys.stderr, flush=True)

    def ready(**_):
        where = "" if host not in ("0.0.0.0", "::") else "  (served to every network this computer is on)"
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        shown = f"[{shown}]" if ":" in shown else shown
        link = access.link(shown, app.server.port, "https" if access.ssl_context else "http")
        print(f"vbq web: open {link} in a browser (Ctrl+C stops){where}", flush=True)
        if not args.no_browser:
            import webbrowser

            webbrowser.open(link)

    app.server.controller.on_server_ready.add(ready)
    argv, sys.argv = sys.argv, sys.argv[:1]  # trame reads its own flags from sys.argv: none of ours are for it
    try:
        app.server.start(host=host, port=args.port, open_browser=False, show_connection_info=False,
                         timeout=0)
    except OSError as exc:
        raise VBQInputError(f"--host {host} --port {args.port}: cannot serve there ({exc.strerror or exc})") from None
    finally:
        sys.argv = argv
    return 0
