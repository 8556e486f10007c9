"""docs/openapi.yaml agrees with the synthesized API Gateway and with the handler's validation.

Three sources describe the same API: the OpenAPI document (for clients), the API Gateway
resources, methods and request models in the synthesized stack (what the gateway enforces),
and `fraud/validation.py` + `api_handler.py` (what the handler enforces). A field, enum,
bound or pattern that changes in one of them and not the others fails here.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
_REF = re.compile(r"^\$\{aws_api_gateway_[a-z_]+\.([A-Za-z0-9_-]+)\.[a-z_]+\}$")
JSON_TYPES = {"number", "string", "integer", "boolean", "object", "array"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return yaml.safe_load(DOC_PATH.read_text())


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, section, name = node["$ref"].split("/")
        node = doc["components"][section][name]
    return node


def request_schema(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    body = doc["paths"][path][method]["requestBody"]
    return resolve(doc, body["content"]["application/json"]["schema"])


def types_of(schema: dict[str, Any]) -> set[str]:
    """The JSON types a (possibly oneOf) property schema admits."""
    if "oneOf" in schema:
        return set().union(*(types_of(s) for s in schema["oneOf"]))
    declared = schema.get("type")
    if declared is None:
        return set(JSON_TYPES)
    found = {declared} if isinstance(declared, str) else set(declared)
    if "integer" in found:
        found.add("number")  # every integer is a JSON number
    if schema.get("nullable"):  # OpenAPI 3.0's spelling of "or null"
        found.add("null")
    return found


def gateway_routes(synth: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(METHOD, /path/{template}) -> the aws_api_gateway_method body, paths rebuilt from resources."""
    resources = synth["resource"]["aws_api_gateway_resource"]

    def path_of(logical: str) -> str:
        body = resources[logical]
        parent = _REF.match(body["parent_id"])
        prefix = path_of(parent.group(1)) if parent and parent.group(1) in resources else ""
        return f"{prefix}/{body['path_part']}"

    routes = {}
    for method in synth["resource"]["aws_api_gateway_method"].values():
        resource = _REF.match(method["resource_id"])
        assert resource, method["resource_id"]
        routes[(method["http_method"], path_of(resource.group(1)))] = method
    return routes


def gateway_model(synth: dict[str, Any], method: dict[str, Any]) -> dict[str, Any]:
    reference = _REF.match(method["request_models"]["application/json"])
    assert reference, method["request_models"]
    return json.loads(synth["resource"]["aws_api_gateway_model"][reference.group(1)]["schema"])


def test_document_is_openapi_3_with_the_three_routes(doc: dict[str, Any], synth_json: dict[str, Any]) -> None:
    import api_handler

    assert str(doc["openapi"]).startswith("3.")
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    assert documented == set(gateway_routes(synth_json)) == set(api_handler.ROUTES)


