"""`resource-policies` with `requireKeyPolicies`: a customer key's policy is its own and not AWS's
default one (the account root alone with kms:*). Passing and violating cases, one table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from policies.inputs import UNKNOWN_STRING
from tests.policies import state, urn
from tests.policies.test_unknowns import split

ACCOUNT = "111122223333"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/cluster"
ON = {"resource-policies": {"requireKeyPolicies": True}}
KEY = "aws:kms/key:Key"
KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(principal: Any, action: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*"}


DEFAULT = doc(allow({"AWS": ROOT}, "kms:*"))
SEPARATED = doc(
    allow({"AWS": [ROOT]}, ["kms:Create*", "kms:Put*", "kms:Describe*"]),
    allow({"AWS": ROLE}, ["kms:Encrypt", "kms:Decrypt"]),
)


def key(policy: Any = None) -> dict[str, Any]:
    return state(KEY, "k", {"description": "k"} if policy is None else {"policy": policy})


def attached(policy: Any) -> dict[str, Any]:
    return state(KEY_POLICY, "kp", {"keyId": "k-1", "policy": policy}, {"keyId": [urn(KEY, "k")]})


CASES = [
    # (resources, violating)
    ([key()], True),  # no policy at all: AWS's default applies
    ([key(DEFAULT)], True),
    ([key(doc(allow({"AWS": ACCOUNT}, "*")))], True),  # the account id is the root too
    ([key(doc(allow({"AWS": [ROOT]}, ["kms:*"]), allow({"AWS": ROOT}, "kms:*")))], True),
    ([key(SEPARATED)], False),
    ([key(doc(allow({"AWS": ROOT}, "kms:*"), allow({"AWS": ROLE}, "kms:Decrypt")))], False),
    ([key(), attached(SEPARATED)], False),  # the key policy resource decides
    ([key(SEPARATED), attached(DEFAULT)], True),  # ... and overrides the key's own
    ([key(), attached(DEFAULT)], True),
]


@pytest.mark.parametrize(("resources", "violating"), CASES)
def test_a_key_needs_a_policy_of_its_own(tmp_path: Path, resources, violating):
    decided, undecided = split("resource-policies", *resources, tmp_path=tmp_path, config=ON)
    assert undecided == []
    assert bool([m for m in decided if "key k" in m]) is violating, decided


@pytest.mark.parametrize(("resources", "violating"), CASES)
def test_off_by_default(tmp_path: Path, resources, violating):
    decided, _ = split("resource-policies", *resources, tmp_path=tmp_path, config={})
    assert [m for m in decided if "key k" in m] == []


def test_the_messages_say_what_to_do(tmp_path: Path):
    (bare,), _ = split("resource-policies", key(), tmp_path=tmp_path, config=ON)
    assert bare == (
        "key k has AWS's default key policy (the account root may do kms:*): give it a policy "
        "that separates key administrators from key users"
    )
    (default,), _ = split(
        "resource-policies", key(), attached(DEFAULT), tmp_path=tmp_path, config=ON
    )
    assert default.startswith("key k: its policy only lets the account root do kms:*")


def test_an_unknown_key_policy_is_undecided(tmp_path: Path):
    decided, undecided = split(
        "resource-policies", key(), attached(UNKNOWN_STRING), tmp_path=tmp_path, config=ON
    )
    assert decided == []
    assert "kp.policy" in undecided[0]
