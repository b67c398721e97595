"""CrossGuard entry point: `pulumi preview --policy-pack policies --policy-pack-config
policies/config/<stack>.json`. Building the PolicyPack starts the analyzer server and never
returns; the rules live in tagging.py, cost.py, security.py, iam.py and network.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import PolicyPack

from policies.pack import ENFORCEMENT_LEVEL, PACK_NAME, policies

PolicyPack(name=PACK_NAME, policies=policies(), enforcement_level=ENFORCEMENT_LEVEL)
