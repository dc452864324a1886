"""A pre-imported parent for the suite's `python -m scrapy crawl dw …` runs (and of `crawler.backfill`,
`crawler.reextract`, `crawler.extract`): each run is still a process of its own, but forked from a
server that imported Scrapy and the project once, instead of a new interpreter importing them again
(about 0.6 s of CPU a crawl, most of a small crawl's cost; the suite starts some 300 of them).

What a run gets is what `subprocess.run([sys.executable, "-m", MODULE, *args], cwd=…, env=…,
capture_output=True, text=True, timeout=…)` gives it, and `run()` returns the same
`CompletedProcess` (or raises the same `TimeoutExpired` after killing it):

- its own pid; its exit status as the interpreter sets it (`sys.exit`'s code, 1 and a traceback on
  stderr for an uncaught exception, minus the signal's number when killed), because the forked
  child leaves through the interpreter's own exit: `atexit` handlers, finalisation, buffers flushed.
  The traceback starts at the module's frame (a real `-m` shows two `<frozen runpy>` frames first);
- the module run as `__main__` by `runpy.run_module`, as `-m` does, with `sys.argv`, `sys.path[0]`
  (the working directory, always the checkout: a run elsewhere is a real exec) and the whole
  environment of the run;
- stdin from /dev/null, stdout and stderr into files of the caller (passed as file descriptors),
  every other descriptor closed (subprocess's `close_fds`);
- Scrapy's reactor installed in the child only (the server checks that none is installed and that
  it runs one thread, which is what makes forking it sound);
- `random` reseeded in the child (Python does that after every fork).

What differs, and why it does not change what a test observes: the modules were imported before the
run's environment and working directory were set (no module of the project or of Scrapy reads
either at import time, and tests/test_forkserver.py compares forked runs with real ones); str
hashes share the server's seed (a test that depended on one would already be flaky); the parent of
the run is the server's helper, not the test. A run whose environment differs from the server's in
a variable read as the interpreter starts (`PYTHON*`, locale, time zone) or read by the imports
(recorded while the server imports) is run by a real exec instead, as is every run of a module the
server did not import, and every run when the server could not start or its imports printed,
warned or set an environment variable. Tests that signal or kill a crawl, time it or measure its
memory start it with `subprocess` themselves.

Set DW_TESTS_FORKSERVER=0 to run everything by real exec (the suite then takes longer).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import io
import json
import os
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

# What the server imports once: the entry points of the runs it forks, and through them Scrapy,
# Twisted (without a reactor), spidermon and the project's components named in its settings.
MODULES = {
    "scrapy": ["scrapy.cmdline", "scrapy.commands.crawl", "scrapy.crawler",
               "scrapy.core.downloader.handlers.http11", "scrapy.core.engine",
               "scrapy.extensions.corestats", "scrapy.extensions.logstats",
               "scrapy.extensions.memusage", "scrapy.extensions.closespider",
               "scrapy.downloadermiddlewares.httpcompression", "scrapy.utils.test",
               "crawler.commands.crawl", "crawler.commands.shell", "crawler.spiders.dw",
               "crawler.middlewares", "crawler.warc.capture", "crawler.archive",
               "crawler.extensions", "crawler.spiders.failures", "crawler.spiders.jobdir",
               "crawler.distributed.addon", "pipelines",
               "spidermon.contrib.scrapy.extensions", "spidermon.python.monitors"],
    # The module `-m` runs (a package's __main__) is never imported here: runpy would warn of
    # one imported before it runs; the server checks that none is (`_runnable`).
    "crawler.backfill": ["crawler.backfill.cli", "crawler.backfill.run", "crawler.backfill.sources",
                         "crawler.backfill.stream", "crawler.backfill.client"],
    "crawler.reextract": ["crawler.warc.reextract"],
    "crawler.extract": ["crawler.extract", "crawler.settings"],
    # the mirror (devtools.mirror.running_mirror): Twisted's web server, DW's URLs; its reactor is
    # installed in the run, as a real one installs it
    "devtools.mirror": ["twisted.web.server", "twisted.web.resource", "crawler.dw", "argparse",
                        "email.utils", "hashlib"],
}
# Variables read by the interpreter as it starts (encodings, flags, paths, hashing) or by C
# libraries as they load (time zone, OpenSSL, ICU), and those the imports read through
# `os.environ` (recorded while the server imports): a run whose environment has any of them
# otherwise than the server's is not forked.
_STARTUP_PREFIXES = ("PYTHON", "LC_", "LANG", "TZ", "SSL_", "OPENSSL", "ICU_")


def _startup_env(env: dict[str, str], read: set[str] | list[str]) -> dict[str, str | None]:
    """The part of `env` that must be the server's for a run to be forked (None: unset)."""
    keys = {k for k in env if k.startswith(_STARTUP_PREFIXES)} | set(read)
    return {k: env.get(k) for k in sorted(keys)}


