#!/usr/bin/env python3
"""Local NBD serving: Doppel (journaling on) against nbdkit file and qemu-nbd, one run.

Every target serves a 1 GiB raw file (for Doppel: its volume vol0, through the write
path with the journal). Each row is measured ROUNDS times, targets interleaved, and the
median is reported with the ratio of Doppel to the faster peer.

    bench/nbd_bench.py [--rounds 3] [--runtime 10] [--workdir DIR] [--rows ROW,...]

Needs: fio, nbdkit, qemu-nbd (qemu-utils) and a built distribution
(karaf-distribution/target/doppel-distribution-*.tar.gz; ./start.sh or mvn install builds it).
"""
import argparse
import glob
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 1 << 30

# name: (fio args, metric) ; metric is "iops", "bw" (MB/s) or "lat" (mean completion latency, µs)
ROWS = {
    "4k-randwrite-qd1": (["--rw=randwrite", "--bs=4k", "--iodepth=1"], "iops"),
    "4k-randwrite-qd32": (["--rw=randwrite", "--bs=4k", "--iodepth=32"], "iops"),
    "4k-randread-qd32": (["--rw=randread", "--bs=4k", "--iodepth=32"], "iops"),
    "1m-seqwrite-qd8": (["--rw=write", "--bs=1m", "--iodepth=8"], "bw"),
    "1m-seqread-qd8": (["--rw=read", "--bs=1m", "--iodepth=8"], "bw"),
    "4k-write-flush-qd1": (["--rw=randwrite", "--bs=4k", "--iodepth=1", "--fsync=1"], "iops"),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


def wait_nbd(uri, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if subprocess.run(["nbdinfo", "--size", uri], capture_output=True).returncode == 0:
            return
        time.sleep(0.5)
    raise RuntimeError(f"{uri} is not served after {timeout} s")


class Target:
    def __init__(self, name, uri, proc, cmdline):
        self.name, self.uri, self.proc, self.cmdline = name, uri, proc, cmdline

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_nbdkit(work):
    f = os.path.join(work, "nbdkit.img")
    subprocess.run(["truncate", "-s", str(SIZE), f], check=True)
    port = free_port()
    cmd = ["nbdkit", "-f", "-i", "127.0.0.1", "-p", str(port), "file", f]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "nbdkit.log"), "w"))
    wait_port(port, p)
    return Target("nbdkit-file", f"nbd://127.0.0.1:{port}/", p, " ".join(cmd))


def start_qemu_nbd(work):
    f = os.path.join(work, "qemu.img")
    subprocess.run(["truncate", "-s", str(SIZE), f], check=True)
    port = free_port()
    cmd = ["qemu-nbd", "-t", "-e", "8", "-f", "raw", "-b", "127.0.0.1", "-p", str(port), "-x", "vol0", f]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "qemu-nbd.log"), "w"))
    wait_port(port, p)
    return Target("qemu-nbd", f"nbd://127.0.0.1:{port}/vol0", p, " ".join(cmd))


def set_cfg(path, key, value):
    lines = open(path).read().splitlines() if os.path.exists(path) else []
    lines = [l for l in lines if not l.split("=")[0].strip() == key]
    lines.append(f"{key} = {value}")
    open(path, "w").write("\n".join(lines) + "\n")


def start_doppel(work):
    tgz = sorted(glob.glob(os.path.join(TOP, "karaf-distribution/target/doppel-distribution-*.tar.gz")))
    if not tgz:
        sys.exit("no distribution: build it first (./start.sh builds it, or mvn -B install -DskipTests)")
    subprocess.run(["tar", "xzf", tgz[-1], "-C", work], check=True)
    home = glob.glob(os.path.join(work, "doppel-distribution-*"))[0]
    port = free_port()
    set_cfg(os.path.join(home, "etc/io.doppel.nbd.cfg"), "port", port)
    set_cfg(os.path.join(home, "etc/org.apache.karaf.shell.cfg"), "sshPort", free_port())
    env = dict(os.environ, JAVA_MAX_MEM="1g")
    cmd = [os.path.join(home, "bin/karaf"), "server"]
    p = subprocess.Popen(cmd, cwd=home, env=env, stdout=open(os.path.join(work, "doppel.out"), "w"),
                         stderr=subprocess.STDOUT, start_new_session=True)
    wait_port(port, p)
    uri = f"nbd://127.0.0.1:{port}/vol0"
    wait_nbd(uri)
    t = Target("doppel", uri, p, "bin/karaf server (distribution defaults, journal on)")
    t.home = home
    return t


