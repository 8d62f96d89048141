"""The warm stage host: a DVC stage runs in a fork of a process that has imported torch,
transformers, datasets and MLflow once, so it starts in a fraction of a second instead of
paying ~5 s of imports (`benchmarks/stage_startup.py`).

Every stage script calls `run_in_host(__name__)` before its own imports. That call (this module
imports nothing heavy) looks for a host listening on an abstract unix socket whose name is a
hash of everything the stage's imports could depend on: the interpreter, `sys.path`, the
environment (without the per-stage `DVC_STAGE`, `PWD`, ...) and the size and mtime of every
source file of the package and of the scripts' folder. So a host only serves stages that would
import exactly what it imported; after an edit or an install the key changes and a new host
starts, and the old one exits once idle.

- **A host is up:** the script sends its argv, working directory and environment, and its stdin,
  stdout and stderr file descriptors (SCM_RIGHTS). The host forks; the fork takes those as its
  fds 0-2, that directory and environment, and runs the script with `runpy` as `__main__`, then
  exits as the interpreter does (threads joined, atexit handlers, streams flushed) but without
  tearing down the imported modules (`_finish`). The script waits and exits with the fork's exit
  status (or is killed by the same signal). SIGINT, SIGTERM and SIGHUP are forwarded to the
  fork's process group; if the script itself dies (e.g. SIGKILL), the host kills that group.
- **No host yet:** the script starts one in the background (detached, logging to
  `<tmp>/xstilts-stage-host-<key>.log`) and runs in this process as before. The next stage of
  the same `dvc repro` finds it.
- **Never hosted:** `XSTILTS_STAGE_HOST=0`; a non-Linux OS; a process started by a multi-process
  launcher (`xstilts.core.launch.launched`); an interpreter started with options (`python -X ...`).

A host exits after `XSTILTS_STAGE_HOST_IDLE` seconds (default 120) without a stage. It never
runs stage code itself, and it starts no threads of its own, so every fork starts from the state
of a fresh interpreter that has done the imports (the seeds, RNG states and caches of a stage are
those of an in-process run: a hosted stage writes byte-identical outputs, `tests/test_host.py`).
"""

from __future__ import annotations

import hashlib
import os
import struct
import sys

SWITCH = "XSTILTS_STAGE_HOST"  # "0": every stage in its own fresh interpreter
IDLE = "XSTILTS_STAGE_HOST_IDLE"  # seconds an idle host waits for its next stage
DEFAULT_IDLE = 120.0
START_TIMEOUT = 60.0  # seconds to wait for a host to take a stage before running it here
# per-stage variables (DVC's, the shell's): not part of what the imports depend on
VOLATILE = frozenset({"DVC_STAGE", "PWD", "OLDPWD", "SHLVL", "_"})
# imported by the host besides every module a pipeline script imports (`_preload`)
PRELOAD = (
    "xstilts.core.cell", "xstilts.core.families", "xstilts.core.tracking",
    "xstilts.core.prepare_model", "xstilts.core.export", "xstilts.analysis.report",
    "xstilts.analysis.studies", "mlflow", "mlflow.tracking",
    "mlflow.store.tracking.sqlalchemy_store", "transformers",
    "transformers.models.bert.modeling_bert", "datasets", "safetensors.torch", "tokenizers",
)
_HOSTED = False  # True in a fork that runs a stage
_IMPORTS_SET: dict[str, str] = {}  # environment variables the host's imports set


def _package_dir() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def host_key(script_dir: str) -> str:
    """What a stage's imports depend on, hashed (the socket's name)."""
    h = hashlib.sha256()
    h.update(f"{sys.executable}\0{sys.version}\0{sys.path[1:]!r}\0".encode())
    env = sorted((k, v) for k, v in os.environ.items() if k not in VOLATILE)
    h.update(repr(env).encode())
    for entry in sys.path[1:]:
        try:
            h.update(f"{entry}\0{os.stat(entry).st_mtime_ns}\0".encode())
        except OSError:
            continue
    for root in (_package_dir(), os.path.abspath(script_dir)):
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    st = os.stat(path)
                    h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()[:32]


def key_of(script: str, env: dict[str, str], cwd: str | None = None) -> str:
    """The host key a stage `python <script>` gets under `env` in `cwd`, computed as it does
    (in a fresh interpreter: sys.path and the environment are part of the key)."""
    import subprocess

    code = ("import sys; sys.argv = [sys.argv[1]]; from xstilts.core import host; "
            "print(host.host_key(sys.argv[0].rsplit('/', 1)[0]))")
    return subprocess.run([sys.executable, "-c", code, script], env=env, cwd=cwd,
                          capture_output=True, text=True, check=True).stdout.strip()


