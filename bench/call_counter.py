"""Count the AWS API calls code makes, by botocore's own event hooks, and what they are billed.

`CallCounter.install(session)` registers `before-call` / `after-call` handlers on a botocore
(or boto3) session; every client created from that session afterwards carries them, so
the handlers' cached clients are counted without touching their code. Only calls made
inside `with counter.stage(name):` are recorded (the harness's own set-up and read-back
calls are not). `short_circuit` answers chosen operations without sending them (the
seed-design model's asynchronous Lambda invokes).

Besides the count per operation, each call is priced in the units AWS bills:
DynamoDB read/write request units from the item sizes (rules in `dynamodb_item_size`),
SQS requests per 64 KiB chunk, and the wall time spent inside calls (to separate a
handler's own compute from the emulator's).
"""
from __future__ import annotations

import math
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Optional

KIB = 1024
SQS_CHUNK = 64 * KIB


def dynamodb_value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value as DynamoDB sizes it (docs: "Item sizes and formats")."""
    (kind, data), = value.items()
    if kind == "S":
        return len(str(data).encode("utf-8"))
    if kind == "N":
        digits = str(data).lstrip("-").replace(".", "").lstrip("0") or "0"
        return min(21, math.ceil(len(digits) / 2) + 1)
    if kind == "B":
        return len(data) if isinstance(data, (bytes, bytearray)) else math.ceil(len(str(data)) * 3 / 4)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + dynamodb_value_size(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + dynamodb_value_size(v) for k, v in data.items())
    if kind in ("SS", "NS", "BS"):
        return sum(dynamodb_value_size({kind[0]: v}) for v in data)
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def dynamodb_item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """Attribute names plus values, in bytes."""
    return sum(len(name.encode("utf-8")) + dynamodb_value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / KIB))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / (4 * KIB)))
    return float(units) if consistent else units / 2


def sqs_requests(entries: list[Mapping[str, Any]]) -> int:
    """SQS bills each 64 KiB chunk of a request's payload as one request."""
    payload = sum(len(str(e.get("MessageBody", "")).encode("utf-8")) for e in entries)
    return max(1, math.ceil(payload / SQS_CHUNK))


def _key_id(table: str, key: Mapping[str, Any]) -> tuple[str, str]:
    return table, repr(sorted((k, tuple(v.items())) for k, v in key.items()))