# ---------------------------------------------------------------------------------------------
# The server (`python -m tests.forkserver SOCKET`): imports MODULES, then forks a helper per
# connection; the helper forks the run, reports its pid, waits for it and reports its status.

def _send(conn: socket.socket, message: dict) -> None:
    data = json.dumps(message).encode()
    conn.sendall(struct.pack("!I", len(data)) + data)


def _receive(conn: socket.socket) -> dict | None:
    head = b""
    while len(head) < 4:
        chunk = conn.recv(4 - len(head))
        if not chunk:
            return None
        head += chunk
    size, = struct.unpack("!I", head)
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return json.loads(data)


def _preload() -> tuple[str, set[str]]:
    """Import MODULES: what they printed, warned or changed that a forked run would not see again
    ('' when nothing), and the names of the environment variables they read through `os.environ`
    while importing."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    read: set[str] = set()
    environ_before = dict(os.environ)
    environ_class = type(os.environ)
    getitem, iterate = environ_class.__getitem__, environ_class.__iter__

    def recorded_getitem(self, key):
        read.add(key)
        return getitem(self, key)

    def recorded_iter(self):
        read.add("*")  # the whole environment was looked at
        return iterate(self)

    environ_class.__getitem__, environ_class.__iter__ = recorded_getitem, recorded_iter
    sys.stdout, sys.stderr = out, err
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for names in MODULES.values():
                for name in names:
                    __import__(name)
    finally:
        sys.stdout, sys.stderr = saved
        environ_class.__getitem__, environ_class.__iter__ = getitem, iterate
    said = out.getvalue() + err.getvalue() + "".join(f"{w.category.__name__}: {w.message}\n"
                                                     for w in caught)
    if "twisted.internet.reactor" in sys.modules:
        said += "a reactor was installed while importing\n"
    if threading.active_count() != 1:
        said += f"{threading.active_count()} threads after importing\n"
    if "*" in read:
        said += "the whole environment was read while importing\n"
    if dict(os.environ) != environ_before:  # a run's environment replaces it: the change is lost
        said += "the environment was changed while importing\n"
    return said, read


def _runnable() -> list[str]:
    """The modules of MODULES whose code `-m` runs was not imported by the server's imports."""
    import importlib.util

    runnable = []
    for name in MODULES:
        spec = importlib.util.find_spec(name)
        main = f"{name}.__main__" if spec.submodule_search_locations else name
        if main not in sys.modules:
            runnable.append(name)
    return sorted(runnable)