def socket_name(key: str) -> bytes:
    return f"\0xstilts-stage-host-{os.getuid()}-{key}".encode()


def log_path(key: str) -> str:
    import tempfile

    return os.path.join(tempfile.gettempdir(), f"xstilts-stage-host-{key}.log")


def enabled() -> bool:
    """True if this process may hand its stage to a host (see the module docstring)."""
    from xstilts.core import launch

    if os.environ.get(SWITCH, "1") == "0" or not sys.platform.startswith("linux"):
        return False
    if launch.launched():  # a DDP rank: its launcher owns it
        return False
    return started_as_script()  # interpreter options (`python -X ...`) would not reach a host


def started_as_script() -> bool:
    """True if this interpreter was started as `python <script> <args>` (no options): a stage
    process, not a test runner that runs the script in-process, nor a host's fork."""
    orig = getattr(sys, "orig_argv", None)
    return bool(orig) and orig[1:] == sys.argv


def run_in_host(name: str) -> None:
    """Called at the top of every stage script with its `__name__`: if a host is up, the stage
    runs there and this process exits with its status; otherwise (or in the host's fork, or when
    imported rather than run) this returns and the script runs here."""
    if name != "__main__" or _HOSTED or not enabled():
        return
    script = os.path.abspath(sys.argv[0])
    key = host_key(os.path.dirname(script))
    status = _ask_host(key, script)
    if status is None:
        _start_host(key)
        return
    kind, value = status
    sys.stdout.flush()
    sys.stderr.flush()
    if kind == "signal":
        import signal

        signal.signal(value, signal.SIG_DFL)
        os.kill(os.getpid(), value)
    os._exit(value)


# ---- client ---------------------------------------------------------------------------------

def _ask_host(key: str, script: str) -> tuple[str, int] | None:
    """("exit", code) or ("signal", n) of the stage run by the host; None if no host ran it.
    SIGINT, SIGTERM and SIGHUP are caught from the start: forwarded to the stage once it runs,
    re-raised here if it never ran in the host."""
    import json
    import signal
    import socket

    pending: list[int] = []
    started = False
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    def forward(signum, _frame):
        if not started:
            pending.append(signum)
            return
        try:
            s.sendall(struct.pack("!i", signum))
        except OSError:
            pass

    caught = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, forward) for sig in caught}
    request = json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ),
                          "script": script}).encode()
    try:
        s.connect(socket_name(key))
        socket.send_fds(s, [struct.pack("!I", len(request))], [0, 1, 2])
        s.sendall(request)
        replies = s.makefile("rb")
        s.settimeout(START_TIMEOUT)  # a host still importing accepts within seconds
        started = replies.readline().startswith(b"started ")
        s.settimeout(None)
    except OSError:
        pass
    if not started:  # no host, or it went away before the stage started: run it here
        s.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in pending:
            signal.raise_signal(sig)
        return None
    for sig in pending:
        forward(sig, None)
    line = replies.readline().decode().split()
    if len(line) != 2 or line[0] not in ("exit", "signal"):
        print(f"xstilts stage host: lost the stage host (see {log_path(key)}); "
              f"run with {SWITCH}=0 to run stages in their own processes", file=sys.stderr)
        return "exit", 1
    return line[0], int(line[1])


def _start_host(key: str) -> None:
    import subprocess

    with open(log_path(key), "ab") as log:
        subprocess.Popen([sys.executable, "-m", "xstilts.core.host", key,
                          os.path.dirname(os.path.abspath(sys.argv[0]))],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=True,
                         start_new_session=True)


# ---- host -----------------------------------------------------------------------------------

def _run_stage(request: dict) -> None:
    """In a stage's fork: take the client's argv, working directory and environment, run its
    script as `__main__` and exit with its status."""
    import runpy
    import signal

    global _HOSTED
    _HOSTED = True
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ.update(_IMPORTS_SET)  # as the imports would have set them here
    sys.argv = list(request["argv"])
    sys.path[0] = os.path.dirname(request["script"])
    for stream, fd in ((sys.stdout, 1), (sys.stderr, 2)):
        stream.reconfigure(line_buffering=os.isatty(fd))
    try:
        runpy.run_path(request["script"], run_name="__main__")
        code = 0
    except SystemExit as e:
        code = _exit_code(e.code)
    except KeyboardInterrupt:
        sys.excepthook(*sys.exc_info())
        code = -signal.SIGINT
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    _finish(code)


def _exit_code(code) -> int:
    """The exit status of `SystemExit(code)`, printing a message as the interpreter does."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _finish(code: int) -> None:
    """Exit as the interpreter does (non-daemon threads joined, atexit handlers, streams
    flushed) without tearing down the host's imported modules, which only costs time."""
    import atexit
    import signal
    import threading

    me = threading.current_thread()
    for t in threading.enumerate():
        if t is not me and not t.daemon:
            t.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if code < 0:  # died of a signal, as the interpreter does on an uncaught KeyboardInterrupt
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