@dataclass
class StageCalls:
    calls: Counter = field(default_factory=Counter)  # "service.Operation" -> count
    wru: float = 0.0  # DynamoDB write request units known at call time (puts)
    rru: float = 0.0
    sqs_requests: int = 0
    errors: Counter = field(default_factory=Counter)  # error code -> count
    call_seconds: float = 0.0  # wall time inside AWS calls (emulator time included)
    counting_seconds: float = 0.0  # the counter's own bookkeeping (sizing items), not the handler's
    # Updates/deletes are billed on the item's size, which the request does not carry:
    # (table, key) -> multiplier (2 inside a transaction), priced after the run from a scan.
    sized_later: list[tuple[tuple[str, str], int]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def add_write_later(self, table: str, key: Mapping[str, Any], factor: int) -> None:
        self.sized_later.append((_key_id(table, key), factor))


class CallCounter:
    def __init__(self) -> None:
        self.stages: dict[str, StageCalls] = {}
        self._active: Optional[StageCalls] = None
        self._started: dict[int, float] = {}
        self._params: dict[int, Mapping[str, Any]] = {}
        self.short_circuit: dict[str, Callable[[Mapping[str, Any]], Any]] = {}

    def install(self, session: Any) -> "CallCounter":
        # A botocore session hands its emitter out as a component; a boto3 session as `.events`.
        events = session.get_component("event_emitter") if hasattr(session, "get_component") else session.events
        # before-parameter-build sees the API parameters; before-call only the serialized request.
        events.register("before-parameter-build", self._count)
        events.register("before-call", self._before)
        events.register("after-call", self._after)
        return self

    @contextmanager
    def stage(self, name: str) -> Iterator[StageCalls]:
        previous = self._active
        self._active = self.stages.setdefault(name, StageCalls())
        try:
            yield self._active
        finally:
            self._active = previous

    # -- hooks ---------------------------------------------------------------------------

    def _count(self, params: Mapping[str, Any], model: Any, context: Any = None, **_: Any) -> None:
        stage = self._active
        if stage is None:
            return
        started = time.perf_counter()
        service = model.service_model.service_name
        stage.calls[f"{service}.{model.name}"] += 1
        self._params[id(context)] = params
        _price_request(stage, service, model.name, params)
        stage.counting_seconds += time.perf_counter() - started

    def _before(self, model: Any, context: Any = None, **_: Any) -> Any:
        if self._active is None:
            return None
        self._started[id(context)] = time.perf_counter()
        answer = self.short_circuit.get(f"{model.service_model.service_name}.{model.name}")
        if answer is not None:
            return _ShortCircuit(), answer(self._params.get(id(context), {}))
        return None

    def _after(self, model: Any, parsed: Mapping[str, Any], context: Any = None, **kwargs: Any) -> None:
        stage = self._active
        started = self._started.pop(id(context), None)
        params = self._params.pop(id(context), {})
        if stage is None or started is None:
            return
        finished = time.perf_counter()
        stage.call_seconds += finished - started
        error = (parsed.get("Error") or {}).get("Code")
        if error:
            stage.errors[str(error)] += 1
        if model.service_model.service_name == "dynamodb":
            _price_response(stage, model.name, params, parsed)
        stage.counting_seconds += time.perf_counter() - finished


class _ShortCircuit:
    """The HTTP side of an answered-locally call (botocore only checks the status)."""

    status_code = 202
    headers: dict[str, str] = {}


def _price_request(stage: StageCalls, service: str, operation: str, params: Mapping[str, Any]) -> None:
    if service == "sqs":
        if operation == "SendMessageBatch":
            stage.sqs_requests += sqs_requests(list(params.get("Entries", [])))
        else:
            stage.sqs_requests += sqs_requests([params])
        return
    if service != "dynamodb":
        return
    if operation == "PutItem":
        stage.wru += write_units(dynamodb_item_size(params.get("Item", {})))
    elif operation in ("UpdateItem", "DeleteItem"):
        stage.add_write_later(params["TableName"], params["Key"], 1)
    elif operation == "BatchWriteItem":
        for table, requests in params.get("RequestItems", {}).items():
            for request in requests:
                if "PutRequest" in request:
                    stage.wru += write_units(dynamodb_item_size(request["PutRequest"]["Item"]))
                else:
                    stage.add_write_later(table, request["DeleteRequest"]["Key"], 1)
    elif operation == "TransactWriteItems":
        for action in params.get("TransactItems", []):
            if "Put" in action:
                stage.wru += 2 * write_units(dynamodb_item_size(action["Put"]["Item"]))
            elif "ConditionCheck" in action:
                stage.wru += 2
            else:
                inner = action.get("Update") or action.get("Delete") or {}
                stage.add_write_later(inner["TableName"], inner["Key"], 2)


def _price_response(stage: StageCalls, operation: str, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> None:
    if operation == "GetItem":
        item = parsed.get("Item")
        stage.rru += read_units(dynamodb_item_size(item) if item else 0, bool(params.get("ConsistentRead")))
    elif operation == "BatchGetItem":
        for table, request in params.get("RequestItems", {}).items():
            consistent = bool(request.get("ConsistentRead"))
            returned = parsed.get("Responses", {}).get(table, [])
            unprocessed = len(parsed.get("UnprocessedKeys", {}).get(table, {}).get("Keys", []))
            missing = len(request.get("Keys", [])) - len(returned) - unprocessed
            stage.rru += sum(read_units(dynamodb_item_size(item), consistent) for item in returned)
            stage.rru += max(0, missing) * read_units(0, consistent)  # a miss still costs the minimum


def price_deferred_writes(stage: StageCalls, sizes: Mapping[tuple[str, str], int]) -> float:
    """Write units of the stage's updates/deletes, from final item sizes by (table, key)."""
    units = 0.0
    for key, factor in stage.sized_later:
        units += factor * write_units(sizes.get(key, 0))
    return units


def item_sizes(dynamodb: Any, tables: list[str]) -> dict[tuple[str, str], int]:
    """(table, key) -> item size, for every item of `tables` (a scan; run outside any stage)."""
    sizes: dict[tuple[str, str], int] = {}
    for table in tables:
        schema = dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
        names = [k["AttributeName"] for k in schema]
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                sizes[_key_id(table, {n: item[n] for n in names})] = dynamodb_item_size(item)
    return sizes
