#!/usr/bin/env python3
"""Runs the docker-compose stack without Docker: the same services, commands
and environment as docker-compose.yml (read from it, so the two cannot drift),
against the local NATS and PostgreSQL.

  scripts/local-stack.py                  # default services until Ctrl-C
  scripts/local-stack.py --profile live   # plus the live exchange feeds
  scripts/local-stack.py --for 20 --check # run 20 s, then check rows arrived

Host names of the compose network are mapped to this machine: nats -> the
local NATS (NATS_URL), postgres -> LOCAL_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/arbitrade, created if missing).
Binaries come from target/release or target/debug (ARB_BIN_DIR overrides).
A named volume's mount point in a command (the backup service's /backups)
becomes a folder of .stack/ (.stack/backups). The one-shot services
(migrate, then streams: `arbctl streams --ensure`) run to completion first.
Each service gets its compose NATS user (NATS_USER, NATS_PASSWORD,
NATS_INBOX_PREFIX); a local NATS without users ignores them.
"""
import argparse, os, re, shutil, signal, subprocess, sys, time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
INFRA = {"nats", "postgres"}
# One-shot services, run to completion in this order before the others
# start (compose: the others depend on them completing).
ONE_SHOT = ("migrate", "streams")
# Services whose heartbeats carry another name than their compose service
# (the paper executor reports, audits and dead-letters as `executor`).
HEARTBEAT_AS = {"executor-paper": "executor"}
# Services that leave files in a volume instead of heartbeats: checked by those.
FILES_IN = {"backup": ("backups", "backup-*.dump")}


def compose_config(profiles):
    env = dict(os.environ)
    if shutil.which("docker-compose"):
        args = ["docker-compose", "-f", str(ROOT / "docker-compose.yml")]
        for p in profiles:
            args += ["--profile", p]
        out = subprocess.run(args + ["config"], check=True, capture_output=True, text=True, env=env).stdout
        cfg = yaml.safe_load(out)
    else:
        # No docker-compose: read the file ourselves (merge keys and ${VAR:-default}).
        text = (ROOT / "docker-compose.yml").read_text()
        text = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: os.environ.get(m.group(1), m.group(2)), text)
        cfg = yaml.safe_load(text)
    # docker-compose 1.x `config` lists every profile's services: select here.
    cfg["services"] = {n: s for n, s in cfg["services"].items()
                       if not s.get("profiles") or set(s["profiles"]) & set(profiles)}
    return cfg


def bin_dir():
    if os.environ.get("ARB_BIN_DIR"):
        return Path(os.environ["ARB_BIN_DIR"])
    names = ("arb-sink", "arb-feed", "arb-detector", "arbctl")
    for d in ("release", "debug"):
        if all((ROOT / "target" / d / n).exists() for n in names):
            return ROOT / "target" / d
    sys.exit("no binaries: run `cargo build --bins` first")


def local_env(service_env, db_url, nats_url, prefix):
    env = dict(os.environ)
    for k, v in (service_env or {}).items():
        v = str(v)
        if k == "DATABASE_URL":
            v = db_url
        elif k == "NATS_URL":
            v = nats_url
        env[k] = v
    if prefix:
        env["ARB_SUBJECT_PREFIX"] = prefix
    return env


def local_command(service, stack):
    """The service's command with each named volume's mount point
    (`backups:/backups`) replaced by a folder of .stack/ (`.stack/backups`)."""
    mounts = {}
    for v in service.get("volumes") or []:
        src, dst = (v.split(":") + [""])[:2] if isinstance(v, str) else (v.get("source"), v.get("target"))
        if src and dst and not src.startswith((".", "/", "~")):
            mounts[dst] = stack / src
    cmd = []
    for x in map(str, service["command"]):
        for dst, local in mounts.items():
            if x == dst or x.startswith(dst + "/"):
                x = str(local) + x[len(dst):]
        cmd.append(x)
    return cmd


