#!/usr/bin/env python3
"""Failback by difference against a full copy (nbdcopy) and rsync's delta transfer.

For each way A leaves and returns (restart: A is stopped and started again; partition: A's
link to B is cut and restored while A runs on) and each share of a 1 GiB volume (default 1%
and 10%): A copies group fb<N> synchronously to B, A leaves, B takes the group over
(doppel:takeover) and writes that share of the volume's blocks with random data (fio
randwrite, every block once), then A returns. The failback is timed in A's karaf.log from its
link to B coming up to "is consistent again" (or, without a pass, the Outdated mark cleared). Side by side, on the same images: nbdcopy of B's volume
(over NBD) to a file, and rsync --no-whole-file --inplace of B's volume file onto a copy of
A's file from before the restart. Each timed run starts with the files' pages written back and
evicted from the page cache. Target: at 1%, the failback is at least 10x faster than either.

Usage:
    python3 bench/failback_bench.py [--returns restart,partition] [--shares 0.01,0.10] [--write-doc] [--json FILE] [--keep]
"""
import argparse
import datetime
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
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import replication_bench as rb  # noqa: E402  (same directory)

TOP = rb.TOP
DOC = rb.DOC
SECTION = "## Failback by difference against nbdcopy and rsync"
VOLUME_BYTES = 1 << 30
BLOCK = 4096
RATIO = 10.0
log = rb.log


def log_time(line):
    """The time stamp of a karaf.log line ("2026-11-22T19:56:20,638 | ...")."""
    return datetime.datetime.strptime(line[:23], "%Y-%m-%dT%H:%M:%S,%f").timestamp()


def await_log(path, since, pattern, timeout):
    deadline = time.time() + timeout
    rx = re.compile(pattern)
    while time.time() < deadline:
        with open(path, errors="replace") as f:
            f.seek(since)
            for line in f:
                if rx.search(line):
                    return line
        time.sleep(0.2)
    raise rb.BenchError(f"no line matching {pattern!r} in {path} within {timeout} s")


def await_done(path, since, group, timeout=600):
    """A's line that says the failback is over: consistent again after a pass, or in sync after a stream."""
    deadline = time.time() + timeout
    pair = None
    while time.time() < deadline:
        with open(path, errors="replace") as f:
            f.seek(since)
            for line in f:
                m = re.search(r"Pair (\S+) \(" + re.escape(group) + r" from b\)", line)
                if m:
                    pair = m.group(1)
                if f": {group} is consistent again at" in line:
                    return line
                if pair and f"Pair {pair}: the primary cleared this site Outdated" in line:
                    return line
        time.sleep(0.2)
    raise rb.BenchError(f"{group} at A did not become consistent within {timeout} s")


def takeover(b, group, timeout=120):
    """doppel:takeover at B, retried while the manual policy still sees A connected."""
    deadline = time.time() + timeout
    while True:
        rc, out, err = b.ssh(f"doppel:takeover --json {group}")
        if rc == 0 and "{" in out and "Error executing" not in out:
            return json.loads(out[out.find("{"):])
        if time.time() > deadline:
            raise rb.BenchError(f"takeover of {group} at B refused for {timeout} s: {out.strip()} {err.strip()}")
        time.sleep(0.5)


def timed(cmd):
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise rb.BenchError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return wall