def _run_child(request: dict, fds: list[int]) -> None:
    """In the forked run: become the process `python -m MODULE ARGS` would have been, then run the
    module; its SystemExit or exception leaves through the interpreter's own exit."""
    if request.get("new_session"):
        os.setsid()  # subprocess's start_new_session: its own session and process group
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fds[0], 1)
    os.dup2(fds[1], 2)
    os.closerange(3, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    module = request["module"]
    sys.argv = [request["module_file"], *request["args"]]
    sys.orig_argv = [sys.executable, "-m", module, *request["args"]]
    sys.path[0] = os.getcwd()
    sys.excepthook = _from_the_module(request["module_file"])
    import runpy

    runpy.run_module(module, run_name="__main__", alter_sys=True)
    sys.exit(0)


def _from_the_module(module_file: str):
    """An excepthook printing an uncaught exception's traceback from the run module's own frame
    on, as a real `python -m` prints it but for its two `<frozen runpy>` lines: the frames of the
    server and of runpy above the module are not the run's."""
    def hook(kind, value, tb):
        first = tb
        while first is not None and first.tb_frame.f_code.co_filename != module_file:
            first = first.tb_next
        if first is not None and isinstance(value, BaseException):
            value.__traceback__ = tb = first  # what the interpreter's printer reads
        sys.__excepthook__(kind, value, tb)
    return hook


def _helper(conn: socket.socket) -> None:
    """The forked helper of one connection: receive the request and its two descriptors, fork the
    run, report its pid (with a pidfd of it, through which the client signals the run: a pidfd
    names that process and no other, even once its pid is reused) and then its wait status."""
    message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 2)
    size, = struct.unpack("!I", message[:4])
    data = message[4:]
    while len(data) < size:
        data += conn.recv(size - len(data))
    request = json.loads(data)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        conn.close()
        _run_child(request, fds)  # never returns: the run exits through the interpreter
    for fd in fds:
        os.close(fd)
    # opened before the run can be reaped (this helper reaps it, below): it is the run's
    pidfd = os.pidfd_open(pid)
    data = json.dumps({"pid": pid}).encode()
    socket.send_fds(conn, [struct.pack("!I", len(data)) + data], [pidfd])
    os.close(pidfd)
    _, status, usage = os.wait4(pid, 0)
    _send(conn, {"status": status, "cpu": usage.ru_utime + usage.ru_stime})
    conn.close()


def serve(path: str) -> None:
    """Import MODULES, say so on stdout (`ready` or what went wrong), then fork a run per
    connection to the Unix socket `path` until stdin closes."""
    said, read = _preload()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    print(json.dumps({"ready": not said, "said": said, "modules": _runnable(),
                      "read_at_import": sorted(read),
                      "startup_env": _startup_env(dict(os.environ), read)}), flush=True)
    if said:
        return
    gc.freeze()  # the imported modules stay in the parent: the children need not scan them
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(sys.stdin, selectors.EVENT_READ)
    helpers: set[int] = set()
    while True:
        # Helpers are waited for (not left to the kernel), so that the CPU time of the runs adds
        # up in this process's and in its parent's accounts, as a real exec's does.
        for pid in list(helpers):
            if os.waitpid(pid, os.WNOHANG)[0]:
                helpers.discard(pid)
        for key, _ in selector.select(timeout=1.0):
            if key.fileobj is sys.stdin:
                if not sys.stdin.buffer.read1(4096):  # the test process is done
                    for pid in helpers:
                        os.waitpid(pid, 0)
                    return
                continue
            conn, _ = listener.accept()
            pid = os.fork()
            if pid == 0:
                selector.close()
                listener.close()
                _helper(conn)  # returns only in the helper, after its run
                os._exit(0)
            helpers.add(pid)
            conn.close()


# ---------------------------------------------------------------------------------------------
# The client, in the test process.

class _Server:
    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="dw-forkserver-")
        self.path = os.path.join(self.folder, "socket")
        root = Path(__file__).resolve().parent.parent
        self.cwd = os.path.realpath(root)
        # the environment as os.environ has it, which is what the runs are given (the C-level
        # one a plain Popen passes on can hold more: under pytest, COLUMNS and LINES)
        self.process = subprocess.Popen([sys.executable, "-m", "tests.forkserver", self.path],
                                        cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        env=dict(os.environ))
        line = self.process.stdout.readline()
        hello = json.loads(line) if line else {"ready": False, "said": "the server exited"}
        self.ready = hello["ready"]
        self.said = hello["said"]
        self.modules = set(hello.get("modules", []))
        self.read_at_import = hello.get("read_at_import", [])
        self.startup_env = hello.get("startup_env", {})
        atexit.register(self.close)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
            os.rmdir(self.folder)


_server: _Server | None = None
_lock = threading.Lock()
# What ran how in this process: counted so that tests/test_forkserver.py can say the server was used.
USED = {"forked": 0, "exec": 0, "forked_cpu": 0.0}


def _the_server() -> _Server | None:
    global _server
    if os.environ.get("DW_TESTS_FORKSERVER", "1") == "0":
        return None
    with _lock:
        if _server is None:
            _server = _Server()
            if not _server.ready:
                print(f"tests/forkserver.py: not used ({_server.said.strip()}); runs are real"
                      " execs", file=sys.stderr)
    return _server if _server.ready else None


