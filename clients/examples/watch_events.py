#!/usr/bin/env python3
"""Stream the call service's live events over gRPC (server streaming).

Uses Debian's python3-grpcio and python3-protobuf. The message classes are
generated from proto/ with protoc (protobuf-compiler) into a cache folder on
first run; no gRPC stubs are needed: the stream is called by its path.

    python3 clients/examples/watch_events.py --email supervisor@example.com --password supervisor123
    python3 clients/examples/watch_events.py --token "$TOKEN" --after-seq 42 --count 10

Each event prints as one JSON line. Resume after a disconnect by passing the
last "seq" printed as --after-seq: nothing is missed and nothing repeats.
"""
import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile

import grpc
from google.protobuf import json_format

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "..", "..", "proto")


def load_messages():
    """Generates the _pb2 modules from proto/ once, and imports them."""
    out = os.path.join(tempfile.gettempdir(), "callservice-py-%d" % os.getuid())
    os.makedirs(out, exist_ok=True)
    protos = ["callservice/v1/common.proto", "callservice/v1/users.proto",
              "callservice/v1/calls.proto", "callservice/v1/events.proto"]
    newest = max(os.path.getmtime(os.path.join(PROTO_DIR, p)) for p in protos)
    marker = os.path.join(out, "callservice", "v1", "events_pb2.py")
    if not os.path.exists(marker) or os.path.getmtime(marker) < newest:
        subprocess.run(["protoc", "-I", PROTO_DIR, "-I", "/usr/include", "--python_out", out] + protos,
                       check=True)
    sys.path.insert(0, out)
    return (importlib.import_module("callservice.v1.users_pb2"),
            importlib.import_module("callservice.v1.events_pb2"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--addr", default=os.environ.get("GRPC_ADDR", "127.0.0.1:50051"))
    ap.add_argument("--email")
    ap.add_argument("--password")
    ap.add_argument("--token", default=os.environ.get("CALLSVC_TOKEN"))
    ap.add_argument("--after-seq", type=int, default=0)
    ap.add_argument("--call-id", default="")
    ap.add_argument("--count", type=int, default=0, help="exit after this many events (0: run until stopped)")
    ap.add_argument("--timeout", type=float, default=0, help="give up after this many seconds (0: never)")
    args = ap.parse_args()

    users_pb2, events_pb2 = load_messages()
    channel = grpc.insecure_channel(args.addr)
    token = args.token
    if not token:
        if not (args.email and args.password):
            ap.error("give --token, or --email and --password")
        login = channel.unary_unary("/callservice.v1.UserService/Login",
                                    request_serializer=users_pb2.LoginRequest.SerializeToString,
                                    response_deserializer=users_pb2.AuthResponse.FromString)
        token = login(users_pb2.LoginRequest(email=args.email, password=args.password), timeout=10).token

    watch = channel.unary_stream("/callservice.v1.EventService/WatchEvents",
                                 request_serializer=events_pb2.WatchEventsRequest.SerializeToString,
                                 response_deserializer=events_pb2.Event.FromString)
    req = events_pb2.WatchEventsRequest(after_seq=args.after_seq, call_id=args.call_id)
    stream = watch(req, metadata=[("authorization", "Bearer " + token)],
                   timeout=args.timeout or None)
    seen = 0
    try:
        for event in stream:
            print(json.dumps(json_format.MessageToDict(event)), flush=True)
            seen += 1
            if args.count and seen >= args.count:
                stream.cancel()
                break
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.CANCELLED and args.count and seen >= args.count:
            return 0
        print("stream ended: %s: %s" % (e.code().name, e.details()), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
