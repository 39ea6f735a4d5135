"""Driver of .ci/native-histograms.sh: replicas, two Prometheus servers, load, and the check."""

import json
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

EXAMPLE = sys.argv[1]
REQUESTS = 900  # per replica
HISTOGRAM = "vitals_http_server_request_duration_seconds"
SELECTOR = '{route="/work",method="GET"}'
# The app's own OpenTelemetry exponential histogram of the same work (the example built with
# the `opentelemetry` feature), served as a native histogram.
OTEL = "work_duration_seconds"
OTEL_SELECTOR = '{job="fleet"}'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def wait_for(what, check, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def query(prom, expr):
    url = f"http://{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    body = json.loads(get(url))
    if body["status"] != "success":
        raise SystemExit(f"{expr}: {body}")
    return body["data"]["result"]


def scalar(prom, expr):
    result = query(prom, expr)
    return float(result[0]["value"][1]) if result else None


# Each replica's latencies in ms: a different mix, chosen so the fleet's p95 falls between
# classic bounds far apart (0.25 s and 0.5 s).
rng = random.Random(17)
MIXES = {
    "uniform 5-120 ms": lambda: rng.uniform(5, 120),
    "log-normal around 90 ms": lambda: min(90 * math.exp(rng.gauss(0, 0.6)), 2000),
    "bimodal 20 ms / 260-420 ms": lambda: (
        rng.uniform(10, 30) if rng.random() < 0.8 else rng.uniform(260, 420)
    ),
}


def main():
    work = tempfile.mkdtemp()
    processes = []
    try:
        replicas = []
        for _ in MIXES:
            port = free_port()
            log = open(os.path.join(work, f"replica-{port}.log"), "w")
            env = dict(os.environ, ADDR=f"127.0.0.1:{port}", RUST_LOG="warn")
            processes.append(subprocess.Popen([EXAMPLE], env=env, stdout=log, stderr=log))
            replicas.append(f"127.0.0.1:{port}")
        for replica in replicas:
            wait_for(replica, lambda: get(f"http://{replica}/health/live"))

        proms = {}
        for name, flags in [("native", ["--enable-feature=native-histograms"]), ("classic", [])]:
            port = free_port()
            config = os.path.join(work, f"{name}.yml")
            with open(config, "w") as f:
                f.write(
                    "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                    "scrape_configs:\n"
                    "  - job_name: fleet\n"
                    f"    static_configs: [{{targets: {json.dumps(replicas)}}}]\n"
                )
            log = open(os.path.join(work, f"{name}.log"), "w")
            processes.append(
                subprocess.Popen(
                    ["prometheus", f"--config.file={config}",
                     f"--storage.tsdb.path={os.path.join(work, name)}",
                     f"--web.listen-address=127.0.0.1:{port}", *flags],
                    stdout=log, stderr=log,
                )
            )
            proms[name] = f"127.0.0.1:{port}"
        for name, prom in proms.items():
            wait_for(f"{name} Prometheus scraping 3 replicas",
                     lambda: scalar(prom, 'sum(up{job="fleet"})') == 3)

        # One request each, so every replica's series exists before the measured load: rate()
        # starts from the first sample a series has.
        for replica in replicas:
            get(f"http://{replica}/work?ms=1")
        wait_for("the native series", lambda: len(query(proms["native"], HISTOGRAM + SELECTOR)) == 3)
        wait_for("the classic series",
                 lambda: len(query(proms["classic"], HISTOGRAM + "_count" + SELECTOR)) == 3)
        time.sleep(1.5)

        jobs = [(replica, mix()) for replica, mix in zip(replicas, MIXES.values())
                for _ in range(REQUESTS)]
        rng.shuffle(jobs)

        def timed(job):
            replica, ms = job
            start = time.perf_counter()
            get(f"http://{replica}/work?ms={round(ms)}")
            return time.perf_counter() - start

        started = time.monotonic()
        with ThreadPoolExecutor(48) as pool:
            durations = sorted(pool.map(timed, jobs))
        load_seconds = time.monotonic() - started
        truth = durations[math.ceil(0.95 * len(durations)) - 1]
        time.sleep(3.5)  # two more scrapes of every replica

        answers = {
            "native": scalar(proms["native"],
                             f"histogram_quantile(0.95, sum(rate({HISTOGRAM}{SELECTOR}[1m])))"),
            "classic": scalar(proms["classic"],
                              f"histogram_quantile(0.95, sum by (le) "
                              f"(rate({HISTOGRAM}_bucket{SELECTOR}[1m])))"),
        }
        print(f"{len(durations)} requests over 3 replicas in {load_seconds:.1f} s "
              f"({', '.join(MIXES)})")
        print(f"  true p95, client-side:          {truth * 1000:8.1f} ms")
        errors = {}
        for name, answer in answers.items():
            if answer is None or math.isnan(answer):
                raise SystemExit(f"{name} Prometheus has no answer")
            errors[name] = abs(answer - truth) / truth
            print(f"  {name:7} histogram_quantile(0.95): {answer * 1000:8.1f} ms "
                  f"({errors[name] * 100:.1f} % off)")
        native = query(proms["native"], f"{HISTOGRAM}{SELECTOR}")
        kinds = sorted({"native" if "histogram" in series else "float" for series in native})
        print(f"  {len(native)} series of {HISTOGRAM} in the native Prometheus: {kinds}")
        if kinds != ["native"]:
            raise SystemExit("the native Prometheus did not store native histograms")
        if errors["native"] > 0.05:
            raise SystemExit(f"the native histogram's p95 is {errors['native'] * 100:.1f} % off")
        print("native histograms: within 5 % of the truth across replicas")

        # The app's OpenTelemetry exponential histogram, through the same native Prometheus.
        otel = query(proms["native"], f"{OTEL}{OTEL_SELECTOR}")
        kinds = sorted({"native" if "histogram" in series else "float" for series in otel})
        print(f"  {len(otel)} series of {OTEL} (OpenTelemetry) in the native Prometheus: {kinds}")
        if len(otel) != 3 or kinds != ["native"]:
            raise SystemExit("the OpenTelemetry histogram is not stored as native histograms")
        counted = scalar(proms["native"], f"sum(histogram_count({OTEL}{OTEL_SELECTOR}))")
        served = len(durations) + len(replicas)  # the load, and one request each before it
        print(f"  histogram_count of {OTEL}: {counted:.0f}, requests served: {served}")
        if counted != served:
            raise SystemExit("the OpenTelemetry histogram's count is not the requests served")
        answer = scalar(proms["native"],
                        f"histogram_quantile(0.95, sum(rate({OTEL}{OTEL_SELECTOR}[1m])))")
        if answer is None or math.isnan(answer):
            raise SystemExit("no histogram_quantile for the OpenTelemetry histogram")
        error = abs(answer - truth) / truth
        print(f"  {OTEL} histogram_quantile(0.95): {answer * 1000:8.1f} ms ({error * 100:.1f} % off)")
        if error > 0.05:
            raise SystemExit(f"the OpenTelemetry histogram's p95 is {error * 100:.1f} % off")
        print("OpenTelemetry exponential histograms: native in Prometheus, within 5 % of the truth")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


main()
