#!/usr/bin/env python3
"""Doppel's sync pair against QEMU's block mirror, and async lag on a throttled link.

Part 1, rows interleaved in each round, the same fio rows as bench/replication_bench.py
(4k random write, QD1 and QD32, through NBD):
  - Doppel A with no pair (p1), with a sync pair to B (s1), and with an async pair to B (r1,
    B pulls; its group's journal sized by --journal-capacity, B's async settings by --async-set);
  - qemu-storage-daemon exporting a raw image over NBD with no mirror, and with
    blockdev-mirror to a qemu-nbd target in copy-mode=write-blocking and background
    (../shared/tools/peers/qmp_mirror.py starts the job and waits until it is ready, then
    cancels it after the row: a final sync, no pivot).
  The primary side (A, qemu-storage-daemon) and fio run on CPU 0, the targets (B, qemu-nbd) on
  CPU 1. Gate: Doppel sync 4k QD32 IOPS >= 1.0 x the write-blocking mirror's.

Part 2: A copies group asyncg to C asynchronously through a TCP proxy in this script that
limits each direction to --link-mbps MB/s (token bucket). fio writes a1 at half that rate for
--lag-seconds; A's pair status is read every 0.5 s. Gate: lagSeconds stays under 1 s.

Usage:
    python3 bench/mirror_bench.py [--rounds 3] [--runtime 10] [--link-mbps 32] [--lag-seconds 30]
                                  [--journal-capacity 16G] [--async-set KEY=VALUE]
                                  [--write-doc] [--json FILE] [--keep]
"""
import argparse
import asyncio
import glob
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import replication_bench as rb  # noqa: E402  (same directory)

TOP = rb.TOP
DOC = rb.DOC
SECTION = "## Sync pair against QEMU's block mirror; async lag on a throttled link"
QMP_MIRROR = os.path.join(os.path.dirname(TOP), "shared", "tools", "peers", "qmp_mirror.py")
QD1, QD32 = "4k randwrite QD1", "4k randwrite QD32"
SYNC_IOPS_RATIO = 1.0
LAG_LIMIT_S = 1.0
log = rb.log


# ---- a throttling TCP proxy -----------------------------------------------------------------

class Bucket:
    """A token bucket of rate bytes/s with 50 ms of burst."""

    def __init__(self, rate):
        self.rate = rate
        self.tokens = rate * 0.05
        self.last = time.monotonic()

    async def take(self, n):
        while True:
            now = time.monotonic()
            self.tokens = min(self.rate * 0.05, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= n or self.tokens >= self.rate * 0.05:
                self.tokens -= n
                return
            await asyncio.sleep((min(n, self.rate * 0.05) - self.tokens) / self.rate)


class ThrottleProxy:
    """Listens on a free port and forwards to (host, port), each direction at most rate bytes/s."""

    def __init__(self, host, port, rate):
        self.target = (host, port)
        self.rate = rate
        self.bytes = {"up": 0, "down": 0}
        self.loop = asyncio.new_event_loop()
        self.port = None
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)
        self.up, self.down = Bucket(self.rate), Bucket(self.rate)

        async def start():
            server = await asyncio.start_server(self._client, rb.HOST, 0)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            async with server:
                await server.serve_forever()
        try:
            self.loop.run_until_complete(start())
        except Exception:
            pass

    async def _pipe(self, reader, writer, bucket, key):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                await bucket.take(len(data))
                writer.write(data)
                self.bytes[key] += len(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def _client(self, reader, writer):
        try:
            r2, w2 = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, w2, self.up, "up"), self._pipe(r2, writer, self.down, "down"))

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)


# ---- QEMU's mirror ----------------------------------------------------------------------------