def test_every_route_needs_the_api_key_header(doc: dict[str, Any], synth_json: dict[str, Any]) -> None:
    schemes = doc["components"]["securitySchemes"]
    assert schemes == {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op.get("security", doc["security"]) == [{"apiKey": []}], f"{method} {path}"
            assert "403" in op["responses"], f"{method} {path} documents no 403"
    for route, method in gateway_routes(synth_json).items():
        assert method["api_key_required"] is True, route


@pytest.mark.parametrize(("path", "model"), [
    ("/transactions", "TransactionRequest"),
    ("/transactions/{transaction_id}/feedback", "FeedbackRequest"),
])  # fmt: skip
def test_request_schema_agrees_with_the_gateway_model(doc: dict[str, Any], synth_json: dict[str, Any],
                                                      path: str, model: str) -> None:  # fmt: skip
    method = gateway_routes(synth_json)[("POST", path)]
    gateway = gateway_model(synth_json, method)
    openapi = request_schema(doc, path, "post")
    assert gateway["title"] == model
    assert sorted(gateway["required"]) == sorted(openapi["required"])
    props = openapi["properties"]
    for name, rule in gateway["properties"].items():
        assert name in props, f"the gateway model knows {name!r}, the document does not"
        documented = resolve(doc, props[name])
        # The gateway must accept every type the document promises (else valid requests bounce).
        assert types_of(documented) <= types_of(rule), (name, types_of(documented), types_of(rule))
        if "enum" in rule:  # a gateway enum must be the document's (the handler may narrow further)
            assert sorted(rule["enum"]) == sorted(documented.get("enum", [])), name
    # Properties only the document lists (checked by the handler) must get past the gateway.
    if set(props) - set(gateway["properties"]):
        assert gateway.get("additionalProperties", True) is not False


def test_transaction_schema_matches_the_handler_validation(doc: dict[str, Any]) -> None:
    from fraud import validation
    from fraud.reference import CURRENCIES

    schema = request_schema(doc, "/transactions", "post")
    props = schema["properties"]
    assert schema["additionalProperties"] is False  # the handler rejects unknown fields
    assert set(props) == set(validation._FIELDS)
    assert sorted(schema["required"]) == sorted(validation._REQUIRED)
    number, string = props["amount"]["oneOf"]
    assert Decimal_(number["maximum"]) == validation.MAX_AMOUNT and number["exclusiveMinimum"] is True
    assert Decimal_(number["multipleOf"]) == Decimal_("0.01")
    assert string["pattern"] == validation._NUMERIC_STRING.pattern
    text = resolve(doc, props["merchant"])
    assert resolve(doc, props["location"]) == text
    assert text["maxLength"] == validation.MAX_TEXT_LENGTH and text["minLength"] == 1
    assert set(props["currency"]["enum"]) == set(CURRENCIES)
    assert props["currency"]["default"] == validation.DEFAULT_CURRENCY
    assert props["customer_id"]["pattern"] == validation._CUSTOMER_ID.pattern
    assert props["transaction_id"]["pattern"] == validation._TRANSACTION_ID.pattern
    stamp = props["timestamp"]
    assert (stamp["x-max-future-ms"], stamp["x-max-age-ms"]) == (validation.MAX_FUTURE_MS, validation.MAX_AGE_MS)


def Decimal_(value: Any) -> Any:  # noqa: N802 - exact comparison of YAML floats
    from decimal import Decimal

    return Decimal(str(value))


def test_text_and_card_patterns_agree_with_the_handler_on_samples(doc: dict[str, Any]) -> None:
    """The document's regexes accept and refuse the same samples the handler does."""
    from fraud.validation import FieldError, _card_number, _text

    props = request_schema(doc, "/transactions", "post")["properties"]
    text = re.compile(resolve(doc, props["merchant"])["pattern"])
    card = re.compile(props["card_number"]["pattern"])
    texts = ["Store", " x ", "Café ☕", "a\tb", "bell\x07", "\u202eevil", "   ", "line\u2028sep", "x" * 128,
             "lone \ud800 surrogate"]
    cards = ["4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", " 4111111111111 ", "411111111111",
             "4" * 20, "4111x111111111111", "", "41111111111111111\n"]  # fmt: skip
    for sample in texts:
        errors: list[FieldError] = []
        assert (_text("merchant", sample, errors) is not None) == bool(text.fullmatch(sample)), repr(sample)
    for sample in cards:
        errors = []
        assert (_card_number(sample, errors) is not None) == bool(card.fullmatch(sample)), repr(sample)


def test_feedback_and_headers_match_the_handler(doc: dict[str, Any]) -> None:
    import api_handler
    from fraud.validation import LABELS

    schema = request_schema(doc, "/transactions/{transaction_id}/feedback", "post")
    assert schema["additionalProperties"] is False and schema["required"] == ["label"]
    assert sorted(schema["properties"]["label"]["enum"]) == sorted(LABELS)
    params = doc["components"]["parameters"]
    assert params["IdempotencyKey"]["schema"]["pattern"] == api_handler._IDEMPOTENCY_KEY.pattern
    assert params["TransactionId"]["schema"]["pattern"] == api_handler._TRANSACTION_ID.pattern
    tx = request_schema(doc, "/transactions", "post")
    assert tx["x-max-body-bytes"] == api_handler.MAX_BODY_BYTES


def test_every_error_response_has_the_handlers_error_shape(doc: dict[str, Any]) -> None:
    error = doc["components"]["schemas"]["Error"]
    assert error["required"] == ["message", "errors"]
    assert error["properties"]["errors"]["items"]["required"] == ["field", "reason"]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for status, response in op["responses"].items():
                if int(status) >= 400:
                    schema = resolve(doc, response)["content"]["application/json"]["schema"]
                    assert resolve(doc, schema) is error, f"{method} {path} {status}"
