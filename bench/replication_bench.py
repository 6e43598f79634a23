#!/usr/bin/env python3
"""Replication cost: the same volume without a pair, with a sync pair and with an async pair.

Starts three appliances on loopback, A (primary), B (sync secondary) and C (async secondary),
each with its own ports and data directory under the work dir. On A it makes three groups of
one 1 GiB volume each, exported over NBD: plain/p1 (no pair), syncg/s1 (paired sync with B)
and asyncg/a1 (paired async with C). Then fio (ioengine nbd) measures on each volume:

    4k randwrite QD1   IOPS, mean and median (p50) completion latency
    4k randwrite QD32  IOPS

ROUNDS times, volumes interleaved within each round (plain, sync, async), medians reported.
The volumes are written end to end before pairing, and before every fio run the volume files
of all three appliances are written back and evicted from the page cache (see
drop_volume_cache). After each paired row the pair's lag is read from A and polled until the
peer has caught up, so the next row starts with quiet pairs.

Gates (exit status 1 if one fails, unless --no-gate):
    sync  4k QD1  median (p50) latency  <= plain + 150 us
    async 4k QD32 IOPS                  >= 0.9 x plain

    bench/replication_bench.py [--rounds 3] [--runtime 10] [--workdir DIR] [--keep]
                               [--write-doc] [--no-gate] [--json FILE]
                               [--no-prefill] [--keep-page-cache] [--journal-capacity 4G]
                               [--shared-cpus] [--async-set KEY=VALUE]

A and fio (the host) run on the first half of the CPUs, B and C on the rest (taskset), as if
each site had its own machine; --shared-cpus lets all of them share every CPU.

Needs: fio (with the nbd engine), ssh, ssh-keygen, taskset (util-linux), and a built distribution
(karaf-distribution/target/doppel-distribution-*.tar.gz).
"""
import argparse
import datetime
import glob
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(TOP, "docs", "benchmarks.md")
SECTION = "## Replication: no pair, sync pair, async pair"
HOST = "127.0.0.1"
USER = "karaf"
CLK_TCK = os.sysconf("SC_CLK_TCK")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

# (label, group, volume, pair peer or None, pair mode or None)
VOLUMES = [
    ("plain", "plain", "p1", None, None),
    ("sync", "syncg", "s1", "b", "sync"),
    ("async", "asyncg", "a1", "c", "async"),
]
ROWS = {
    "4k randwrite QD1": ["--rw=randwrite", "--bs=4k", "--iodepth=1"],
    "4k randwrite QD32": ["--rw=randwrite", "--bs=4k", "--iodepth=32"],
}
QD1, QD32 = "4k randwrite QD1", "4k randwrite QD32"
WANT = {"sync": "in-sync", "async": "replicating"}
SYNC_LATENCY_BUDGET_US = 150.0
ASYNC_IOPS_RATIO = 0.9