class Qemu:
    """qemu-storage-daemon exporting SRC over NBD, and qemu-nbd serving TGT as the mirror's target."""

    def __init__(self, work, taken, primary_cpus, peer_cpus):
        self.dir = os.path.join(work, "qemu")
        os.makedirs(self.dir)
        self.src = os.path.join(self.dir, "source.img")
        self.tgt = os.path.join(self.dir, "target.img")
        for img in (self.src, self.tgt):
            subprocess.run(["qemu-img", "create", "-q", "-f", "raw", "-o", "preallocation=full", img, "1G"], check=True)
        self.qmp = os.path.join(self.dir, "qmp.sock")
        self.src_port, self.tgt_port = rb.free_port(taken), rb.free_port(taken)
        pin = lambda cpus, cmd: (["taskset", "-c", cpus] + cmd) if cpus else cmd
        self.nbd_cmd = pin(peer_cpus, ["qemu-nbd", "-t", "-e", "8", "-x", "tgt0", "-b", rb.HOST, "-p", str(self.tgt_port),
                                       "-f", "raw", "--cache=writeback", self.tgt])
        self.qsd_cmd = pin(primary_cpus, [
            "qemu-storage-daemon",
            "--chardev", f"socket,id=qmp0,path={self.qmp},server=on,wait=off", "--monitor", "chardev=qmp0",
            "--blockdev", f"driver=file,node-name=src-file,filename={self.src}",
            "--blockdev", "driver=raw,node-name=src,file=src-file",
            "--nbd-server", f"addr.type=inet,addr.host={rb.HOST},addr.port={self.src_port}",
            "--export", "type=nbd,id=exp0,node-name=src,name=vol0,writable=on"])
        log_out = open(os.path.join(self.dir, "qemu.log"), "w")
        self.nbd = subprocess.Popen(self.nbd_cmd, stdout=log_out, stderr=subprocess.STDOUT, start_new_session=True)
        self.qsd = subprocess.Popen(self.qsd_cmd, stdout=log_out, stderr=subprocess.STDOUT, start_new_session=True)
        rb.poll("qemu-storage-daemon's QMP socket", lambda: (os.path.exists(self.qmp), None), 30, 0.2)
        self.uri = f"nbd://{rb.HOST}:{self.src_port}/vol0"

    def mirror(self, *args, timeout=600):
        cmd = [sys.executable, QMP_MIRROR, self.qmp] + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0:
            raise rb.BenchError(f"{' '.join(cmd)} failed: {p.stdout}\n{p.stderr}")
        return p.stdout

    def start(self, mode):
        self.mirror("start-mirror", "--mode", mode, "--port", str(self.tgt_port), "--export", "tgt0", "--timeout", "600")

    def stop(self):
        self.mirror("stop-mirror", "--timeout", "600")

    def cpu(self):
        return sum(rb.session_cpu_seconds(p.pid) for p in (self.qsd, self.nbd) if p.poll() is None)

    def close(self):
        for p in (self.qsd, self.nbd):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                    p.wait(20)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    os.killpg(p.pid, signal.SIGKILL)


def drop_file_cache(paths):
    """Writes back and evicts the page cache of files (as replication_bench does for the volumes)."""
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