def forkable(argv: list[str], cwd: Path | str, env: dict[str, str]) -> bool:
    """Whether `argv` (`[sys.executable, "-m", MODULE, …]`) in `cwd` with `env` can be forked from
    the server: a module it imported, started as the server was, in the checkout (`-m` puts the
    working directory first on sys.path: elsewhere, other modules, or none, could be found)."""
    server = _the_server()
    return (server is not None and len(argv) >= 3 and argv[0] == sys.executable
            and argv[1] == "-m" and argv[2] in server.modules
            and os.path.realpath(cwd) == server.cwd
            and _startup_env(env, server.read_at_import) == server.startup_env)


def run(argv: list[str], *, cwd: Path | str, env: dict[str, str] | None = None,
        timeout: float | None = None) -> subprocess.CompletedProcess:
    """`subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)`,
    forked from the server when `forkable(argv, cwd, env)`, else exactly that. No `env`: this
    process's `os.environ`."""
    env = dict(os.environ) if env is None else env
    if not forkable(argv, cwd, env):
        USED["exec"] += 1
        return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = _fork(argv, cwd, env, out.fileno(), err.fileno(), new_session=False)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()  # as subprocess.run does when the timeout expires
            process.wait()
            raise subprocess.TimeoutExpired(argv, timeout, output=_text(out),
                                            stderr=_text(err)) from None
        return subprocess.CompletedProcess(argv, process.returncode, _text(out), _text(err))


def start(argv: list[str], *, cwd: Path | str, env: dict[str, str] | None = None,
          stdout=None, stderr=None, text: bool = False,
          start_new_session: bool = False) -> subprocess.Popen | Forked:
    """`subprocess.Popen(argv, cwd=cwd, env=env, stdout=stdout, stderr=stderr, text=text,
    start_new_session=start_new_session)`, forked from the server when `forkable(argv, cwd, env)`
    (a `Forked`, which does what tests do with a Popen: pid, returncode, stdout and stderr pipes,
    poll, wait, communicate, send_signal, terminate, kill), else exactly that. `stdout` and
    `stderr` as Popen takes them: None (this process's), PIPE, DEVNULL, STDOUT (stderr only), a
    file object or a descriptor; stdin is /dev/null. No `env`: this process's `os.environ`."""
    env = dict(os.environ) if env is None else env
    if not forkable(argv, cwd, env):
        USED["exec"] += 1
        return subprocess.Popen(argv, cwd=cwd, env=env, stdout=stdout, stderr=stderr, text=text,
                                start_new_session=start_new_session)
    opened: list[int] = []  # descriptors of ours that the run gets: closed here once it has them
    pipes: dict[str, int] = {}

    def descriptor(name: str, target, default: int) -> int:
        if target is None:
            return default
        if target == subprocess.DEVNULL:
            fd = os.open(os.devnull, os.O_WRONLY)
        elif target == subprocess.PIPE:
            pipes[name], fd = os.pipe()
        elif isinstance(target, int):
            return target
        else:
            return target.fileno()
        opened.append(fd)
        return fd

    out = descriptor("stdout", stdout, 1)
    err = out if stderr == subprocess.STDOUT else descriptor("stderr", stderr, 2)
    try:
        process = _fork(argv, cwd, env, out, err, new_session=start_new_session)
    except BaseException:
        for fd in pipes.values():
            os.close(fd)
        raise
    finally:
        for fd in opened:
            os.close(fd)
    for name, fd in pipes.items():
        setattr(process, name, open(fd, "r" if text else "rb", buffering=-1 if text else 0))
    return process


