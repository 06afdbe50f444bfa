#!/usr/bin/env python3
"""The image and the Debian package, run for real in a Debian 12 root.

    chroot_test.py root        make (or reuse) the Debian 12 minbase root
    chroot_test.py container   the Dockerfile's runtime stage, replayed in the
                               root; then its ENTRYPOINT and CMD, as its USER,
                               with its ENV and WORKDIR, in a network namespace:
                               twice with the token file made at the first
                               start, once with PIXELMILL_TOKEN_FILE's own file
    chroot_test.py deb         apt-get install ./pixelmill_*.deb in the root;
                               then the unit's ExecStart, as the unit's User

No docker engine is needed: the image's base (debian:12-slim) is close to
mmdebstrap's minbase, and the runtime stage's RUN lines (apt-get, useradd)
run in the root as they would in `docker build`; `COPY --from=build
/build/pixelmill.deb` is `cpack` of this build tree. Building the image
itself needs Docker Hub (debian:12) and is not done here.

The root is made once by mmdebstrap from the host's Debian sources and kept
as a tarball in $PIXELMILL_PACKAGE_CACHE (default
${XDG_CACHE_HOME:-~/.cache}/pixelmill-package-root), outside the repository;
each test unpacks its own copy. Needs root (chroot, namespaces), mmdebstrap,
unshare, nsenter, ip and curl; without them the tests are skipped (exit 77).

Environment: PIXELMILL_SOURCE_DIR, PIXELMILL_BUILD_DIR, CMAKE, CPACK.
"""
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