def _preload(script_dir: str) -> None:
    """Import every module the stage scripts import (anywhere in them) and `PRELOAD`."""
    import ast
    import importlib
    from pathlib import Path

    names = set(PRELOAD)
    for script in sorted(Path(script_dir).glob("*.py")):
        for node in ast.walk(ast.parse(script.read_text(), str(script))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
    for name in sorted(names):
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 -- a stage that needs it fails in its own fork
            print(f"preload {name}: {type(e).__name__}: {e}", file=sys.stderr)


def serve(key: str, script_dir: str, idle: float) -> dict | None:
    """Listen, import, then fork a manager per stage; returns (the stage's request) in a stage's
    fork only."""
    import gc
    import select
    import socket
    import time

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(socket_name(key))
    except OSError:
        return None  # another host with this key is up
    sock.listen(64)
    before = dict(os.environ)
    _preload(script_dir)
    # variables the imports set (e.g. TORCHINDUCTOR_CACHE_DIR): from the same environment as
    # the stage's (the key), so what they would set in the stage's own interpreter
    _IMPORTS_SET.update((k, v) for k, v in os.environ.items() if before.get(k) != v)
    gc.freeze()  # the forks neither scan nor copy the imported objects (their exit: 2 s -> 0.3 s)
    print(f"{time.strftime('%H:%M:%S')} host {os.getpid()} ready", file=sys.stderr, flush=True)
    managers: set[int] = set()
    last = time.monotonic()
    while True:
        for pid in list(managers):
            if os.waitpid(pid, os.WNOHANG)[0]:
                managers.discard(pid)
                last = time.monotonic()
        ready, _, _ = select.select([sock], [], [], 0.5)
        if not ready:
            if not managers and time.monotonic() - last > idle:
                sock.close()
                return None
            continue
        conn, _ = sock.accept()
        last = time.monotonic()
        pid = os.fork()
        if pid:
            conn.close()
            managers.add(pid)
            continue
        sock.close()
        return _manage(conn)


def _manage(conn) -> dict:
    """In a manager fork: receive one stage, fork it, relay signals and its exit status."""
    import json
    import select
    import signal
    import socket
    import time

    try:
        header, fds, _, _ = socket.recv_fds(conn, 4, 3)
        size = struct.unpack("!I", header)[0]
        data = b""
        while len(data) < size:
            chunk = conn.recv(size - len(data))
            if not chunk:
                raise EOFError("client closed the connection")
            data += chunk
        request = json.loads(data)
    except Exception as e:  # noqa: BLE001 -- a broken client: nothing started
        print(f"bad request: {e}", file=sys.stderr)
        os._exit(1)
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        conn.close()
        os.setpgid(0, 0)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        return request
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass
    for fd in fds:
        os.close(fd)

    def kill(sig: int) -> None:
        try:
            os.killpg(pid, sig)
        except OSError:
            pass

    try:
        conn.sendall(f"started {pid}\n".encode())
    except OSError:
        kill(signal.SIGKILL)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        ready, _, _ = select.select([conn], [], [], 0.1)
        if ready:
            try:
                msg = conn.recv(4)
            except OSError:
                msg = b""
            if len(msg) == 4:
                kill(struct.unpack("!i", msg)[0])
            else:  # the client is gone (killed): so is its stage
                kill(signal.SIGKILL)
                os.waitpid(pid, 0)
                os._exit(0)
    reply = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
             else f"exit {os.waitstatus_to_exitcode(status)}")
    print(f"{time.strftime('%H:%M:%S')} {request['env'].get('DVC_STAGE') or request['argv']} "
          f"(pid {pid}, {request['cwd']}): {reply}, {time.monotonic() - t0:.1f} s",
          file=sys.stderr, flush=True)
    try:
        conn.sendall(f"{reply}\n".encode())
    except OSError:
        pass
    os._exit(0)


def main(argv: list[str]) -> None:
    key, script_dir = argv
    # the stages' sys.path, not `python -m`'s working directory (a folder there named like a
    # module would shadow it in the host only)
    sys.path[0] = script_dir
    try:
        idle = float(os.environ.get(IDLE, DEFAULT_IDLE))
    except ValueError:
        idle = DEFAULT_IDLE
    request = serve(key, script_dir, idle)
    if request is not None:
        _run_stage(request)


if __name__ == "__main__":  # `python -m xstilts.core.host`: run as the package's own module, so
    from xstilts.core import host  # that `_HOSTED` is the one the stage scripts read

    host.main(sys.argv[1:])
