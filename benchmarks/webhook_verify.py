"""Scenario ``webhook_verify``: the CPU cost of accepting one webhook delivery.

Per event: check the signature (base64, SHA-256 of the body, HMAC-SHA256, constant-time
compare) and the timestamp, then decode the body, for the fixture delivery
(``tests/fixtures/webhook_voice_outbound.json``, 2.2 KB, with its test vector).

Contenders, each in its own worker process, rounds interleaved:

* ``sdk`` -- `asyncsdk.webhooks.verify_signature` + `parse_event` into a typed
  `CallEvent` (UUIDs and datetimes built, types validated);
* ``handwritten_json`` -- the usual hand-written receiver: `hmac.new` + `json.loads`
  into dicts (no validation, no timestamp check);
* ``handwritten_orjson`` -- the same with `orjson.loads`.

Target: ``sdk`` <= 25 us per event.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable

from benchmarks import _harness as h
from benchmarks._harness import Json

NAME = "webhook_verify"
TITLE = "Webhook verification and parsing"

CONTENDERS = {
    "sdk": "asyncsdk verify_signature + parse_event (typed CallEvent)",
    "handwritten_json": "hand-written hmac + json.loads (dicts, no timestamp check)",
    "handwritten_orjson": "hand-written hmac + orjson.loads (dicts, no timestamp check)",
}
BASELINES = ("handwritten_json", "handwritten_orjson")
TARGET_US = 25.0

FULL = {"rounds": 15, "seconds_per_sample": 0.2}
QUICK = {"rounds": 3, "seconds_per_sample": 0.01}


def _vector() -> tuple[str, dict[str, str], str, bytes]:
    vector = json.loads((h.FIXTURES / "webhook_signature_vector.json").read_text())
    body = (h.FIXTURES / vector["bodyFile"]).read_bytes()
    return vector["signingKey"], vector["headers"], vector["url"], body


def _contender(key: str) -> Callable[[], object]:
    signing_key, headers, url, body = _vector()
    signature = headers["messagebird-signature"]
    stamp = headers["messagebird-request-timestamp"]
    request_id = headers["messagebird-request-id"]
    now = float(stamp) + 5
    if key == "sdk":
        import datetime as dt

        from asyncsdk.webhooks import parse_event, parse_timestamp, verify_signature

        def sdk() -> object:
            verify_signature(
                signing_key, signature=signature, timestamp=stamp, url=url, body=body, now=now
            )
            when = dt.datetime.fromtimestamp(parse_timestamp(stamp), dt.UTC)
            return parse_event(body, request_id=request_id, timestamp=when)

        return sdk
    loads: Callable[[bytes], object]
    if key == "handwritten_json":
        loads = json.loads
    else:
        import orjson

        loads = orjson.loads
    secret = signing_key.encode()

    def handwritten() -> object:
        given = base64.b64decode(signature)
        message = stamp.encode() + b"\n" + url.encode() + b"\n" + hashlib.sha256(body).digest()
        expected = hmac.new(secret, message, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, given):
            raise ValueError("bad signature")
        return loads(body)

    return handwritten


def _worker(argv: list[str]) -> None:
    fn = _contender(argv[0])
    fn()  # fails loudly if the vector does not verify
    h.serve_timings({"event": fn})


def run(*, quick: bool = False) -> Json:
    params = dict(QUICK if quick else FULL)
    keys = list(CONTENDERS)
    timings = h.time_workers(
        "benchmarks.webhook_verify",
        keys,
        ["event"],
        rounds=int(params["rounds"]),
        seconds=float(params["seconds_per_sample"]),
    )
    samples = {key: [s * 1e6 for s in timings.seconds["event"][key]] for key in keys}  # us
    body_bytes = len(_vector()[3])
    results = h.by_contender(CONTENDERS, {"us_per_event": samples})
    ratios = {f"sdk/{b} time": h.paired_ratio(samples["sdk"], samples[b]) for b in BASELINES}
    sdk_us = results["sdk"]["us_per_event"]["median"]
    return h.make_result(
        scenario=NAME,
        title=TITLE,
        description=(
            f"CPU time to accept one {body_bytes:,}-byte delivery: verify the signature "
            "(and, for the SDK, the timestamp) and decode the body. Each contender in its "
            "own process, rounds interleaved; lower is better."
        ),
        parameters={**params, "body_bytes": body_bytes, "gc": "enabled during timing"},
        results=results,
        ratios=ratios,
        targets=[
            h.target(
                f"sdk <= {TARGET_US:g} us per event",
                sdk_us,
                "<=",
                TARGET_US,
                "median of the rounds, fixture delivery",
            )
        ],
        tables=[
            h.table(
                "Microseconds per event, median (min-max)",
                ["contender", "us per event", "events per second"],
                (
                    [label, h.fmt_range(us), f"{1e6 / us['median']:,.0f}"]
                    for label, us in ((CONTENDERS[k], results[k]["us_per_event"]) for k in keys)
                ),
            ),
            h.ratio_table(
                "SDK time ratios (per-round: median (min-max); above 1 is slower)", ratios
            ),
        ],
        chart={
            "title": "Webhook verify + parse (us per event, median; bars min-max)",
            "xlabel": "microseconds per event",
            "groups": {
                "fixture delivery": {CONTENDERS[k]: results[k]["us_per_event"] for k in keys}
            },
        },
        notes=[
            "The hand-written peers do less: no timestamp check, no typed decode (dicts of "
            "str), no UUID or datetime objects. The SDK's extra cost is the typed `Call`.",
        ],
    )


if __name__ == "__main__":
    h.scenario_main(run, _worker)