SKIP = 77
SOURCE = os.environ.get("PIXELMILL_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = os.environ.get("PIXELMILL_BUILD_DIR", os.path.join(SOURCE, "build"))
CMAKE = os.environ.get("CMAKE", "cmake")
CPACK = os.environ.get("CPACK", "cpack")
SUITE = "bookworm"
SOURCES = ["/etc/apt/sources.list", "/etc/apt/sources.list.d/debian.list", "/etc/apt/sources.list.d/debian.sources"]


def log(*args):
    print("package-test:", *args, flush=True)


def fail(message):
    print("FAILED: " + message, flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def run(cmd, **kw):
    kw.setdefault("check", True)
    return subprocess.run(cmd, **kw)


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.environ.get("PIXELMILL_PACKAGE_CACHE") or os.path.join(base, "pixelmill-package-root")


def host_sources():
    out = []
    for f in SOURCES:
        if os.path.isfile(f) and os.path.getsize(f) > 0:
            text = open(f).read()
            if f.endswith(".list") and not re.search(r"^\s*deb\s", text, re.M):
                continue
            out.append(f)
    return out


def apt_conf():
    """The host's proxy and date-check settings (a snapshot mirror's Release files expire)."""
    dump = subprocess.run(["apt-config", "dump"], capture_output=True, text=True).stdout
    return "".join(l + "\n" for l in dump.splitlines()
                   if re.match(r"^Acquire::([^ ]*::)?(Proxy|Check-Valid-Until|Check-Date)(::[^ ]*)? ", l))


def tarball_path():
    h = hashlib.sha256(f"{SUITE} minbase".encode())
    for f in host_sources():
        h.update(open(f, "rb").read())
    h.update(apt_conf().encode())
    return os.path.join(cache_dir(), f"{SUITE}-minbase-{h.hexdigest()[:12]}.tar")


def require_tools():
    if os.geteuid() != 0:
        log("skipped: needs root (chroot and namespaces)")
        sys.exit(SKIP)
    missing = [t for t in ("mmdebstrap", "unshare", "nsenter", "ip", "curl") if not shutil.which(t)]
    if missing:
        log("skipped: missing " + " ".join(missing) + " (scripts/install-deps.sh --package)")
        sys.exit(SKIP)


def make_root_tarball():
    tar = tarball_path()
    if os.path.exists(tar):
        log(f"root tarball already made: {tar}")
        return tar
    os.makedirs(cache_dir(), exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as conf:
        conf.write(apt_conf())
    start = time.monotonic()
    cmd = ["mmdebstrap", "--quiet", "--variant=minbase", "--format=tar"]
    if os.path.getsize(conf.name):
        cmd.append("--aptopt=" + conf.name)
    cmd += [SUITE, tar + ".part"] + host_sources()
    run(cmd, stdin=subprocess.DEVNULL)
    os.unlink(conf.name)
    os.replace(tar + ".part", tar)
    log(f"made the {SUITE} minbase root in {time.monotonic() - start:.0f} s: {tar}")
    return tar


class Root:
    """A fresh copy of the cached root, removed afterwards."""

    def __init__(self, name):
        tar = tarball_path()
        if not os.path.exists(tar):
            fail(f"no root tarball {tar}: run `chroot_test.py root` first (ctest does)")
        self.dir = tempfile.mkdtemp(prefix=f"pixelmill-{name}-")
        self.path = os.path.join(self.dir, "root")
        os.mkdir(self.path)
        run(["tar", "-C", self.path, "--numeric-owner", "-xpf", tar])
        for f in ("/etc/resolv.conf", "/etc/hosts"):
            shutil.copyfile(f, self.path + f)
        conf = apt_conf()
        if conf:
            with open(self.path + "/etc/apt/apt.conf.d/99host", "w") as out:
                out.write(conf)

    def sh(self, script, env=None):
        """script run by /bin/sh in the root as root, with /proc and /dev, as a RUN line is."""
        env = env or {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}
        inner = (f"mount --rbind /dev {shlex.quote(self.path)}/dev && "
                 f"exec chroot {shlex.quote(self.path)} /usr/bin/env -i "
                 + " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
                 + " /bin/sh -c " + shlex.quote(script))
        run(["unshare", "--mount", "--pid", "--fork", "--mount-proc=" + self.path + "/proc", "sh", "-c", inner],
            stdin=subprocess.DEVNULL)

    def uid(self, user):
        for line in open(self.path + "/etc/passwd"):
            f = line.split(":")
            if f[0] == user:
                return int(f[2])
        return None

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Service:
    """argv run as user in the root, in its own network, PID and mount namespaces."""

    def __init__(self, root, user, env, workdir, argv, logfile):
        self.logfile = logfile
        r = shlex.quote(root.path)
        inner = (f"mount --rbind /dev {r}/dev && ip link set lo up && "
                 f"exec chroot --userspec={shlex.quote(user)}:{shlex.quote(user)} {r} /usr/bin/env -i "
                 + " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
                 + " /bin/sh -c 'cd \"$0\" && exec \"$@\"' " + " ".join(shlex.quote(a) for a in [workdir] + argv))
        self.log_out = open(logfile, "ab")
        self.proc = subprocess.Popen(["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc=" + root.path + "/proc",
                                      "sh", "-c", inner], stdin=subprocess.DEVNULL, stdout=self.log_out, stderr=subprocess.STDOUT)
        self.pid = None  # the service: PID 1 of its namespace, as in a container
        deadline = time.monotonic() + 10
        while self.pid is None and time.monotonic() < deadline:
            try:
                children = open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read().split()
                if children:
                    self.pid = int(children[0])
            except OSError:
                pass
            if self.proc.poll() is not None:
                fail("the service exited at once:\n" + self.log())
            time.sleep(0.05)
        check(self.pid is not None, "no service process")

    def log(self):
        return open(self.logfile, errors="replace").read()

    def curl(self, *args):
        r = subprocess.run(["nsenter", f"--target={self.pid}", "--net", "curl", "-sS", "-w", "\n%{http_code}", *args],
                           capture_output=True, text=True)
        body, _, code = r.stdout.rpartition("\n")
        return int(code or 0), body

    def wait_healthy(self, url, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                fail(f"the service exited with {self.proc.returncode} during start-up:\n" + self.log())
            if self.curl(url)[0] == 200:
                return
            time.sleep(0.2)
        fail(f"{url} did not answer 200 within {seconds} s:\n" + self.log())

    def stop(self):
        """SIGTERM, as docker stop and systemctl stop send it; the service drains and exits."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
                fail("the service did not stop within 60 s of SIGTERM:\n" + self.log())
        self.log_out.close()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None and self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()


def png(path, width=96, height=64):
    """An RGB PNG with a gradient: a source every image plugin takes."""
    rows = b"".join(b"\0" + b"".join(bytes((x * 255 // width, y * 255 // height, 128)) for x in range(width))
                    for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                  + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def run_job(service, image, port, headers=()):
    """A thumbnail job of image (a path on this side), waited for; returns the job."""
    args = []
    for h in headers:
        args += ["-H", h]
    code, body = service.curl(*args, "-F", f"file=@{image}", "-F", "plugin=thumbnail", "-F", "size=32",
                              f"http://127.0.0.1:{port}/v1/jobs?wait=60")
    check(code in (200, 202), f"submit answered {code}: {body}\n" + service.log())
    job = json.loads(body)
    check(job.get("state") == "succeeded", f"the job did not succeed: {body}\n" + service.log())
    return job


# --- the Dockerfile --------------------------------------------------------------

def dockerfile_instructions(text):
    """(INSTRUCTION, arguments) of each line, continuations joined, comments dropped."""
    out, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if current and line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        word, _, rest = current.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        current = ""
    return out


def runtime_stage(instructions):
    last = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last:]


def exec_form(args):
    check(args.startswith("["), f"not in exec form (JSON): {args}")
    return json.loads(args)


def container_test():
    require_tools()
    started = time.monotonic()
    stage = runtime_stage(dockerfile_instructions(open(os.path.join(SOURCE, "packaging/Dockerfile")).read()))
    check(stage[0][1].split()[0].startswith("debian:12"), f"the runtime stage is not Debian 12: {stage[0]}")
    root = Root("image")
    services = []
    try:
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        user, workdir, entrypoint, cmd = "root", "/", [], []
        for word, args in stage[1:]:
            if word == "RUN":
                log("RUN " + args[:100])
                root.sh(args, dict(env, HOME="/root"))
            elif word == "COPY":
                parts = shlex.split(args)
                flags = [p for p in parts if p.startswith("--")]
                src, dst = [p for p in parts if not p.startswith("--")]
                if any(f.startswith("--from=") for f in flags):
                    # The build stage's Debian package: cpack of this build tree.
                    check(src.endswith(".deb"), f"COPY {args}: only the .deb is known to come from the build")
                    log(f"COPY {args}: cpack of the build tree")
                    os.makedirs(os.path.dirname(root.path + dst), exist_ok=True)
                    shutil.copyfile(make_deb(os.path.join(root.dir, "cpack")), root.path + dst)
                else:
                    log(f"COPY {args}")
                    target = root.path + dst
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    shutil.copy2(os.path.join(SOURCE, src), target)
            elif word == "ENV":
                for pair in shlex.split(args):
                    key, _, value = pair.partition("=")
                    env[key] = value
            elif word == "USER":
                user = args.strip()
            elif word == "WORKDIR":
                workdir = args.strip()
            elif word == "ENTRYPOINT":
                entrypoint = exec_form(args)
            elif word == "CMD":
                cmd = exec_form(args)
        log(f"image assembled in {time.monotonic() - started:.0f} s; USER {user} WORKDIR {workdir} "
            f"ENTRYPOINT {entrypoint} CMD {cmd} ENV {env}")
        check(user not in ("root", "0"), "the image runs as root")
        env.setdefault("HOME", workdir)
        port = env.get("PIXELMILL_LISTEN", "127.0.0.1:8080").rpartition(":")[2]
        data_dir = env.get("PIXELMILL_DATA_DIR", workdir)
        image = os.path.join(root.path, "tmp/in.png")
        png(image)

        # First start: the token file is made and its admin token logged once.
        logfile = os.path.join(root.dir, "container.log")
        s = Service(root, user, env, workdir, entrypoint + cmd, logfile)
        services.append(s)
        s.wait_healthy(f"http://127.0.0.1:{port}/healthz")
        log(f"first start healthy after {time.monotonic() - started:.0f} s")
        first_log = s.log()
        tokens = re.findall(r"event=admin_token_created .*token=(pm_[0-9a-f]+)", first_log)
        check(len(tokens) == 1, "the first start did not log one admin token:\n" + first_log)
        token = tokens[0]
        token_file = root.path + env.get("PIXELMILL_TOKEN_FILE", data_dir + "/tokens")
        st = os.stat(token_file)
        check(st.st_mode & 0o777 == 0o600, f"token file mode {oct(st.st_mode & 0o777)}, not 0600")
        check(st.st_uid == root.uid(user), f"token file owned by uid {st.st_uid}, not {user}")
        check(token not in open(token_file).read(), "the token file holds the token itself")

        code, _ = s.curl(f"http://127.0.0.1:{port}/v1/jobs")
        check(code == 401, f"without a token /v1/jobs answered {code}, not 401")
        job = run_job(s, image, port, [f"Authorization: Bearer {token}"])
        check(s.stop() == 0, "the daemon did not exit 0 on SIGTERM:\n" + s.log())

        # Second start: the same file, nothing printed, the token still works.
        logfile2 = os.path.join(root.dir, "container-2.log")
        s = Service(root, user, env, workdir, entrypoint + cmd, logfile2)
        services.append(s)
        s.wait_healthy(f"http://127.0.0.1:{port}/healthz")
        second_log = s.log()
        check("admin_token_created" not in second_log and token not in second_log,
              "the second start printed a token again:\n" + second_log)
        code, body = s.curl("-H", f"Authorization: Bearer {token}", f"http://127.0.0.1:{port}/v1/jobs/{job['id']}")
        check(code == 200 and json.loads(body)["state"] == "succeeded", f"after a restart the job answered {code}: {body}")
        run_job(s, image, port, [f"Authorization: Bearer {token}"])
        check(s.stop() == 0, "the daemon did not exit 0 on SIGTERM:\n" + s.log())

        # A token file of one's own (a mounted secret), named by PIXELMILL_TOKEN_FILE: used as is.
        own = data_dir + "/own-tokens"
        r = subprocess.run([os.path.join(BUILD, "bin/pixelmill"), "token", "reader", "--scopes", "read", "--append",
                            root.path + own], capture_output=True, text=True, check=True)
        reader = r.stdout.strip()
        os.chown(root.path + own, root.uid(user), -1)
        before = open(root.path + own).read()
        s = Service(root, user, dict(env, PIXELMILL_TOKEN_FILE=own), workdir, entrypoint + cmd,
                    os.path.join(root.dir, "container-3.log"))
        services.append(s)
        s.wait_healthy(f"http://127.0.0.1:{port}/healthz")
        check("admin_token_created" not in s.log(), "a token was created beside PIXELMILL_TOKEN_FILE:\n" + s.log())
        check(open(root.path + own).read() == before, "PIXELMILL_TOKEN_FILE's file was changed")
        code, _ = s.curl("-H", f"Authorization: Bearer {reader}", f"http://127.0.0.1:{port}/v1/jobs/{job['id']}")
        check(code == 200, f"the own file's token answered {code}")
        code, _ = s.curl("-H", f"Authorization: Bearer {token}", f"http://127.0.0.1:{port}/v1/jobs/{job['id']}")
        check(code == 401, f"the first file's admin token answered {code} with another token file")
        check(s.stop() == 0, "the daemon did not exit 0 on SIGTERM:\n" + s.log())
        log(f"container: passed in {time.monotonic() - started:.0f} s")
    finally:
        for s in services:
            s.kill()
        root.cleanup()


# --- the Debian package ------------------------------------------------------------

def unit_directives(text):
    out = {}
    for line in text.splitlines():
        if not line or line[0] in "#;[" or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out.setdefault(key, []).append(value)
    return out


def make_deb(out):
    """cpack of this build tree into out; the path of the .deb."""
    start = time.monotonic()
    run([CPACK, "--config", os.path.join(BUILD, "CPackConfig.cmake"), "-B", out], stdout=subprocess.DEVNULL)
    debs = [f for f in os.listdir(out) if re.match(r"pixelmill_.*\.deb$", f)]
    check(len(debs) == 1, f"cpack made {os.listdir(out)}")
    log(f"cpack made {debs[0]} in {time.monotonic() - start:.0f} s")
    return os.path.join(out, debs[0])


def deb_test():
    require_tools()
    started = time.monotonic()
    out = tempfile.mkdtemp(prefix="pixelmill-cpack-")
    root = None
    service = None
    try:
        debs = [os.path.basename(make_deb(out))]
        info = subprocess.run(["dpkg-deb", "--field", os.path.join(out, debs[0]), "Depends"],
                              capture_output=True, text=True).stdout
        log("Depends: " + info.strip())
        check("libvips42" in info and "libpistache0" in info, "dpkg-shlibdeps did not compute the library dependencies")

        root = Root("deb")
        shutil.copy(os.path.join(out, debs[0]), root.path + "/tmp/")
        t = time.monotonic()
        root.sh("export DEBIAN_FRONTEND=noninteractive && apt-get update -q >/dev/null && "
                f"apt-get install -y -q --no-install-recommends ./tmp/{debs[0]} >/tmp/apt.log 2>&1 || "
                "{ cat /tmp/apt.log; exit 1; }")
        log(f"apt-get install ./{debs[0]} in {time.monotonic() - t:.0f} s")
        root.sh("dpkg-query -W -f='${Conffiles}\\n' pixelmill > /tmp/conffiles && "
                "getent passwd pixelmill > /tmp/user && stat -c '%U %G %a' /var/lib/pixelmill > /tmp/state")
        check("/etc/pixelmill/pixelmill.toml" in open(root.path + "/tmp/conffiles").read(),
              "/etc/pixelmill/pixelmill.toml is not a conffile")
        check(open(root.path + "/tmp/user").read().startswith("pixelmill:"), "no pixelmill user")
        check(open(root.path + "/tmp/state").read().split() == ["pixelmill", "pixelmill", "750"],
              "/var/lib/pixelmill: " + open(root.path + "/tmp/state").read())
        for f in ("usr/bin/pixelmill", "usr/lib/pixelmill/plugins/thumbnail.so", "usr/include/pixelmill/plugin.h",
                  "usr/lib/cmake/pixelmill/pixelmillConfig.cmake", "usr/share/pixelmill/monitoring/alerts.yml"):
            check(os.path.exists(os.path.join(root.path, f)), f"the package has no /{f}")

        # As systemd would start it: ExecStart, as User=, with Environment=.
        unit_text = open(root.path + "/usr/lib/systemd/system/pixelmill.service").read()
        unit = unit_directives(unit_text)
        if shutil.which("systemd-analyze"):
            # systemd accepts the package's unit (verify wants ExecStart's binary: the root's).
            unit_copy = os.path.join(root.dir, "pixelmill.service")
            with open(unit_copy, "w") as f:
                f.write(re.sub(r"^ExecStart=/usr/bin/", "ExecStart=" + root.path + "/usr/bin/", unit_text, flags=re.M))
            r = subprocess.run(["systemd-analyze", "verify", unit_copy], capture_output=True, text=True)
            check(r.returncode == 0 and "pixelmill.service" not in r.stdout + r.stderr,
                  "systemd-analyze verify of the package's unit: " + r.stdout + r.stderr)
        user = unit.get("User", ["root"])[-1]
        check(user == "pixelmill", f"the unit runs as {user}")
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/var/lib/pixelmill"}
        for e in unit.get("Environment", []):
            for pair in shlex.split(e):
                k, _, v = pair.partition("=")
                env[k] = v
        argv = shlex.split(unit["ExecStart"][-1])
        check(argv[0] == "/usr/bin/pixelmill", f"ExecStart runs {argv[0]}")
        image = root.path + "/tmp/in.png"
        png(image)
        service = Service(root, user, env, "/", argv, os.path.join(root.dir, "deb.log"))
        service.wait_healthy("http://127.0.0.1:8080/healthz")
        code, body = service.curl("http://127.0.0.1:8080/v1/plugins")
        names = sorted(p["name"] for p in json.loads(body)["plugins"]) if code == 200 else []
        check(names == ["ascii", "info", "pdf2png", "resize", "thumbnail"], f"/v1/plugins: {code} {body}")
        run_job(service, image, 8080)
        check(service.stop() == 0, "the daemon did not exit 0 on SIGTERM:\n" + service.log())
        service = None
        log(f"deb: passed in {time.monotonic() - started:.0f} s")
    finally:
        if service:
            service.kill()
        if root:
            root.cleanup()
        shutil.rmtree(out, ignore_errors=True)


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "root":
        require_tools()
        make_root_tarball()
    elif what == "container":
        container_test()
    elif what == "deb":
        deb_test()
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
