"""schemathesis hooks: point generated create bodies at the tenant's curated reference ids.

Random uuids would make every create a 404, so the stateful phase could never follow the
create → get → revert links. Only strings that are already valid uuids are replaced (by other
valid uuids), so a generated body stays exactly as valid, or as invalid, as it was.
"""

from __future__ import annotations

import uuid
from typing import Any

import schemathesis

SERVICE_LINE = "5e1f0000-0000-4000-8000-000000000001"
TARGETS = {
    "service_line_id": SERVICE_LINE,
    "claim_id": "5e1f0000-0000-4000-8000-000000000011",
    "billing_provider_id": "5e1f0000-0000-4000-8000-000000000021",
}
PAYER = "5e1f0000-0000-4000-8000-000000000101"
NON_INSURANCE_PAYER = "5e1f0000-0000-4000-8000-000000000201"


def _is_uuid(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _swap(holder: dict[str, Any], key: str, replacement: str) -> None:
    if _is_uuid(holder.get(key)):
        holder[key] = replacement


def _point_at_fixtures(item: dict[str, Any]) -> None:
    _swap(item, "service_line_id", SERVICE_LINE)
    _swap(item, "non_insurance_payer_id", NON_INSURANCE_PAYER)
    identifier = item.get("payer_identifier")
    if isinstance(identifier, dict) and identifier.get("type") == "payer_uuid":
        _swap(identifier, "value", PAYER)
    if isinstance(identifier, dict) and identifier.get("type") == "payer_info":
        if isinstance(identifier.get("payer_id"), str):
            identifier["payer_id"] = "SBX01"
        if isinstance(identifier.get("payer_name"), str):
            identifier["payer_name"] = "Sandbox Mutual Insurance"
    target = item.get("write_off_target")
    if isinstance(target, dict) and isinstance(target.get("type"), str):
        replacement = TARGETS.get(target["type"])
        if replacement:
            _swap(target, "value", replacement)


@schemathesis.hook
def map_body(context: Any, body: Any) -> Any:
    operation = getattr(context, "operation", None)
    if getattr(operation, "label", "") != "POST /api/write-offs/v1":
        return body
    if isinstance(body, dict) and isinstance(body.get("write_offs"), list):
        for item in body["write_offs"]:
            if isinstance(item, dict):
                _point_at_fixtures(item)
    return body