def ensure_database(db_url):
    base, name = db_url.rsplit("/", 1)
    name = name.split("?")[0]
    admin = base + "/postgres"
    exists = subprocess.run(["psql", admin, "-Atc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
                            capture_output=True, text=True)
    if exists.returncode != 0:
        sys.exit(f"PostgreSQL not reachable at {admin}: {exists.stderr.strip()}")
    if exists.stdout.strip() != "1":
        subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{name}"'], check=True)


def count(db_url, sql):
    n = subprocess.run(["psql", db_url, "-Atc", sql], capture_output=True, text=True)
    return int(n.stdout.strip() or 0) if n.returncode == 0 else -1


def check(db_url, tables, services, stack, since):
    """Rows in every table, and a heartbeat from every service. A process
    reports under its compose service's name (sys.state.<service>: sink,
    feed-sim, detector-cross, ...); one of FILES_IN by its files written since `since`."""
    ok = True
    for t in tables:
        n = count(db_url, f"SELECT count(*) FROM {t}")
        print(f"  {t:<28} {n}")
        ok &= n > 0
    for s in services:
        if s in FILES_IN:
            folder, pattern = FILES_IN[s]
            n = sum(1 for f in (stack / folder).rglob(pattern) if f.stat().st_mtime >= since)
            print(f"{s}: {n} new {pattern} in .stack/{folder}")
            ok &= n > 0
    print("heartbeats stored (runtime_state_snapshots by service):")
    for s in (s for s in services if s not in FILES_IN):
        hb = HEARTBEAT_AS.get(s, s)
        n = count(db_url, f"SELECT count(*) FROM runtime_state_snapshots WHERE service = '{hb}'")
        print(f"  {s:<28} {n}")
        ok &= n > 0
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", action="append", default=[])
    ap.add_argument("--for", dest="duration", type=float, help="stop after this many seconds")
    ap.add_argument("--check", action="store_true",
                    help="after --for: fail unless books, opportunities and every service's heartbeats were stored")
    ap.add_argument("--prefix", help="ARB_SUBJECT_PREFIX for every service (isolates a run on a shared server)")
    ap.add_argument("--print", action="store_true", help="print the commands and environment, run nothing")
    a = ap.parse_args()

    cfg = compose_config(a.profile)
    db_url = os.environ.get("LOCAL_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/arbitrade")
    nats_url = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
    services = {n: s for n, s in cfg["services"].items() if n not in INFRA}
    order = sorted(services, key=lambda n: (ONE_SHOT.index(n) if n in ONE_SHOT else len(ONE_SHOT), n))
    bins = bin_dir() if not a.print else Path("target/<profile>")
    logs = ROOT / ".stack"
    logs.mkdir(exist_ok=True)

    if a.print:
        for n in order:
            s = services[n]
            env = {k: v for k, v in local_env(s.get("environment"), db_url, nats_url, a.prefix).items()
                   if k.startswith(("ARB_", "NATS_", "DATABASE_", "RUST_"))}
            print(n, local_command(s, logs), env)
        return 0

    ensure_database(db_url)
    started = time.time()
    procs = {}
    try:
        for n in order:
            s = services[n]
            local = local_command(s, logs)
            cmd = [str(bins / local[0])] + local[1:]
            env = local_env(s.get("environment"), db_url, nats_url, a.prefix)
            log = open(logs / f"{n}.log", "w")
            p = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
            print(f"started {n}: {' '.join(local)} (log .stack/{n}.log)")
            if n in ONE_SHOT:
                if p.wait() != 0:
                    sys.exit(f"{n} failed: see .stack/{n}.log")
                continue
            procs[n] = p
        deadline = time.time() + a.duration if a.duration else None
        while deadline is None or time.time() < deadline:
            for n, p in procs.items():
                if p.poll() is not None:
                    sys.exit(f"{n} exited with {p.returncode}: see .stack/{n}.log")
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        failed = []
        for n, p in procs.items():
            try:
                if p.wait(timeout=30) != 0:
                    failed.append(n)
            except subprocess.TimeoutExpired:
                p.kill()
                failed.append(n)
        print("stopped" + (f"; unclean exit: {failed}" if failed else " cleanly"))
    if a.check:
        time.sleep(0.5)
        print("rows stored:")
        if not check(db_url, ["market_snapshots", "opportunities", "portfolio_snapshots", "runtime_state_snapshots"], sorted(procs), logs, started) or failed:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
