"""An OTLP/HTTP metrics receiver for tests: decodes each POST /v1/metrics body with the
official OpenTelemetry protobuf definitions (PyPI's opentelemetry-proto) and prints, one JSON
line per data point, what it holds. Prints `port=N` first; stops on stdin's end."""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

lock = threading.Lock()


def attributes(point):
    out = {}
    for kv in point.attributes:
        value = kv.value
        kind = value.WhichOneof("value")
        out[kv.key] = getattr(value, kind) if kind else None
    return out


def points(metric):
    kind = metric.WhichOneof("data")
    data = getattr(metric, kind)
    for point in data.data_points:
        row = {"metric": metric.name, "unit": metric.unit, "kind": kind,
               "attributes": attributes(point)}
        if kind in ("histogram", "exponential_histogram"):
            row.update(count=point.count, sum=point.sum)
        if kind == "histogram":
            row["bounds"] = list(point.explicit_bounds)
            row["bucket_counts"] = [int(c) for c in point.bucket_counts]
        elif kind == "exponential_histogram":
            row.update(scale=point.scale, zero_count=point.zero_count,
                       positive=MessageToDict(point.positive))
        else:
            row["value"] = point.as_int if point.WhichOneof("value") == "as_int" else point.as_double
        yield row


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path != "/v1/metrics" or self.headers["Content-Type"] != "application/x-protobuf":
            self.send_error(400, f"{self.path} {self.headers['Content-Type']}")
            return
        request = ExportMetricsServiceRequest()
        request.ParseFromString(body)
        with lock:
            for resource in request.resource_metrics:
                for scope in resource.scope_metrics:
                    for metric in scope.metrics:
                        for row in points(metric):
                            print(json.dumps(row), flush=True)
            print(json.dumps({"export": True}), flush=True)
        reply = ExportMetricsServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"port={server.server_address[1]}", flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
sys.stdin.read()
server.shutdown()