def fio(target, row, runtime, work):
    args, metric = ROWS[row]
    out = os.path.join(work, f"fio-{target.name}-{row}.json")
    cmd = ["fio", "--name=" + row, "--ioengine=nbd", "--uri=" + target.uri, "--size=1g",
           "--time_based", f"--runtime={runtime}", "--ramp_time=2", "--randrepeat=0", "--norandommap",
           "--output-format=json", "--output=" + out] + args
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=runtime + 120)
    job = json.load(open(out))["jobs"][0]
    side = job["write"] if "write" in args[0] else job["read"]
    if metric == "iops":
        value = side["iops"]
    else:
        value = side["bw_bytes"] / 1e6
    lat_us = side["clat_ns"]["mean"] / 1000.0
    return value, lat_us, " ".join(cmd)


def warm_up(target):
    # Write every block once so that no row measures first allocation of a sparse file.
    subprocess.run(["fio", "--name=warm", "--ioengine=nbd", "--uri=" + target.uri, "--rw=write", "--bs=1m",
                    "--iodepth=8", "--size=1g", "--output=/dev/null"], check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runtime", type=int, default=10)
    ap.add_argument("--workdir")
    ap.add_argument("--rows", default=",".join(ROWS))
    ap.add_argument("--json", help="write results here too")
    a = ap.parse_args()
    rows = a.rows.split(",")
    work = a.workdir or tempfile.mkdtemp(prefix="doppel-bench-")
    os.makedirs(work, exist_ok=True)
    targets = []
    try:
        targets = [start_doppel(work), start_nbdkit(work), start_qemu_nbd(work)]
        for t in targets:
            print(f"# {t.name}: {t.cmdline}", flush=True)
            warm_up(t)
        results = {row: {t.name: [] for t in targets} for row in rows}
        lat = {row: {t.name: [] for t in targets} for row in rows}
        cmds = {}
        for r in range(a.rounds):
            for row in rows:
                for t in targets:
                    v, l, cmd = fio(t, row, a.runtime, work)
                    results[row][t.name].append(v)
                    lat[row][t.name].append(l)
                    cmds[row] = cmd.replace(t.uri, "URI")
                    print(f"round {r + 1} {row:20s} {t.name:12s} {v:10.1f} ({l:.0f} µs)", flush=True)
        print()
        print(f"medians of {a.rounds} rounds, {a.runtime} s each; ratio = doppel / faster peer")
        print(f"{'row':22s} {'doppel':>12s} {'nbdkit-file':>12s} {'qemu-nbd':>12s} {'ratio':>7s}  {'doppel lat':>10s}")
        summary = {}
        for row in rows:
            med = {n: statistics.median(v) for n, v in results[row].items()}
            mlat = {n: statistics.median(v) for n, v in lat[row].items()}
            best = max(med["nbdkit-file"], med["qemu-nbd"])
            ratio = med["doppel"] / best if best else float("nan")
            unit = "IOPS" if ROWS[row][1] == "iops" else "MB/s"
            print(f"{row:22s} {med['doppel']:12.0f} {med['nbdkit-file']:12.0f} {med['qemu-nbd']:12.0f} {ratio:7.2f}"
                  f"  {mlat['doppel']:8.0f}µs  ({unit})")
            summary[row] = {"unit": unit, "median": med, "latency_us": mlat, "ratio": ratio,
                            "all": results[row], "fio": cmds[row]}
        if a.json:
            json.dump(summary, open(a.json, "w"), indent=2)
    finally:
        for t in targets:
            t.stop()
        if not a.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