# ---- main -------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runtime", type=int, default=10)
    ap.add_argument("--ramp", type=int, default=2)
    ap.add_argument("--link-mbps", type=float, default=32.0, help="the throttled link's rate, MB/s each direction")
    ap.add_argument("--lag-seconds", type=int, default=30, help="seconds of steady load at half the link's rate")
    ap.add_argument("--lag-load-share", type=float, default=0.5,
                    help="the load's rate as a share of the link's (above 1: the negative control, lag must grow)")
    ap.add_argument("--lag-only", action="store_true", help="only part 2 (no mirror rows, no doc)")
    ap.add_argument("--journal-capacity", help="journal capacity of the async row's group (group-create"
                    " --journal-capacity); default: the journal service's")
    ap.add_argument("--async-set", action="append", default=[], metavar="KEY=VALUE",
                    help="a setting of B's io.doppel.copy.async (B pulls the async row's pair); repeatable")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--write-doc", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--no-gate", action="store_true")
    a = ap.parse_args()
    argv = "python3 bench/mirror_bench.py " + " ".join(shlex.quote(x) for x in sys.argv[1:])
    cpus = sorted(os.sched_getaffinity(0))
    primary_cpus = peer_cpus = None
    if len(cpus) >= 2:
        half = len(cpus) // 2
        primary_cpus = ",".join(str(c) for c in cpus[:half])
        peer_cpus = ",".join(str(c) for c in cpus[half:])
    tgz = sorted(glob.glob(os.path.join(TOP, "karaf-distribution/target/doppel-distribution-*.tar.gz")))
    if not tgz:
        sys.exit("no distribution: mvn -B -o -q install -DskipTests")
    for tool in ("fio", "qemu-storage-daemon", "qemu-nbd", "qemu-img", "ssh"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed")
    if not os.path.exists(QMP_MIRROR):
        sys.exit(f"{QMP_MIRROR} is missing (../shared beside the clone)")
    work = tempfile.mkdtemp(prefix="doppel-mirror-bench-")
    notes = rb.machine_notes()
    dist = os.path.join(work, os.path.basename(tgz[-1]))
    shutil.copy2(tgz[-1], dist)
    notes["distribution"] = rb.distribution_notes(dist, work)
    log(f"# work dir {work}; {notes['nproc']} cpus, load {' '.join(notes['loadavg'])}")

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, interrupted)

    apps, qemu, proxy = [], None, None
    rc = 0
    try:
        key = os.path.join(work, "ssh-key")
        subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", key], check=True)
        taken = set()
        A, B, C = (rb.Appliance(n, work, dist, key, taken, "1g") for n in ("a", "b", "c"))
        apps = [A, B, C]
        for kv in a.async_set:
            key_, _, value_ = kv.partition("=")
            # the puller (B, for the async row) plans the pulls
            rb.set_cfg(os.path.join(B.home, "etc", "io.doppel.copy.async.cfg"), key_.strip(), value_.strip())
        for x in apps:
            x.launch(primary_cpus if x is A else peer_cpus)
        for x in apps:
            x.await_ready()
        proxy = ThrottleProxy(rb.HOST, C.transport_port, a.link_mbps * 1e6)
        fp = {x.name: x.json("doppel:site-id --json")["fingerprint"] for x in apps}
        A.run(f"doppel:peer-add --fingerprint {fp['b']} b {rb.HOST}:{B.transport_port}")
        A.run(f"doppel:peer-add --fingerprint {fp['c']} c {rb.HOST}:{proxy.port}")
        B.run(f"doppel:peer-add --fingerprint {fp['a']} a")
        C.run(f"doppel:peer-add --fingerprint {fp['a']} a")
        for group, vol in (("plain", "p1"), ("syncg", "s1"), ("asyncr", "r1"), ("asyncg", "a1")):
            cap = f"--journal-capacity {a.journal_capacity} " if a.journal_capacity and group == "asyncr" else ""
            A.run(f"doppel:group-create {cap}{group}")
            A.run(f"doppel:volume-create --group {group} {vol} 1G")
            A.run(f"doppel:export-add {vol}")
        uri = {v: f"nbd://{rb.HOST}:{A.nbd_port}/{v}" for v in ("p1", "s1", "r1", "a1")}
        for v in ("p1", "s1", "r1"):
            rb.prefill(uri[v])
        if a.lag_only:
            a.rounds = 0
        A.run("doppel:pair-create --mode sync syncg b")
        rb.poll("sync pair in-sync", lambda: ((s := rb.pair_status(A, "syncg", "b"))["state"] == "in-sync"
                                                and s["mapBlocks"] == 0, s), 600, 1)
        A.run("doppel:pair-create --mode async asyncr b")
        rb.poll("async pair to B replicating", lambda: ((s := rb.pair_status(A, "asyncr", "b"))["state"] == "replicating"
                                                          and s["mapBlocks"] == 0, s), 900, 1)
        qemu = Qemu(work, taken, primary_cpus, peer_cpus)
        rb.prefill(qemu.uri)
        log("# set up: Doppel A->B sync, qemu-storage-daemon + qemu-nbd target")

        # warm-up
        for u in (uri["p1"], uri["s1"], uri["r1"], qemu.uri):
            rb.fio(u, QD32, 3, 0, os.path.join(work, "warmup.json"), primary_cpus)

        vol_files = lambda: glob.glob(os.path.join(A.home, "doppel/volumes/*/data")) + glob.glob(
            os.path.join(B.home, "doppel/volumes/*/data")) + [qemu.src, qemu.tgt]
        variants = [("doppel", "none", "p1"), ("doppel", "sync", "s1"), ("doppel", "async", "r1"), ("qemu", "none", None),
                    ("qemu", "write-blocking", None), ("qemu", "background", None)]
        raw = []
        cmds = {}
        for r in range(1, a.rounds + 1):
            for row in (QD1, QD32):
                for system, mode, vol in variants:
                    drop_file_cache(vol_files())
                    if system == "qemu" and mode != "none":
                        qemu.start(mode)
                    target = uri[vol] if system == "doppel" else qemu.uri
                    res, cmd = rb.fio(target, row, a.runtime, a.ramp, os.path.join(work, f"r{r}.json"), primary_cpus)
                    cmds[row] = re.sub(r"--output=\S+", "--output=OUT.json",
                                       " ".join(cmd).replace(target, "nbd://127.0.0.1:PORT/VOL"))
                    if system == "qemu" and mode != "none":
                        qemu.stop()
                    if system == "doppel" and mode == "sync":
                        rb.quiesce(A, "syncg", "b", "in-sync", 300)
                    if system == "doppel" and mode == "async":
                        rb.quiesce(A, "asyncr", "b", "replicating", 600)
                    res.update(round=r, row=row, system=system, mode=mode)
                    raw.append(res)
                    log(f"round {r} {row:18s} {system:6s} {mode:15s} {res['iops']:9.0f} IOPS  p50 {res['lat_p50_us']:8.1f} µs")

        if a.lag_only:
            variants = []

        def m(system, mode, row, key):
            return rb.med([x[key] for x in raw if x["system"] == system and x["mode"] == mode and x["row"] == row])

        table = {(s, mo, row, k): m(s, mo, row, k) for s, mo, _ in variants for row in (QD1, QD32)
                 for k in ("iops", "lat_p50_us", "lat_mean_us")}
        gates = []
        if not a.lag_only:
            sync32, wb32 = table[("doppel", "sync", QD32, "iops")], table[("qemu", "write-blocking", QD32, "iops")]
            gates = [dict(name="Doppel sync 4k QD32 IOPS ≥ 1.0 × QEMU write-blocking mirror", ok=sync32 >= SYNC_IOPS_RATIO * wb32,
                      figures=f"Doppel sync {sync32:,.0f}, write-blocking mirror {wb32:,.0f}: {sync32 / wb32:.2f}×")]

        # part 2: async lag on a throttled link
        A.run("doppel:pair-create --mode async asyncg c")
        rb.poll("async pair replicating", lambda: ((s := rb.pair_status(A, "asyncg", "c"))["state"] == "replicating"
                                                     and s["mapBlocks"] == 0, s), 900, 1)
        rate = a.link_mbps * a.lag_load_share
        lag_cmd = ["fio", "--name=lag", "--ioengine=nbd", "--uri=" + uri["a1"], "--size=1g", "--time_based",
                   f"--runtime={a.lag_seconds}", "--rw=randwrite", "--bs=4k", "--iodepth=4", f"--rate={rate:.0f}m",
                   "--randrepeat=0", "--norandommap", "--output-format=json", "--output=" + os.path.join(work, "lag.json")]
        b0 = dict(proxy.bytes)
        fio_lag = subprocess.Popen(["taskset", "-c", primary_cpus] + lag_cmd if primary_cpus else lag_cmd,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples = []
        t0 = time.time()
        while fio_lag.poll() is None:
            s = rb.pair_status(A, "asyncg", "c")
            samples.append((time.time() - t0, s["lagSeconds"], s["lagRecords"], s.get("pullDelayMillis", 0)))
            time.sleep(0.5)
        wall = time.time() - t0
        lag_job = json.load(open(os.path.join(work, "lag.json")))["jobs"][0]["write"]
        up = proxy.bytes["up"] - b0["up"]
        steady = [x for x in samples if 3 <= x[0] <= a.lag_seconds - 1]  # without fio's start-up
        lag_max = max((x[1] for x in steady), default=float("nan"))
        lag_med = rb.med([x[1] for x in steady]) if steady else float("nan")
        lag = dict(link_mbps=a.link_mbps, write_mbps=lag_job["bw_bytes"] / 1e6, iops=lag_job["iops"],
                   link_bytes_up=up, link_mbps_used=up / wall / 1e6, samples=len(steady), lag_max_s=lag_max,
                   lag_median_s=lag_med, lag_records_max=max((x[2] for x in steady), default=0),
                   command=re.sub(r"--output=\S+", "--output=OUT.json",
                                  " ".join(lag_cmd).replace(uri["a1"], "nbd://127.0.0.1:PORT/a1")))
        gates.append(dict(name=f"async lag under a steady load at {a.lag_load_share:g} of a {a.link_mbps:.0f} MB/s link"
                               f" < {LAG_LIMIT_S:.0f} s",
                          ok=lag_max < LAG_LIMIT_S,
                          figures=f"max {lag_max:.2f} s, median {lag_med:.2f} s over {len(steady)} samples; "
                                  f"writes {lag['write_mbps']:.1f} MB/s, link carried {lag['link_mbps_used']:.1f} MB/s"))
        for g in gates:
            log(f"- **{'PASS' if g['ok'] else 'FAIL'}** {g['name']}: {g['figures']}")
        doc = render(argv, notes, a, table, gates, lag, cmds, variants) if not a.lag_only else json.dumps(lag, indent=1)
        print(doc)
        if a.write_doc and not a.lag_only:
            write_doc(doc)
            log(f"# wrote section '{SECTION}' to {DOC}")
        if a.json:
            json.dump(dict(command=argv, machine=notes, raw=raw, lag=lag, lag_samples=samples, gates=gates),
                      open(a.json, "w"), indent=2)
        if not all(g["ok"] for g in gates) and not a.no_gate:
            rc = 1
    except KeyboardInterrupt as e:
        log(f"# interrupted ({e})")
        rc = 130
    except rb.BenchError as e:
        log(f"# FAILED: {e}")
        rc = 2
    finally:
        if qemu:
            qemu.close()
        if proxy:
            proxy.close()
        rb.stop_all(apps)
        if a.keep:
            log(f"# kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return rc


def render(argv, notes, a, t, gates, lag, cmds, variants):
    label = {("doppel", "none"): "Doppel, no pair", ("doppel", "sync"): "Doppel, sync pair to B",
             ("doppel", "async"): "Doppel, async pair to B",
             ("qemu", "none"): "qemu-storage-daemon, no mirror", ("qemu", "write-blocking"): "QEMU mirror, write-blocking",
             ("qemu", "background"): "QEMU mirror, background"}
    lines = [SECTION, "", "    " + argv, "",
             f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on the build machine: {notes['nproc']} cores, "
             f"load average {' / '.join(notes['loadavg'])} before the start, {notes['kernel']}, {notes['fio']}, "
             f"{notes['java']}. Distribution `{notes['distribution']['file']}` built {notes['distribution']['built']} "
             f"(engine {notes['distribution']['bundles'].get('io.doppel.engine', '?')}); "
             f"{subprocess.run(['qemu-storage-daemon', '--version'], capture_output=True, text=True).stdout.splitlines()[0]}.",
             "",
             "Doppel A (no pair: `p1`; sync pair to B: `s1`; async pair to B, which pulls: `r1`"
             + (f", its group's journal made with `--journal-capacity {a.journal_capacity}`" if a.journal_capacity else "")
             + (f", B's asynchronous copy set with {', '.join('`' + x + '`' for x in a.async_set)}" if a.async_set else "")
             + ") against `qemu-storage-daemon` exporting a preallocated raw "
             "image over NBD, without a mirror and with `blockdev-mirror` (`sync=full`) to `qemu-nbd` serving a second "
             "image (`../shared/tools/peers/qmp_mirror.py start-mirror --mode write-blocking|background`, waited until "
             "ready before the row and cancelled after it). The primary side (A, qemu-storage-daemon) and fio run on CPU 0, "
             "the targets (B, qemu-nbd) on CPU 1. Volumes and images are pre-filled, and every file's page cache is "
             "written back and evicted before each run, as in the replication benchmark. Rows interleaved in each round; "
             f"medians of {a.rounds} rounds, {a.runtime} s each:", ""]
    for row in (QD1, QD32):
        lines.append(f"    {cmds.get(row, '')}")
    lines += ["", "| system | QD1 IOPS | QD1 p50 latency | QD32 IOPS | QD32 p50 latency | QD32 / write-blocking mirror |",
              "|---|---|---|---|---|---|"]
    wb = t[("qemu", "write-blocking", QD32, "iops")]
    for s, mo, _ in variants:
        lines.append(f"| {label[(s, mo)]} | {t[(s, mo, QD1, 'iops')]:,.0f} | {t[(s, mo, QD1, 'lat_p50_us')]:.1f} µs | "
                     f"{t[(s, mo, QD32, 'iops')]:,.0f} | {t[(s, mo, QD32, 'lat_p50_us')]:.1f} µs | "
                     f"{t[(s, mo, QD32, 'iops')] / wb:.2f} |")
    lines += ["", f"Async lag: A copies `asyncg` to C asynchronously through a proxy in the script that limits each "
                  f"direction to {lag['link_mbps']:.0f} MB/s (token bucket, 50 ms burst). fio writes `a1` at half of "
                  f"that for {a.lag_seconds} s; A's `pair-status` is read every 0.5 s (the first 3 s and the last second "
                  "left out):", "", "    " + lag["command"], "",
              f"- writes {lag['write_mbps']:.1f} MB/s ({lag['iops']:,.0f} IOPS); the link carried "
              f"{lag['link_mbps_used']:.1f} MB/s towards C; lag (`lagSeconds`, the age of the oldest record C lacks) "
              f"median {lag['lag_median_s']:.2f} s, max {lag['lag_max_s']:.2f} s; at most {lag['lag_records_max']:,} "
              f"records behind, over {lag['samples']} samples", "", "Gates:", ""]
    for g in gates:
        lines.append(f"- **{'PASS' if g['ok'] else 'FAIL'}** {g['name']}: {g['figures']}")
    return "\n".join(lines) + "\n"


def write_doc(section):
    rb.replace_doc_section(SECTION, section)


if __name__ == "__main__":
    sys.exit(main())