class BenchError(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def free_port(taken):
    while True:
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port not in taken:
            taken.add(port)
            return port


def set_cfg(path, key, value):
    lines = open(path).read().splitlines() if os.path.exists(path) else []
    lines = [l for l in lines if l.split("=")[0].strip() != key]
    lines.append(f"{key} = {value}")
    open(path, "w").write("\n".join(lines) + "\n")


def session_cpu_seconds(sid):
    """User + system CPU seconds of the live processes of one session (an appliance: script + JVM)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()
        if int(rest[3]) == sid:
            total += int(rest[11]) + int(rest[12])
    return total / CLK_TCK


def session_threads(sid):
    """{tid: (thread name, CPU jiffies)} of every thread of the live processes of one session."""
    out = {}
    for pid in session_cpu_pids(sid):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                stat = open(f"/proc/{pid}/task/{tid}/stat").read()
            except OSError:
                continue
            name = stat[stat.find("(") + 1:stat.rfind(")")]
            rest = stat[stat.rfind(")") + 2:].split()
            out[int(tid)] = (name, int(rest[11]) + int(rest[12]))
    return out


def thread_cores(before, after, wall):
    """Cores used per kind of thread (digits in names folded) between two session_threads() snapshots."""
    kinds = {}
    for tid, (name, ticks) in after.items():
        used = ticks - before.get(tid, (name, 0))[1]
        kind = re.sub(r"\d+", "#", name)
        kinds[kind] = kinds.get(kind, 0.0) + used / CLK_TCK / wall
    return dict(sorted(((k, v) for k, v in kinds.items() if v >= 0.005), key=lambda kv: -kv[1]))


def dirty_mib():
    """Dirty + Writeback page cache of the whole machine, MiB."""
    m = {l.split(":")[0]: int(l.split()[1]) for l in open("/proc/meminfo")}
    return (m["Dirty"] + m["Writeback"]) / 1024


def machine_cpu():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class Appliance:
    def __init__(self, name, work, tgz, key, taken, java_max_mem):
        self.name = name
        self.home = os.path.join(work, name)
        self.key = key
        self.proc = None
        self.ssh_port, self.nbd_port, self.transport_port = (free_port(taken) for _ in range(3))
        os.makedirs(self.home)
        subprocess.run(["tar", "xzf", tgz, "-C", self.home, "--strip-components=1"], check=True)
        etc = os.path.join(self.home, "etc")
        set_cfg(os.path.join(etc, "org.apache.karaf.shell.cfg"), "sshHost", HOST)
        set_cfg(os.path.join(etc, "org.apache.karaf.shell.cfg"), "sshPort", self.ssh_port)
        set_cfg(os.path.join(etc, "io.doppel.nbd.cfg"), "address", HOST)
        set_cfg(os.path.join(etc, "io.doppel.nbd.cfg"), "port", self.nbd_port)
        set_cfg(os.path.join(etc, "io.doppel.transport.cfg"), "address", HOST)
        set_cfg(os.path.join(etc, "io.doppel.transport.cfg"), "port", self.transport_port)
        set_cfg(os.path.join(etc, "system.properties"), "karaf.name", name)
        blob = open(key + ".pub").read().split()[1]
        open(os.path.join(etc, "keys.properties"), "w").write(
            f"{USER}={blob},_g_:admingroup\n_g_\\:admingroup = group,admin,manager,viewer,systembundles,ssh\n")
        self.java_max_mem = java_max_mem

    @property
    def karaf_log(self):
        return os.path.join(self.home, "data/log/karaf.log")

    def launch(self, cpus=None):
        env = dict(os.environ, JAVA_MAX_MEM=self.java_max_mem)
        env.pop("EXTRA_JAVA_OPTS", None)
        out = open(os.path.join(self.home, "console.log"), "w")
        # own session: stop() signals the script and its JVM together, and CPU is summed per session
        cmd = [os.path.join(self.home, "bin/karaf"), "server"]
        if cpus:
            cmd = ["taskset", "-c", cpus] + cmd  # the JVM inherits the affinity
        self.proc = subprocess.Popen(cmd, cwd=self.home, env=env,
                                     stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)

    def await_ready(self, timeout=180):
        deadline = time.time() + timeout
        last = ""
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name}: Karaf exited with {self.proc.returncode} while starting; "
                                 f"see {self.home}/console.log")
            rc, out, err = self.ssh("doppel:site-id --json", timeout=30)
            if rc == 0 and "{" in out:
                try:
                    with socket.create_connection((HOST, self.nbd_port), timeout=1):
                        return
                except OSError as e:
                    last = f"NBD port {self.nbd_port}: {e}"
            else:
                last = (out + err).strip()[-300:]
            time.sleep(1)
        raise BenchError(f"{self.name} not ready after {timeout} s: {last}")

    def ssh(self, command, timeout=120):
        cmd = ["ssh", "-n", "-T", "-F", "/dev/null", "-p", str(self.ssh_port), "-i", self.key,
               "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               "-o", "ConnectTimeout=10", f"{USER}@{HOST}", command]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return 124, "", f"timed out after {timeout} s"
        clean = lambda s: ANSI.sub("", s).replace("\r", "")
        return p.returncode, clean(p.stdout), clean(p.stderr)

    def run(self, command, timeout=120):
        for attempt in range(5):
            rc, out, err = self.ssh(command, timeout)
            if rc != 255:
                break
            # 255: ssh could not connect or log in (a busy console now and then); the command did not run
            time.sleep(1)
        if rc != 0 or "Error executing command" in out:
            raise BenchError(f"{self.name}: `{command}` failed (ssh exit {rc}):\n{out.strip()}\n{err.strip()}")
        return out

    def json(self, command, timeout=120):
        out = self.run(command, timeout)
        start = out.find("{")
        if start < 0:
            raise BenchError(f"{self.name}: `{command}` printed no JSON:\n{out}")
        return json.loads(out[start:])

    def cpu(self):
        return session_cpu_seconds(self.proc.pid) if self.proc and self.proc.poll() is None else 0.0

    def threads(self):
        return session_threads(self.proc.pid) if self.proc and self.proc.poll() is None else {}

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def wait_stopped(self, timeout):
        if not self.proc:
            return
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait()
        # the JVM may outlive the script for a moment; it shares the script's session and group
        deadline = time.time() + timeout
        while session_cpu_pids(self.proc.pid) and time.time() < deadline:
            time.sleep(0.2)
        if session_cpu_pids(self.proc.pid):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def session_cpu_pids(sid):
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2:].split()[3]) == sid:
                pids.append(int(entry))
    return pids


def stop_all(appliances):
    for a in appliances:
        a.signal(signal.SIGTERM)
    for a in appliances:
        a.wait_stopped(60)


def seq(position):
    """The seq of an "EPOCH/SEQ" position."""
    return int(str(position).split("/")[1]) if position and "/" in str(position) else -1


def poll(what, fn, timeout, interval=0.5):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        done, last = fn()
        if done:
            return last
        time.sleep(interval)
    raise BenchError(f"{what} not reached within {timeout} s; last: {json.dumps(last, indent=1)}")


def fio(uri, row, runtime, ramp, out, cpus=None):
    cmd = ["fio", "--name=" + row.replace(" ", "-"), "--ioengine=nbd", "--uri=" + uri, "--size=1g",
           "--time_based", f"--runtime={runtime}", f"--ramp_time={ramp}", "--randrepeat=0", "--norandommap",
           "--output-format=json", "--output=" + out] + ROWS[row]
    if cpus:
        cmd = ["taskset", "-c", cpus] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=runtime + ramp + 180)
    if p.returncode != 0:
        raise BenchError(f"fio failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    job = json.load(open(out))["jobs"][0]
    w = job["write"]
    if w["total_ios"] == 0 or job.get("error"):
        raise BenchError(f"fio did no writes on {uri}: error {job.get('error')}")
    pct = w["clat_ns"].get("percentile", {})
    return {
        "iops": w["iops"],
        "lat_mean_us": w["clat_ns"]["mean"] / 1000.0,
        "lat_p50_us": pct.get("50.000000", float("nan")) / 1000.0,
        "lat_p99_us": pct.get("99.000000", float("nan")) / 1000.0,
        "fio_cpu_pct": job["usr_cpu"] + job["sys_cpu"],
    }, cmd


def drop_volume_cache(apps):
    """Writes back and evicts the page cache of every volume file of the appliances; returns seconds.

    Which folios the page cache holds decides what a 4 KiB write costs in the kernel: after a
    sequential write or read of an uncached file (a pre-fill, or an initial copy reading the
    source), ext4 keeps large folios, and every 4 KiB write into one spends its time in
    ext4_block_write_begin (4k QD32: ~15,000 instead of ~130,000 IOPS here). Evicting the volumes
    before each run starts every volume in the same state; 4 KiB writes then bring in small folios.
    """
    t0 = time.time()
    for x in apps:
        for f in glob.glob(os.path.join(x.home, "doppel/volumes/*/data")):
            fd = os.open(f, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    return time.time() - t0


def prefill(uri):
    cmd = ["fio", "--name=prefill", "--ioengine=nbd", "--uri=" + uri, "--rw=write", "--bs=1m", "--iodepth=8",
           "--size=1g", "--output=/dev/null"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise BenchError(f"pre-fill failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")


def replace_doc_section(title, section):
    """Puts `section` (starting with the heading `title`) into docs/benchmarks.md in place of the old one."""
    text = open(DOC).read() if os.path.exists(DOC) else "# Benchmarks\n"
    start = text.find(title)
    if start >= 0:
        end = text.find("\n## ", start + len(title))
        text = text[:start] + section + ("" if end < 0 else text[end:])
    else:
        text = text.rstrip("\n") + "\n\n" + section
    open(DOC, "w").write(text)


def pair_status(a, group, peer):
    return a.json(f"doppel:pair-status --json {group} {peer}")


def quiesce(a, group, peer, want, timeout, require=True):
    """Polls A's status of a pair until the peer journaled (lag 0) and applied everything, and the
    pair is back in state `want` with an empty map. Returns what it saw, times from the first poll."""
    t0 = time.time()
    first = pair_status(a, group, peer)
    out = dict(first=first, first_at=time.time() - t0, lag0_s=None, applied_s=None, steady_s=None,
               states=[first["state"]], max_map=first["mapBlocks"])
    st = first
    while True:
        now = time.time() - t0
        lag0 = st["lagRecords"] == 0
        if out["lag0_s"] is None and lag0:
            out["lag0_s"] = now
        if out["applied_s"] is None and lag0 and seq(st["applied"]) >= seq(st["head"]):
            out["applied_s"] = now
        if (out["applied_s"] is not None and lag0 and seq(st["applied"]) >= seq(st["head"])
                and st["state"] == want and st["mapBlocks"] == 0):
            out["steady_s"] = now
            break
        if now > timeout:
            break
        time.sleep(0.2)
        st = pair_status(a, group, peer)
        if st["state"] != out["states"][-1].split(" (")[0]:
            out["states"].append(st["state"] + (f" ({st['detail']})" if st["detail"] and st["state"] not in
                                                ("resyncing", "initial-copy") else ""))
        out["max_map"] = max(out["max_map"], st["mapBlocks"])
    out["last"] = st
    if out["steady_s"] is None and require:
        raise BenchError(f"pair {group}->{peer} not caught up ({want}, lag 0, applied, empty map) after "
                         f"{timeout} s: {json.dumps(st)}")
    return out


def log_lines(path, since_bytes, pattern=r"\| (WARN|ERROR) "):
    if not os.path.exists(path):
        return []
    with open(path, errors="replace") as f:
        f.seek(since_bytes)
        return [l.rstrip() for l in f if re.search(pattern, l)]


def machine_notes():
    mem = {l.split(":")[0]: int(l.split()[1]) for l in open("/proc/meminfo")}
    cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model,
        "mem_total_mib": mem["MemTotal"] // 1024,
        "mem_free_mib": mem["MemFree"] // 1024,
        "mem_available_mib": mem["MemAvailable"] // 1024,
        "loadavg": open("/proc/loadavg").read().split()[:3],
        "kernel": platform.release(),
        "fio": subprocess.run(["fio", "--version"], capture_output=True, text=True).stdout.strip(),
        "java": java,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def distribution_notes(tgz, work):
    """The tarball's date and the Bundle-Version of each Doppel bundle in it."""
    tmp = tempfile.mkdtemp(dir=work)
    try:
        subprocess.run(["tar", "xzf", tgz, "-C", tmp, "--wildcards", "*/system/io/doppel/*.jar"], check=True)
        versions = {}
        for jar in sorted(glob.glob(os.path.join(tmp, "*/system/io/doppel/*/*/*.jar"))):
            mf = subprocess.run(["unzip", "-p", jar, "META-INF/MANIFEST.MF"], capture_output=True, text=True).stdout
            v = re.search(r"^Bundle-Version: (\S+)", mf, re.M)
            versions[os.path.basename(os.path.dirname(os.path.dirname(jar)))] = v.group(1) if v else "?"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    mtime = datetime.datetime.fromtimestamp(os.path.getmtime(tgz), datetime.timezone.utc)
    return {"file": os.path.basename(tgz), "built": mtime.strftime("%Y-%m-%d %H:%M UTC"), "bundles": versions}


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, nd=0):
    if v is None:
        return "–"
    return f"{v:,.{nd}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runtime", type=int, default=10, help="seconds measured per fio run")
    ap.add_argument("--ramp", type=int, default=2, help="fio --ramp_time (not measured)")
    ap.add_argument("--workdir", help="default: a new directory under /tmp")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (appliance homes, logs, fio output)")
    ap.add_argument("--no-gate", action="store_true", help="exit 0 even if a gate fails")
    ap.add_argument("--write-doc", action="store_true", help=f"append or replace the section in {DOC}")
    ap.add_argument("--doc", default=DOC, help=argparse.SUPPRESS)
    ap.add_argument("--json", help="write all results here too")
    ap.add_argument("--no-prefill", dest="prefill", action="store_false",
                    help="do not write every block of the volumes before pairing (they stay sparse)")
    ap.add_argument("--keep-page-cache", dest="drop_cache", action="store_false",
                    help="do not write back and evict the volumes' page cache before each fio run")
    ap.add_argument("--journal-capacity", help="journal capacity of the three groups on A (group-create"
                    " --journal-capacity); default: the journal service's")
    ap.add_argument("--async-set", action="append", default=[], metavar="KEY=VALUE",
                    help="a setting of C's asynchronous copy (io.doppel.copy.async), e.g. yieldToBusyPrimary=false;"
                         " repeatable")
    ap.add_argument("--java-max-mem", default="1g", help="JAVA_MAX_MEM of each appliance")
    ap.add_argument("--shared-cpus", dest="pin", action="store_false",
                    help="run A, B, C and fio on all CPUs (default: A and fio on the first half, B and C on the rest)")
    ap.add_argument("--pair-timeout", type=int, default=600, help="seconds for a pair to reach its state")
    ap.add_argument("--catchup-timeout", type=int, default=300, help="seconds for the async pair to catch up")
    a = ap.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    a.primary_cpus = a.peer_cpus = None
    if a.pin and len(cpus) >= 2:
        # each site on its own CPUs, as on its own machine: what the secondaries do is not taken
        # from the primary and its host (fio), so the rows compare what replication costs A
        half = len(cpus) // 2
        a.primary_cpus = ",".join(str(c) for c in cpus[:half])
        a.peer_cpus = ",".join(str(c) for c in cpus[half:])
    argv = "python3 bench/replication_bench.py " + " ".join(shlex.quote(x) for x in sys.argv[1:])

    tgz = sorted(glob.glob(os.path.join(TOP, "karaf-distribution/target/doppel-distribution-*.tar.gz")))
    if not tgz:
        sys.exit("no distribution: cd /work/main && mvn -B -o -q install -DskipTests -pl karaf-distribution")
    for tool in ("fio", "ssh", "ssh-keygen", "tar"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed")
    if a.workdir:
        if os.path.exists(a.workdir) and os.listdir(a.workdir):
            sys.exit(f"--workdir {a.workdir} is not empty")
        os.makedirs(a.workdir, exist_ok=True)
        work = a.workdir
    else:
        work = tempfile.mkdtemp(prefix="doppel-repl-bench-")
    notes = machine_notes()
    # others may rebuild the distribution meanwhile: every appliance unpacks one copy taken now
    dist = os.path.join(work, os.path.basename(tgz[-1]))
    shutil.copy2(tgz[-1], dist)
    notes["distribution"] = distribution_notes(dist, work)
    log(f"# work dir {work}; {notes['nproc']} cpus, {notes['mem_free_mib']} MiB free, load {' '.join(notes['loadavg'])}")

    # SIGTERM (and SIGHUP) end the run like Ctrl-C, so the finally below stops the appliances
    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)

    apps = []
    rc = 0
    try:
        key = os.path.join(work, "ssh-key")
        subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-C", "doppel-bench", "-f", key],
                       check=True)
        taken = set()
        A, B, C = (Appliance(n, work, dist, key, taken, a.java_max_mem) for n in ("a", "b", "c"))
        for kv in a.async_set:
            key_, _, value_ = kv.partition("=")
            # the puller (C) plans the pulls, so the async copy's settings matter there
            set_cfg(os.path.join(C.home, "etc", "io.doppel.copy.async.cfg"), key_.strip(), value_.strip())
        apps = [A, B, C]
        t0 = time.time()
        for x in apps:
            x.launch(a.primary_cpus if x is A else a.peer_cpus)
        for x in apps:
            x.await_ready()
            log(f"# {x.name}: ssh {x.ssh_port}, nbd {x.nbd_port}, transport {x.transport_port}, home {x.home}")
        log(f"# appliances ready in {time.time() - t0:.0f} s")

        # 1. trust
        fp = {x.name: x.json("doppel:site-id --json")["fingerprint"] for x in apps}
        A.run(f"doppel:peer-add --fingerprint {fp['b']} b {HOST}:{B.transport_port}")
        A.run(f"doppel:peer-add --fingerprint {fp['c']} c {HOST}:{C.transport_port}")
        B.run(f"doppel:peer-add --fingerprint {fp['a']} a")
        C.run(f"doppel:peer-add --fingerprint {fp['a']} a")

        # 2. groups, volumes, exports, pairs
        cap = f"--journal-capacity {a.journal_capacity} " if a.journal_capacity else ""
        for _, group, vol, _, _ in VOLUMES:
            A.run(f"doppel:group-create {cap}{group}")
            A.run(f"doppel:volume-create --group {group} {vol} 1G")
            A.run(f"doppel:export-add {vol}")
        uris = {label: f"nbd://{HOST}:{A.nbd_port}/{vol}" for label, _, vol, _, _ in VOLUMES}
        if a.prefill:
            # a sparse volume pays for block allocation on the first write of each block, and a
            # volume written at fewer IOPS stays sparse longer: write every block once, before
            # pairing, so the initial copies allocate the replicas' volumes too
            t0 = time.time()
            for label, *_ in VOLUMES:
                prefill(uris[label])
            log(f"# pre-filled the three volumes in {time.time() - t0:.0f} s")
        t0 = time.time()
        for _, group, _, peer, mode in VOLUMES:
            if peer:
                log(A.run(f"doppel:pair-create --mode {mode} {group} {peer}").strip())
        for _, group, _, peer, mode in VOLUMES:
            if peer:
                st = poll(f"pair {group}->{peer} state {WANT[mode]}",
                          lambda: ((s := pair_status(A, group, peer))["state"] == WANT[mode] and s["mapBlocks"] == 0, s),
                          a.pair_timeout, interval=1)
                log(f"# pair {group}->{peer}: {st['state']} after {time.time() - t0:.0f} s "
                    f"(initial copy {st['resyncDone']}/{st['resyncBlocks']} blocks)")
        log_offset = {x.name: os.path.getsize(x.karaf_log) if os.path.exists(x.karaf_log) else 0 for x in apps}

        # warm-up: a short write on each volume, then let the pairs settle
        for label, group, vol, peer, mode in VOLUMES:
            fio(uris[label], QD32, 3, 0, os.path.join(work, f"warmup-{label}.json"))
            if peer:
                quiesce(A, group, peer, WANT[mode], a.catchup_timeout)
        log("# warm-up done")

        # 3. rows, volumes interleaved within each round
        raw = []  # one dict per fio run
        lags = []  # async pair after each of its rows
        settle = []  # sync pair after each of its rows
        fio_cmds = {}
        for r in range(1, a.rounds + 1):
            for row in ROWS:
                for label, group, vol, peer, mode in VOLUMES:
                    dropped = drop_volume_cache(apps) if a.drop_cache else 0.0
                    alog0 = os.path.getsize(A.karaf_log)
                    dirty0 = dirty_mib()
                    thr0 = {x.name: x.threads() for x in apps}
                    cpu0 = {x.name: x.cpu() for x in apps}
                    busy0, tot0 = machine_cpu()
                    w0 = time.time()
                    res, cmd = fio(uris[label], row, a.runtime, a.ramp,
                                   os.path.join(work, f"fio-r{r}-{label}-{row.split()[-1]}.json"), a.primary_cpus)
                    wall = time.time() - w0
                    busy1, tot1 = machine_cpu()
                    cpu1 = {x.name: x.cpu() for x in apps}
                    thr1 = {x.name: x.threads() for x in apps}
                    fio_cmds[row] = " ".join(cmd).replace(uris[label], "nbd://127.0.0.1:PORT/VOL").replace(
                        " --output-format=json", "").split(" --output=")[0] + " " + " ".join(ROWS[row])
                    res.update(round=r, row=row, volume=label, wall_s=wall,
                               cores={n: (cpu1[n] - cpu0[n]) / wall for n in cpu0},
                               threads={n: thread_cores(thr0[n], thr1[n], wall) for n in thr0},
                               dirty_mib_before=dirty0, dirty_mib_after=dirty_mib(), cache_drop_s=dropped,
                               machine_busy_cores=(busy1 - busy0) / (tot1 - tot0) * (os.cpu_count() or 1))
                    raw.append(res)
                    log(f"round {r} {row:18s} {label:6s} {res['iops']:9.0f} IOPS  mean {res['lat_mean_us']:7.1f} µs"
                        f"  p50 {res['lat_p50_us']:7.1f} µs  cores a/b/c {res['cores']['a']:.2f}/"
                        f"{res['cores']['b']:.2f}/{res['cores']['c']:.2f} fio {res['fio_cpu_pct'] / 100:.2f}"
                        f" machine {res['machine_busy_cores']:.2f} dirty {dirty0:.0f}->{res['dirty_mib_after']:.0f} MiB")
                    log("        threads " + "; ".join(
                        n.upper() + ": " + ", ".join(f"{k} {v:.2f}" for k, v in list(res["threads"][n].items())[:3])
                        for n in ("a", "b", "c")))
                    if peer:
                        q = quiesce(A, group, peer, WANT[mode], a.catchup_timeout, require=(mode == "async"))
                        folds = len(log_lines(A.karaf_log, alog0, r"journal full; folded the records"))
                        passes = len(log_lines(A.karaf_log, alog0, r"resync pass to \S+ done"))
                        first, last = q["first"], q["last"]
                        entry = dict(round=r, row=row, lagRecords=first["lagRecords"], lagSeconds=first["lagSeconds"],
                                     read_after_s=q["first_at"], state=first["state"], states=q["states"],
                                     max_map=q["max_map"], catchup_s=q["lag0_s"], applied_s=q["applied_s"],
                                     steady_s=q["steady_s"], folds=folds, passes=passes,
                                     outdated=last["outdated"])
                        (lags if mode == "async" else settle).append(entry)
                        log(f"        {mode} pair right after: {first['state']}, lag {first['lagRecords']} records,"
                            f" {first['lagSeconds']:.1f} s (read {q['first_at']:.1f} s after fio); lag 0 after"
                            f" {fmt(q['lag0_s'], 1)} s, applied after {fmt(q['applied_s'], 1)} s, {WANT[mode]} with"
                            f" an empty map after {fmt(q['steady_s'], 1)} s; states {' > '.join(q['states'])};"
                            f" {folds} folds, {passes} resync passes in A's log")
                        if mode == "sync" and (last["state"] != "in-sync" or last["outdated"]):
                            log(f"        WARNING sync pair is {last['state']} (outdated {last['outdated']}): "
                                f"{last['detail']}")

        # 4. medians and gates
        def m(label, row, key):
            return med([x[key] for x in raw if x["volume"] == label and x["row"] == row])

        med_tab = {(label, row, key): m(label, row, key) for label, *_ in VOLUMES for row in ROWS
                   for key in ("iops", "lat_mean_us", "lat_p50_us", "lat_p99_us", "fio_cpu_pct", "machine_busy_cores")}
        for label, *_ in VOLUMES:
            for row in ROWS:
                for n in ("a", "b", "c"):
                    med_tab[(label, row, "cores_" + n)] = med([x["cores"][n] for x in raw
                                                               if x["volume"] == label and x["row"] == row])
        plain_p50, sync_p50 = med_tab[("plain", QD1, "lat_p50_us")], med_tab[("sync", QD1, "lat_p50_us")]
        plain_qd32, async_qd32 = med_tab[("plain", QD32, "iops")], med_tab[("async", QD32, "iops")]
        sync_qd32 = med_tab[("sync", QD32, "iops")]
        gates = [
            dict(name="sync 4k QD1 median (p50) latency ≤ plain + 150 µs",
                 ok=sync_p50 <= plain_p50 + SYNC_LATENCY_BUDGET_US,
                 figures=f"sync {sync_p50:.1f} µs, plain {plain_p50:.1f} µs: +{sync_p50 - plain_p50:.1f} µs"
                         f" (limit {plain_p50 + SYNC_LATENCY_BUDGET_US:.1f} µs)"),
            dict(name="async 4k QD32 IOPS ≥ 0.9 × plain",
                 ok=async_qd32 >= ASYNC_IOPS_RATIO * plain_qd32,
                 figures=f"async {async_qd32:,.0f}, plain {plain_qd32:,.0f}: {async_qd32 / plain_qd32:.2f}×"
                         f" (limit {ASYNC_IOPS_RATIO * plain_qd32:,.0f})"),
        ]
        sync_ratio = sync_qd32 / plain_qd32
        qd32_lags = [x for x in lags if x["row"] == QD32]

        # A's log during the measured part
        warn = {x.name: log_lines(x.karaf_log, log_offset[x.name]) for x in apps}

        print()
        table = render_tables(med_tab, raw, lags, settle, gates, sync_ratio, a, warn)
        print(table["summary"])
        print(table["gates"])
        print(table["lag"])
        print(table["cpu"])
        print(table["threads"])
        for n, lines in warn.items():
            print(f"{n}: {len(lines)} WARN/ERROR lines in karaf.log during the rows" +
                  "".join("\n    " + l[:300] for l in lines[:5]))
        if a.write_doc:
            write_doc(a.doc, argv, notes, a, fio_cmds, table, warn, gates)
            log(f"# wrote section '{SECTION}' to {a.doc}")
        if a.json:
            json.dump(dict(command=argv, machine=notes, raw=raw, lags=lags, sync_settle=settle,
                           medians={" | ".join(k): v for k, v in med_tab.items()}, gates=gates,
                           sync_qd32_ratio=sync_ratio), open(a.json, "w"), indent=2)
        if not all(g["ok"] for g in gates) and not a.no_gate:
            rc = 1
    except KeyboardInterrupt as e:
        log(f"# interrupted ({e}); stopping the appliances")
        rc = 130
    except BenchError as e:
        log(f"# FAILED: {e}")
        for x in apps:
            lines = log_lines(x.karaf_log, 0)
            if lines:
                log(f"# {x.name} karaf.log WARN/ERROR (last 15):\n" + "\n".join("    " + l[:400] for l in lines[-15:]))
        rc = 2
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_all(apps)
        if a.keep:
            log(f"# kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return rc


def render_tables(med_tab, raw, lags, settle, gates, sync_ratio, a, warn):
    t = {}
    s = ["| volume | pair | QD1 IOPS | QD1 mean latency | QD1 p50 latency | QD1 p99 latency | QD32 IOPS | QD32 / plain |",
         "|---|---|---|---|---|---|---|---|"]
    plain32 = med_tab[("plain", QD32, "iops")]
    for label, group, vol, peer, mode in VOLUMES:
        pair = f"{mode} to {peer.upper()}" if peer else "none"
        s.append(f"| {vol} ({group}) | {pair} | {fmt(med_tab[(label, QD1, 'iops')])} "
                 f"| {fmt(med_tab[(label, QD1, 'lat_mean_us')], 1)} µs | {fmt(med_tab[(label, QD1, 'lat_p50_us')], 1)} µs "
                 f"| {fmt(med_tab[(label, QD1, 'lat_p99_us')], 1)} µs "
                 f"| {fmt(med_tab[(label, QD32, 'iops')])} | {med_tab[(label, QD32, 'iops')] / plain32:.2f} |")
    t["summary"] = "\n".join(s)
    g = [f"- **{'PASS' if x['ok'] else 'FAIL'}** {x['name']}: {x['figures']}" for x in gates]
    g.append(f"- sync 4k QD32 IOPS / plain: **{sync_ratio:.2f}×** ({med_tab[('sync', QD32, 'iops')]:,.0f} against "
             f"{plain32:,.0f}); not gated")
    dmean = med_tab[("sync", QD1, "lat_mean_us")] - med_tab[("plain", QD1, "lat_mean_us")]
    g.append(f"- for comparison, the mean QD1 latency of sync is {dmean:+.1f} µs from plain's")
    t["gates"] = "\n".join(g)
    l = ["| round | async row | state right after | lagRecords | lagSeconds | lag 0 after | applied at C after "
         "| `replicating`, map empty after | states passed | folds at A | resync passes |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
    for x in lags:
        l.append(f"| {x['round']} | {x['row']} | {x['state']} | {x['lagRecords']:,} | {x['lagSeconds']:.1f} s "
                 f"| {fmt(x['catchup_s'], 1)} s | {fmt(x['applied_s'], 1)} s | {fmt(x['steady_s'], 1)} s "
                 f"| {' → '.join(x['states'])} | {x['folds']} | {x['passes']} |")
    t["lag"] = "\n".join(l)
    rr = ["| round | row | volume | IOPS | mean latency | p50 latency | cores A | cores B | cores C | cores fio | machine busy cores |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for x in raw:
        rr.append(f"| {x['round']} | {x['row']} | {x['volume']} | {x['iops']:,.0f} | {x['lat_mean_us']:.1f} µs "
                  f"| {x['lat_p50_us']:.1f} µs | {x['cores']['a']:.2f} | {x['cores']['b']:.2f} | {x['cores']['c']:.2f} "
                  f"| {x['fio_cpu_pct'] / 100:.2f} | {x['machine_busy_cores']:.2f} |")
    t["raw"] = "\n".join(rr)
    c = ["| row | volume | cores A | cores B | cores C | cores fio | machine busy cores |", "|---|---|---|---|---|---|---|"]
    for row in ROWS:
        for label, *_ in VOLUMES:
            c.append(f"| {row} | {label} | {med_tab[(label, row, 'cores_a')]:.2f} | {med_tab[(label, row, 'cores_b')]:.2f} "
                     f"| {med_tab[(label, row, 'cores_c')]:.2f} | {med_tab[(label, row, 'fio_cpu_pct')] / 100:.2f} "
                     f"| {med_tab[(label, row, 'machine_busy_cores')]:.2f} |")
    t["cpu"] = "\n".join(c)
    st = ["| round | after sync row | state | outdated | applied at B after | in-sync, map empty after | folds at A |",
          "|---|---|---|---|---|---|---|"]
    for x in settle:
        st.append(f"| {x['round']} | {x['row']} | {' → '.join(x['states'])} | {'yes' if x['outdated'] else 'no'} "
                  f"| {fmt(x['applied_s'], 1)} s | {fmt(x['steady_s'], 1)} s | {x['folds']} |")
    t["settle"] = "\n".join(st)
    th = ["| row | volume | A | B | C |", "|---|---|---|---|---|"]
    for row in ROWS:
        for label, *_ in VOLUMES:
            runs = [x for x in raw if x["volume"] == label and x["row"] == row]
            cells = []
            for n in ("a", "b", "c"):
                kinds = {k for x in runs for k in x["threads"][n]}
                medians = {k: statistics.median([x["threads"][n].get(k, 0.0) for x in runs]) for k in kinds}
                top = sorted(medians.items(), key=lambda kv: -kv[1])[:4]
                cells.append(", ".join(f"`{k}` {v:.2f}" for k, v in top if v >= 0.01) or "–")
            th.append(f"| {row} | {label} | " + " | ".join(cells) + " |")
    t["threads"] = "\n".join(th)
    return t


def write_doc(path, argv, notes, a, fio_cmds, table, warn, gates):
    ok = all(g["ok"] for g in gates)
    parts = [SECTION, "", "    " + argv, "",
             f"Run {notes['date']} on the build machine: {notes['nproc']} cores ({notes['cpu']}), "
             f"{notes['mem_total_mib']:,} MiB memory of which {notes['mem_free_mib']:,} MiB free "
             f"({notes['mem_available_mib']:,} MiB available), load average {' / '.join(notes['loadavg'])} before "
             f"the start, Linux {notes['kernel']}, {notes['fio']}, {notes['java']}. The machine is shared: the "
             "figures are medians of the rounds, volumes interleaved within each round. Distribution "
             f"`{notes['distribution']['file']}` built {notes['distribution']['built']} (engine "
             f"{notes['distribution']['bundles'].get('io.doppel.engine', '?')}, transport "
             f"{notes['distribution']['bundles'].get('io.doppel.transport', '?')}).",
             "",
             "Three appliances run on loopback from the same distribution, each with its own ssh, NBD and "
             f"transport ports and its own data directory, `JAVA_MAX_MEM={a.java_max_mem}`, all other settings "
             "the distribution's defaults. A trusts B and C by fingerprint and dials them; B and C trust A "
             "without an address (only A dials). On A, three groups of one 1 GiB volume each, exported over "
             "NBD: `plain`/`p1` with no pair, `syncg`/`s1` paired `--mode sync` with B, `asyncg`/`a1` paired "
             "`--mode async` with C"
             + (f", each group's journal made with `--journal-capacity {a.journal_capacity}`. " if a.journal_capacity
                else "; the groups' journals have the default capacity (1 GiB). ")
             + (f"C's asynchronous copy is set with {', '.join('`' + x + '`' for x in a.async_set)} "
                "(`etc/io.doppel.copy.async.cfg`). " if a.async_set else
                "The asynchronous copy has its default settings (so C waits while A is saturated by fio's writes "
                "and its journal holds the burst: see docs/replication.md, the adaptive controller). ")
             + ("Before pairing, every volume is written once end to end (`fio --rw=write --bs=1m --iodepth=8 "
                "--size=1g`), so no row pays for block allocation and the initial copies fill B's and C's "
                "volumes too. " if a.prefill else
                "The volumes are not pre-filled: all three start sparse. ")
             + "The rows start once the sync pair is `in-sync` and the async pair `replicating`, after a 3 s "
             "4k QD32 warm-up write on each volume. "
             + ("Before every fio run, the volume files of all three appliances are written back (`fsync`) and "
                "evicted from the page cache (`posix_fadvise(DONTNEED)`), so every run starts with the same "
                "page-cache state; see the note on folios below for why this matters. " if a.drop_cache else
                "The volumes' page cache is left as the setup made it (`--keep-page-cache`). ")
             + "Every fio run goes through A's NBD server (URI `nbd://127.0.0.1:PORT/VOL`):",
             ""]
    parts += ["    " + c for c in fio_cmds.values()]
    parts += ["",
              f"After every sync or async row the script waits until A reports the peer has journaled "
              f"(`lagRecords` 0) and applied everything and the pair is `in-sync` or `replicating` again "
              f"with an empty map, so that no row pays for the previous row's "
              f"replication. "
              + (f"Each site runs on its own CPUs, as on its own machine: A and fio (the host) on CPU "
                 f"{a.primary_cpus}, B and C on CPU {a.peer_cpus} (`taskset`), so the secondaries' work is not "
                 f"taken from the primary and its host, and every row gives A the same CPUs. (Other work on the "
                 f"shared machine runs on all of them.)" if a.primary_cpus else
                 f"3 JVMs and fio share the {notes['nproc']} cores (`--shared-cpus`): the secondaries' CPU "
                 f"counts against the primary's."),
              "",
              "A note on folios, found while building this benchmark: what a 4 KiB write costs on this "
              "machine's ext4 (Linux " + notes["kernel"] + ") depends on the page-cache folios of the volume "
              "file. After a sequential write or a sequential read of uncached data (a pre-fill, or the "
              "initial copy reading the source volume), the cache holds large folios, and a 4 KiB write "
              "into one spends most of its time in `ext4_block_write_begin` (78% of A's samples under "
              "`perf`). On one volume of A: 4k QD32 random write at about 130,000 IOPS; after a 1 MiB "
              "sequential read of the uncached volume 14,000–16,000 IOPS; after evicting it again "
              "128,000 IOPS. Without the eviction, this benchmark's first runs measured mostly that: "
              "the paired volumes, which their initial copies had read, were 4–10× slower than the "
              "unpaired one, while after a pre-fill all three were slow.",
              "",
              f"Medians of {a.rounds} rounds, {a.runtime} s each (after {a.ramp} s of ramp):",
              "", table["summary"], "",
              "Gates:", "", table["gates"], "",
              f"Overall: **{'all gates pass' if ok else 'a gate fails'}**.", "",
              "The async pair right after each of its rows, as `doppel:pair-status --json asyncg c` on A shows "
              "it (the first read comes about 0.1 s after fio ended; the poll then repeats about every "
              "0.5 s, so catch-up times are that coarse). Folds (\"journal full; folded the records c lacks\") "
              "and resync passes are counted in A's `karaf.log` from the start of the row to the end of "
              "the catch-up:", "",
              table["lag"], "",
              "The sync pair after each of its rows (states as polled on A; B applies from its journal in "
              "the background):", "", table["settle"], "",
              "CPU per row, medians (cores = CPU seconds of the process over the fio run's wall time, "
              "ramp included; fio's own figure covers the measured part; machine busy includes other work on "
              "the machine):", "", table["cpu"], "",
              "Busiest threads per appliance, medians in cores (names as the kernel keeps them: 15 characters, "
              "digits folded to `#`):", "", table["threads"], "",
              "Every round:", "", table["raw"], ""]
    logs = []
    for n, lines in warn.items():
        logs.append(f"- {n.upper()}: {len(lines)} WARN/ERROR lines in `karaf.log` during warm-up and rows"
                    + (":" if lines else "."))
        for l in lines[:4]:
            logs.append("  `" + l[:240].replace("`", "'") + "`")
    parts += ["Logs:", ""] + logs + [""]
    text = "\n".join(parts).rstrip() + "\n"

    doc = open(path).read()
    start = doc.find("\n" + SECTION + "\n")
    if start >= 0:
        end = doc.find("\n## ", start + 1 + len(SECTION))
        doc = doc[:start + 1] + text + ("" if end < 0 else "\n" + doc[end + 1:])
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    open(path, "w").write(doc)


if __name__ == "__main__":
    sys.exit(main())