def _fork(argv: list[str], cwd: Path | str, env: dict[str, str], out: int, err: int, *,
          new_session: bool) -> Forked:
    """Ask the server to fork `argv` with `out` and `err` as its stdout and stderr."""
    USED["forked"] += 1
    module = argv[2]
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec.submodule_search_locations:  # a package: -m runs its __main__
        spec = importlib.util.find_spec(f"{module}.__main__")
    request = {"module": module, "module_file": spec.origin, "args": argv[3:],
               "cwd": os.path.abspath(cwd), "env": dict(env), "new_session": new_session}
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(_server.path)
        data = json.dumps(request).encode()
        socket.send_fds(conn, [struct.pack("!I", len(data)) + data], [out, err])
        message, fds, _, _ = socket.recv_fds(conn, 1 << 16, 1)
        if len(message) < 4 or not fds:
            raise RuntimeError("tests/forkserver.py: the server's helper did not start the run")
        size, = struct.unpack("!I", message[:4])
        data = message[4:]
        while len(data) < size:
            chunk = conn.recv(size - len(data))
            if not chunk:
                raise RuntimeError("tests/forkserver.py: the server's helper went away")
            data += chunk
    except BaseException:
        conn.close()
        raise
    return Forked(argv, json.loads(data)["pid"], fds[0], conn)


class Forked:
    """A run forked from the server, handled as tests handle a `subprocess.Popen`. Its exit status
    comes from the server's helper, which is its parent and reaps it; it is signalled through a
    pidfd, which names that process only: once it is gone, a signal reaches no one (as a Popen's,
    whose zombie keeps its pid until waited for)."""

    def __init__(self, argv: list[str], pid: int, pidfd: int, conn: socket.socket) -> None:
        self.args = argv
        self.pid = pid
        self.returncode: int | None = None
        self.stdout = None
        self.stderr = None
        self._pidfd = pidfd
        self._conn = conn

    def _ended(self, timeout: float | None) -> bool:
        """Whether the helper has said how the run ended, waiting up to `timeout` seconds."""
        poller = select.poll()  # not select(): the test process may hold descriptors past 1024
        poller.register(self._conn, select.POLLIN)
        return bool(poller.poll(None if timeout is None else max(0, int(timeout * 1000))))

    def _reap(self) -> None:
        reply = _receive(self._conn)  # sent whole once the run has ended
        self._conn.close()
        os.close(self._pidfd)
        if reply is None:
            raise RuntimeError(f"tests/forkserver.py: the server's helper of pid {self.pid} went away")
        USED["forked_cpu"] += reply["cpu"]
        self.returncode = os.waitstatus_to_exitcode(reply["status"])

    def poll(self) -> int | None:
        if self.returncode is None and self._ended(0):
            self._reap()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not self._ended(timeout):
                raise subprocess.TimeoutExpired(self.args, timeout)
            self._reap()
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple:
        """Read the stdout and stderr pipes to their end and wait for the run, as Popen's
        communicate does (no input: stdin is /dev/null)."""
        streams = [s for s in (self.stdout, self.stderr) if s is not None]
        read: dict[int, list] = {id(s): [] for s in streams}
        deadline = None if timeout is None else time.monotonic() + timeout
        selector = selectors.DefaultSelector()
        for stream in streams:
            selector.register(stream.fileno(), selectors.EVENT_READ, stream)
        try:
            while selector.get_map():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise subprocess.TimeoutExpired(self.args, timeout)
                for key, _ in selector.select(left):
                    chunk = os.read(key.fd, 1 << 16)
                    if chunk:
                        read[id(key.data)].append(chunk)
                    else:
                        selector.unregister(key.fd)
        finally:
            selector.close()
        self.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        results = []
        for stream in (self.stdout, self.stderr):
            if stream is None:
                results.append(None)
                continue
            data = b"".join(read[id(stream)])
            text = isinstance(stream, io.TextIOBase)
            stream.close()
            results.append(_decoded(data) if text else data)
        return tuple(results)

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # ended meanwhile: no one to signal
                signal.pidfd_send_signal(self._pidfd, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def __del__(self) -> None:
        if self.returncode is None:  # never waited for: its pidfd is an int, not closed by GC
            with contextlib.suppress(OSError):
                os.close(self._pidfd)

    def __enter__(self) -> Forked:
        return self

    def __exit__(self, *_) -> None:
        for stream in (self.stdout, self.stderr):
            if stream is not None:
                stream.close()
        self.wait()


def _text(file) -> str:
    """The file's bytes as subprocess's text mode decodes a pipe's."""
    file.seek(0)
    return _decoded(file.read())


def _decoded(data: bytes) -> str:
    """Bytes as subprocess's text mode decodes a pipe's (the locale's encoding, universal
    newlines)."""
    import locale

    text = data.decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")


if __name__ == "__main__":
    serve(sys.argv[1])
