#!/usr/bin/env python3
"""
The local EventBridge/SQS emulator under load (issue 13; results in docs/performance.md).

Creates a bus shaped like infra/provisioning.ts `provisionEvents` (4 rules, each with an SQS
queue target, plus the archive `<bus>-all`), then calls PutEvents with 10 entries (~1 KB of detail
each, all matching the `inventory-realtime` rule and the archive) while that rule's queue grows to
each size of --sizes. At each size it prints the milliseconds per PutEvents(10) (median and p90 of
--calls calls), the milliseconds of ReceiveMessage(10) + DeleteMessageBatch and of ListQueues,
and the emulator's CPU per PutEvents when its pid is known. The queue is filled with the same
PutEvents calls (so the archive grows too) unless --fill sqs. At the end everything it created
is deleted. --check instead asserts what the project uses works (rules -> SQS targets, SQS
receive/delete/purge and counters, the archive, S3).

  .cache/venv/bin/python bench/eventsEmulator.py --endpoint http://127.0.0.1:15500 --pid PID
  .cache/venv/bin/python bench/eventsEmulator.py --spawn 'python infra/localStack/motoServer.py -H 127.0.0.1 -p 15500'

--spawn starts the emulator itself (its own process group, stopped at the end), waits for its
port and reports its start time; --endpoint defaults to the port found in the --spawn command.
Never point it at the shared local stack while others use it: it adds thousands of messages.
Needs boto3 (in .cache/venv via moto[server]).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid

import boto3
from botocore.config import Config

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU of the process and its children that were waited for, from /proc."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except OSError:
        return None


def rss_mb(pid: int | None) -> float | None:
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def wait_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.1)
    return False


def routing(bus: str) -> list[dict]:
    """The rules of infra/provisioning.ts eventRouting(), same patterns and queue names."""
    return [
        {"name": f"{bus}-wallboard-users", "pattern": {"source": ["cdc-pipeline.users"]}, "queue": f"{bus}-wallboard-users"},
        {"name": f"{bus}-wallboard-orders", "pattern": {"source": ["cdc-pipeline.orders"]}, "queue": f"{bus}-wallboard-orders"},
        {
            "name": f"{bus}-inventory-realtime",
            "pattern": {"source": ["cdc-pipeline.inventory", "cdc-pipeline.reservations"]},
            "queue": f"{bus}-inventory-events",
        },
        {"name": f"{bus}-alerts", "pattern": {"detail-type": [{"prefix": "alert."}]}, "queue": f"{bus}-alerts"},
    ]


def detail(i: int) -> str:
    """About 1 KB of JSON, like an inventory change event."""
    d = {
        "eventId": str(uuid.uuid4()),
        "table": "inventory",
        "op": "update",
        "key": {"sku": f"SKU-{i % 5000:05d}", "warehouse_id": i % 17},
        "before": {"sku": f"SKU-{i % 5000:05d}", "warehouse_id": i % 17, "on_hand": 100, "reserved": 3},
        "after": {"sku": f"SKU-{i % 5000:05d}", "warehouse_id": i % 17, "on_hand": 99, "reserved": 4},
        "lsn": f"0/{i:08X}",
        "commitTime": "2026-01-01T00:00:00.000Z",
    }
    d["pad"] = "x" * max(0, 1000 - len(json.dumps(d)))
    return json.dumps(d)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


class Bench:
    def __init__(self, args: argparse.Namespace, pid: int | None):
        cfg = Config(
            region_name="us-east-1",
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=args.timeout,
            max_pool_connections=4,
        )
        kw = dict(endpoint_url=args.endpoint, aws_access_key_id="test", aws_secret_access_key="test", config=cfg)
        self.events = boto3.client("events", **kw)
        self.sqs = boto3.client("sqs", **kw)
        self.args = args
        self.pid = pid
        self.bus = f"bench-{uuid.uuid4().hex[:8]}"
        self.rules = routing(self.bus)
        self.urls: dict[str, str] = {}
        self.seq = 0

    # --- set-up and clean-up, the calls of provisionEvents / deprovisionEvents ---------------
    def provision(self) -> None:
        bus_arn = self.events.create_event_bus(Name=self.bus)["EventBusArn"]
        for r in self.rules:
            url = self.sqs.create_queue(QueueName=r["queue"])["QueueUrl"]
            self.urls[r["queue"]] = url
            arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            rule_arn = self.events.put_rule(
                Name=r["name"], EventBusName=self.bus, EventPattern=json.dumps(r["pattern"]), State="ENABLED"
            )["RuleArn"]
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": arn,
                        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                    }
                ],
            }
            self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
            self.events.put_targets(Rule=r["name"], EventBusName=self.bus, Targets=[{"Id": "queue", "Arn": arn}])
        if self.args.archive != "none":
            kw = {}
            if self.args.archive == "prefix":  # what provisioning creates
                kw["EventPattern"] = json.dumps({"source": [{"prefix": "cdc-pipeline."}]})
            self.events.create_archive(ArchiveName=f"{self.bus}-all", EventSourceArn=bus_arn, RetentionDays=30, **kw)

    def deprovision(self) -> None:
        def quiet(f, **kw):
            try:
                f(**kw)
            except Exception:  # noqa: BLE001 - clean-up is best effort
                pass

        for r in self.rules:
            quiet(self.events.remove_targets, Rule=r["name"], EventBusName=self.bus, Ids=["queue"])
            quiet(self.events.delete_rule, Name=r["name"], EventBusName=self.bus)
            if r["queue"] in self.urls:
                quiet(self.sqs.delete_queue, QueueUrl=self.urls[r["queue"]])
        quiet(self.events.delete_archive, ArchiveName=f"{self.bus}-all")
        quiet(self.events.delete_event_bus, Name=self.bus)

    # --- the measured calls ----------------------------------------------------------------
    def put10(self) -> float:
        entries = []
        for _ in range(10):
            self.seq += 1
            entries.append(
                {
                    "Source": "cdc-pipeline.inventory",
                    "DetailType": "inventory.updated",
                    "Detail": detail(self.seq),
                    "EventBusName": self.bus,
                }
            )
        t0 = time.perf_counter()
        out = self.events.put_events(Entries=entries)
        ms = (time.perf_counter() - t0) * 1000
        if out.get("FailedEntryCount"):
            raise RuntimeError(f"PutEvents failed entries: {out['Entries']}")
        return ms

    def send10(self) -> None:
        url = self.urls[self.rules[2]["queue"]]
        batch = []
        for i in range(10):
            self.seq += 1
            batch.append({"Id": str(i), "MessageBody": detail(self.seq)})
        self.sqs.send_message_batch(QueueUrl=url, Entries=batch)

    def queued(self) -> int:
        url = self.urls[self.rules[2]["queue"]]
        a = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(a["Attributes"]["ApproximateNumberOfMessages"])

    def receive_delete(self) -> tuple[float, int]:
        """ReceiveMessage(10) + DeleteMessageBatch on the growing queue: what a consumer pays."""
        url = self.urls[self.rules[2]["queue"]]
        t0 = time.perf_counter()
        msgs = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if msgs:
            self.sqs.delete_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
            )
        return (time.perf_counter() - t0) * 1000, len(msgs)

    def list_queues(self) -> float:
        t0 = time.perf_counter()
        self.sqs.list_queues()
        return (time.perf_counter() - t0) * 1000

    def check(self) -> None:
        """What the project needs of the emulator, asserted (--check): routing, SQS, S3, archive."""
        s3 = boto3.client("s3", endpoint_url=self.args.endpoint, aws_access_key_id="test",
                          aws_secret_access_key="test", region_name="us-east-1")
        sent = {
            "cdc-pipeline.inventory": ("inventory.updated", self.rules[2]["queue"]),
            "cdc-pipeline.users": ("user.updated", self.rules[0]["queue"]),
            "cdc-pipeline.alerts": ("alert.low-stock", self.rules[3]["queue"]),
        }
        entries = [{"Source": src, "DetailType": dt, "Detail": detail(i), "EventBusName": self.bus}
                   for i, (src, (dt, _)) in enumerate(sent.items())]
        out = self.events.put_events(Entries=entries)
        assert out["FailedEntryCount"] == 0, out
        for (src, (dt, queue)), entry in zip(sent.items(), entries):
            url = self.urls[queue]
            attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            assert attrs["ApproximateNumberOfMessages"] == "1", (queue, attrs)
            peek = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
            assert len(peek) == 1, (queue, peek)
            msgs = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30,
                                            WaitTimeSeconds=1)["Messages"]
            assert len(msgs) == 1, (queue, msgs)
            body = json.loads(msgs[0]["Body"])
            assert body["source"] == src and body["detail-type"] == dt, body
            assert body["detail"] == json.loads(entry["Detail"]), body
            assert {"id", "time", "region", "resources", "version"} <= body.keys(), body.keys()
            attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            assert (attrs["ApproximateNumberOfMessages"], attrs["ApproximateNumberOfMessagesNotVisible"]) == ("0", "1"), attrs
            h = msgs[0]["ReceiptHandle"]
            d = self.sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "0", "ReceiptHandle": h}])
            assert not d.get("Failed"), d
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=h)  # again: accepted
            d = self.sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "0", "ReceiptHandle": "x" * 185}])
            assert d.get("Failed"), d
            attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0", attrs
        # the other queue saw nothing; purge empties a queue
        assert "Messages" not in self.sqs.receive_message(QueueUrl=self.urls[self.rules[1]["queue"]])
        url = self.urls[self.rules[2]["queue"]]
        for _ in range(3):
            self.put10()
        assert self.queued() == 30, self.queued()
        self.sqs.purge_queue(QueueUrl=url)
        assert self.queued() == 0 and "Messages" not in self.sqs.receive_message(QueueUrl=url)
        if self.args.archive != "none":
            a = self.events.describe_archive(ArchiveName=f"{self.bus}-all")
            assert a["State"] == "ENABLED" and a["EventCount"] == 33, a
        bucket = f"{self.bus}-dlq"
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="shards/x.json", Body=b'{"a":1}')
        assert s3.get_object(Bucket=bucket, Key="shards/x.json")["Body"].read() == b'{"a":1}'
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="shards/")["Contents"]] == ["shards/x.json"]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "shards/x.json"}]})
        s3.delete_bucket(Bucket=bucket)
        print("check: PutEvents -> rules -> SQS, receive/peek/delete/purge, queue counters, archive, S3: ok",
              flush=True)

    def run(self) -> list[dict]:
        rows = []
        queued = 0
        for size in self.args.sizes:
            t_fill = time.perf_counter()
            while queued < size:
                if self.args.fill == "sqs":
                    self.send10()
                else:
                    self.put10()
                queued += 10
            fill_s = time.perf_counter() - t_fill
            queued = self.queued()
            cpu0, t0 = cpu_seconds(self.pid), time.perf_counter()
            put = [self.put10() for _ in range(self.args.calls)]
            wall = time.perf_counter() - t0
            cpu1 = cpu_seconds(self.pid)
            queued += 10 * self.args.calls
            rd = [self.receive_delete()[0] for _ in range(max(1, self.args.calls // 4))]
            queued -= 10 * len(rd)
            lq = [self.list_queues() for _ in range(3)]
            row = {
                "queued": size,
                "put_ms_p50": statistics.median(put),
                "put_ms_p90": pct(put, 90),
                "put_ms_max": max(put),
                "emulator_cpu_ms_per_put": (cpu1 - cpu0) / len(put) * 1000 if cpu0 is not None and cpu1 is not None else None,
                "emulator_cpu_share": (cpu1 - cpu0) / wall if cpu0 is not None and cpu1 is not None else None,
                "receive_delete_ms_p50": statistics.median(rd),
                "list_queues_ms_p50": statistics.median(lq),
                "emulator_rss_mb": rss_mb(self.pid),
                "fill_s": fill_s,
            }
            rows.append(row)
            print(
                f"queued {size:>5}  PutEvents(10) p50 {row['put_ms_p50']:7.1f} ms  p90 {row['put_ms_p90']:7.1f} ms"
                f"  max {row['put_ms_max']:7.1f}"
                + (f"  emulator CPU {row['emulator_cpu_ms_per_put']:6.1f} ms/call" if row["emulator_cpu_ms_per_put"] is not None else "")
                + f"  receive+delete(10) {row['receive_delete_ms_p50']:6.1f} ms  ListQueues {row['list_queues_ms_p50']:5.1f} ms"
                + (f"  RSS {row['emulator_rss_mb']:.0f} MB" if row["emulator_rss_mb"] is not None else "")
                + f"  (fill {fill_s:.0f} s)",
                flush=True,
            )
        # Purge, as the tests do between runs, and time it.
        t0 = time.perf_counter()
        self.sqs.purge_queue(QueueUrl=self.urls[self.rules[2]["queue"]])
        print(f"PurgeQueue {((time.perf_counter() - t0) * 1000):.1f} ms; after purge PutEvents(10) p50 "
              f"{statistics.median([self.put10() for _ in range(self.args.calls)]):.1f} ms", flush=True)
        return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", help="emulator URL (default: from --spawn's -p/--port, else http://127.0.0.1:15500)")
    p.add_argument("--spawn", help="command that starts the emulator (stopped at the end)")
    p.add_argument("--pid", type=int, help="emulator pid, for its CPU and memory (default: the --spawn process)")
    p.add_argument("--sizes", default="0,500,2000,5000", help="queue sizes to measure at (default 0,500,2000,5000)")
    p.add_argument("--calls", type=int, default=20, help="measured PutEvents calls at each size (default 20)")
    p.add_argument("--fill", choices=["events", "sqs"], default="events",
                   help="grow the queue with PutEvents (default; grows the archive too) or SendMessageBatch")
    p.add_argument("--archive", choices=["prefix", "empty", "none"], default="prefix",
                   help="archive pattern: provisioning's source prefix (default), none given, or no archive")
    p.add_argument("--timeout", type=float, default=60, help="read timeout per call, seconds (default 60)")
    p.add_argument("--json", help="also write the rows to this file")
    p.add_argument("--check", action="store_true",
                   help="instead of measuring, assert what the project needs of the emulator works")
    args = p.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",")]

    proc = None
    if args.spawn:
        m = re.search(r"(?:-p|--port)[ =](\d+)", args.spawn)
        if not args.endpoint:
            args.endpoint = f"http://127.0.0.1:{m.group(1) if m else 15500}"
    args.endpoint = args.endpoint or "http://127.0.0.1:15500"
    host, port = re.match(r"https?://([^:/]+):(\d+)", args.endpoint).groups()
    if args.spawn:
        with socket.socket() as s:
            if s.connect_ex((host, int(port))) == 0:
                print(f"port {port} is already in use", file=sys.stderr)
                return 2
        t0 = time.perf_counter()
        log = open(os.environ.get("BENCH_EMULATOR_LOG", os.devnull), "ab")
        proc = subprocess.Popen(shlex.split(args.spawn), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        if not wait_port(host, int(port), 120):
            os.killpg(proc.pid, signal.SIGTERM)
            print("emulator did not open its port in 120 s", file=sys.stderr)
            return 2
        print(f"emulator started in {time.perf_counter() - t0:.1f} s (pid {proc.pid})", flush=True)
    pid = args.pid or (proc.pid if proc else None)
    bench = Bench(args, pid)
    try:
        bench.provision()
        print(f"endpoint {args.endpoint}  bus {bench.bus}  archive {args.archive}  fill {args.fill}  "
              f"calls/size {args.calls}", flush=True)
        if args.check:
            bench.check()
            return 0
        rows = bench.run()
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"endpoint": args.endpoint, "spawn": args.spawn, "archive": args.archive,
                           "fill": args.fill, "rows": rows}, f, indent=2)
    finally:
        bench.deprovision()
        if proc:
            cpu = cpu_seconds(proc.pid)
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            if cpu is not None:
                print(f"emulator CPU over the run: {cpu:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