def evict(paths):
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shares", default="0.01,0.10", help="shares of the volume changed at B, comma-separated")
    ap.add_argument("--returns", default="restart,partition",
                    help="how A comes back: restart (A was stopped) and/or partition (A's link was cut, A ran on)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--write-doc", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    shares = [float(x) for x in a.shares.split(",")]
    argv = "python3 bench/failback_bench.py " + " ".join(shlex.quote(x) for x in sys.argv[1:])
    tgz = sorted(glob.glob(os.path.join(TOP, "karaf-distribution/target/doppel-distribution-*.tar.gz")))
    if not tgz:
        sys.exit("no distribution: mvn -B -o -q install -DskipTests")
    for tool in ("fio", "nbdcopy", "rsync", "ssh"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed")
    work = tempfile.mkdtemp(prefix="doppel-failback-bench-")
    notes = rb.machine_notes()
    dist = os.path.join(work, os.path.basename(tgz[-1]))
    shutil.copy2(tgz[-1], dist)
    notes["distribution"] = rb.distribution_notes(dist, work)
    apps, rows, rc = [], [], 0
    try:
        key = os.path.join(work, "ssh-key")
        subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", key], check=True)
        taken = set()
        A, B = (rb.Appliance(n, work, dist, key, taken, "1g") for n in ("a", "b"))
        apps = [A, B]
        for x in apps:
            x.launch()
        for x in apps:
            x.await_ready()
        fp = {x.name: x.json("doppel:site-id --json")["fingerprint"] for x in apps}
        A.run(f"doppel:peer-add --fingerprint {fp['b']} b {rb.HOST}:{B.transport_port}")
        B.run(f"doppel:peer-add --fingerprint {fp['a']} a")
        groups = []
        returns = [x.strip() for x in a.returns.split(",")]
        for ret in returns:
            if ret not in ("restart", "partition"):
                sys.exit(f"--returns: unknown way of returning {ret!r} (restart or partition)")
        for ret in returns:
            for share in shares:
                i = len(groups)
                g, v = f"fb{i}", f"v{i}"
                A.run(f"doppel:group-create {g}")
                A.run(f"doppel:volume-create --group {g} {v} 1G")
                A.run(f"doppel:export-add {v}")
                rb.prefill(f"nbd://{rb.HOST}:{A.nbd_port}/{v}")  # fio's buffers: random data
                A.run(f"doppel:pair-create --mode sync {g} b")
                rb.poll(f"{g} in sync", lambda g=g: ((s := rb.pair_status(A, g, "b"))["state"] == "in-sync"
                                                     and s["mapBlocks"] == 0, s), 900, 1)
                B.run(f"doppel:export-add {v}")
                groups.append((ret, share, g, v))
        log("# set up: " + ", ".join(f"{g} ({v}, 1 GiB, sync to b)" for _, _, g, v in groups))
        for ret, share, g, v in groups:
            blocks = int(VOLUME_BYTES / BLOCK * share)
            if ret == "restart":
                A.signal(signal.SIGTERM)  # A stops
                A.wait_stopped(120)
            else:
                A.run("doppel:peer-remove b")  # the link between the sites is cut; A goes on running
            took = takeover(B, g)
            log(f"# {g}: B took over in epoch {took['epoch']} (A {'stopped' if ret == 'restart' else 'cut off'})")
            fio_cmd = ["fio", "--name=change", "--ioengine=nbd", f"--uri=nbd://{rb.HOST}:{B.nbd_port}/{v}",
                       "--rw=randwrite", "--bs=4k", "--size=1g", f"--number_ios={blocks}", "--iodepth=16",
                       "--randrepeat=0", "--output=/dev/null"]
            subprocess.run(fio_cmd, check=True, capture_output=True, timeout=600)
            a_file = os.path.join(A.home, "doppel/volumes", v, "data")
            b_file = os.path.join(B.home, "doppel/volumes", v, "data")
            before = os.path.join(work, f"{v}-a-before.img")
            subprocess.run(["cp", "--sparse=never", a_file, before], check=True)
            # the failback: A comes back, its link to B comes up, B's OPEN reaches it
            since = os.path.getsize(A.karaf_log) if os.path.exists(A.karaf_log) else 0
            if ret == "restart":
                A.launch()
                A.await_ready()
            else:
                A.run(f"doppel:peer-add --fingerprint {fp['b']} b {rb.HOST}:{B.transport_port}")
            connected = await_log(A.karaf_log, since, r"Link to peer b \(site \S+\) up", 300)
            opened = await_log(A.karaf_log, since, rf"\({g} from b\): (diverged|connected|inconsistent|resyncing)", 300)
            # in sync: after a pass, once it is applied; without one (the records after the fork
            # came as a stream), once the new primary has it all and clears the Outdated mark
            done = await_done(A.karaf_log, since, g)
            failback_s = log_time(done) - log_time(connected)
            rb.poll(f"{g} in sync again", lambda g=g: ((s := rb.pair_status(B, g, "a"))["state"] == "in-sync"
                                                       and s["mapBlocks"] == 0, s), 300, 0.5)
            status = B.json(f"doppel:pair-status --json {g} a")
            # side by side on the same images
            copy_to = os.path.join(work, f"{v}-nbdcopy.img")
            evict([b_file])
            nbdcopy_cmd = ["nbdcopy", f"nbd://{rb.HOST}:{B.nbd_port}/{v}", copy_to]
            nbdcopy_s = timed(nbdcopy_cmd)
            evict([b_file, before])
            # --ignore-times: the two files have the same size, and rsync must not skip by modification time
            rsync_cmd = ["rsync", "--no-whole-file", "--inplace", "--ignore-times", b_file, before]
            rsync_s = timed(rsync_cmd)
            os.remove(copy_to)
            os.remove(before)
            row = dict(returned=ret, share=share, group=g, blocks_written=blocks, done_line=done.strip()[-160:],
                       resync_blocks=status["resyncBlocks"], failback_s=failback_s,
                       to_pair_s=log_time(opened) - log_time(connected), nbdcopy_s=nbdcopy_s,
                       rsync_s=rsync_s, connected=connected.strip()[:23], opened=opened.strip()[:23],
                       done=done.strip()[:23],
                       fio=" ".join(fio_cmd).replace(f"{rb.HOST}:{B.nbd_port}", "127.0.0.1:PORT"),
                       nbdcopy=" ".join(nbdcopy_cmd).replace(f"{rb.HOST}:{B.nbd_port}", "127.0.0.1:PORT").replace(work, "WORK"),
                       rsync=" ".join(rsync_cmd).replace(work, "WORK"))
            rows.append(row)
            log(f"{ret}, {share:.0%} changed ({blocks} blocks): failback {failback_s:.2f} s (pair connected after "
                f"{row['to_pair_s']:.2f} s; {status['resyncBlocks']} blocks in a pass), nbdcopy {nbdcopy_s:.2f} s, "
                f"rsync {rsync_s:.2f} s")
        gates = []
        for r in rows:
            if abs(r["share"] - 0.01) < 1e-9:
                ok = r["failback_s"] * RATIO <= min(r["nbdcopy_s"], r["rsync_s"])
                gates.append(dict(name=f"failback at 1% ({r['returned']}) ≥ 10× faster than nbdcopy and rsync", ok=ok,
                                  figures=f"failback {r['failback_s']:.2f} s, nbdcopy {r['nbdcopy_s']:.2f} s "
                                          f"({r['nbdcopy_s'] / r['failback_s']:.1f}×), rsync {r['rsync_s']:.2f} s "
                                          f"({r['rsync_s'] / r['failback_s']:.1f}×)"))
        doc = render(argv, notes, rows, gates)
        print(doc)
        if a.write_doc:
            write_doc(doc)
        if a.json:
            json.dump(dict(command=argv, machine=notes, rows=rows, gates=gates), open(a.json, "w"), indent=2)
        if not all(g["ok"] for g in gates):
            rc = 1
    except rb.BenchError as e:
        log(f"# FAILED: {e}")
        rc = 2
    finally:
        rb.stop_all(apps)
        if a.keep:
            log(f"# kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return rc


def render(argv, notes, rows, gates):
    lines = [SECTION, "", "    " + argv, "",
             f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on the build machine: {notes['nproc']} cores, "
             f"load average {' / '.join(notes['loadavg'])} before the start, {notes['kernel']}. Distribution "
             f"`{notes['distribution']['file']}` built {notes['distribution']['built']}. A 1 GiB volume per row, "
             "pre-filled by fio at A and copied synchronously to B. A leaves in one of two ways: *restart*, A is "
             "stopped (SIGTERM) and started again after B's writes, so the failback runs in a freshly started JVM; "
             "*partition*, A's link to B is cut (`doppel:peer-remove b` at A) and restored (`doppel:peer-add`), A "
             "running on without host writes. Meanwhile `doppel:takeover` at B, and B writes the share of the volume's "
             "blocks once each with random data. The failback is timed in A's karaf.log from its link to B coming up "
             "to \"is consistent again\" after a pass or, without one, to the new primary clearing A's Outdated mark "
             "(A then holds every record); \"pair\" is the part of that until A, demoted, has its pair from B "
             "connected. nbdcopy copies B's volume over NBD to a file; rsync updates a copy of A's file from before "
             "A came back from B's file. The page cache of the files is evicted before nbdcopy and rsync. The rows run in the order shown, on the same two appliances: A's restart starts a new JVM, while the partition rows run in JVMs that already moved the restart rows' records.", "",
             "| A returns by | changed | blocks written at B | blocks in a pass | failback (pair) | nbdcopy (full) | rsync --no-whole-file --inplace --ignore-times | vs nbdcopy | vs rsync |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['returned']} | {r['share']:.0%} | {r['blocks_written']:,} | {r['resync_blocks']:,} | "
                     f"{r['failback_s']:.2f} s ({r['to_pair_s']:.2f} s) | "
                     f"{r['nbdcopy_s']:.2f} s | {r['rsync_s']:.2f} s | {r['nbdcopy_s'] / r['failback_s']:.1f}× | "
                     f"{r['rsync_s'] / r['failback_s']:.1f}× |")
    if rows:
        lines += ["", "Commands (per row):", "", "    " + rows[0]["fio"], "    " + rows[0]["nbdcopy"],
                  "    " + rows[0]["rsync"]]
    lines += ["", "Gates:", ""]
    for g in gates:
        lines.append(f"- **{'PASS' if g['ok'] else 'FAIL'}** {g['name']}: {g['figures']}")
    return "\n".join(lines) + "\n"


def write_doc(section):
    rb.replace_doc_section(SECTION, section)


if __name__ == "__main__":
    sys.exit(main())
