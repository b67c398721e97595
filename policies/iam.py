"""IAM rules: identity policies, managed policy attachments, trust policies, resource policies.

- `iam-least-privilege` (identity policies: `aws:iam/policy`, role/user/group inline policies, a
  role's `inlinePolicies`, SSO permission-set inline policies): no Allow of `*`, `service:*` or
  `NotAction`; no write action, and no sensitive read (secret values, parameters, KMS decrypt,
  object and item reads), on a resource that means "everything": `*`, `NotResource`, or an ARN
  whose resource part is a wildcard (`arn:aws:s3:::*`, `arn:aws:iam::1:role/*`). A statement
  narrowed to resources by tag (`aws:ResourceTag/...` under StringEquals) is scoped.
- `iam-managed-policies`: no AWS-managed administrator, power-user, `*FullAccess` or
  read-everything (`ReadOnlyAccess`, `AmazonS3ReadOnlyAccess`, ...) policy
  attached through any resource (attachments, exclusive attachments, a role's
  `managedPolicyArns`, SSO permission sets, ...): every input value that is such an ARN counts.
  Exceptions by name in `allowedManagedPolicies`.
- `iam-trust-policies`: a role's trust policy admits no wildcard principal (unless a condition
  pins the organisation, account or source), no `NotPrincipal`, and every web-identity (OIDC)
  trust pins the token's subject (`<provider>:sub`; Cognito: `:aud`).
- `resource-policies` (KMS key policies, bucket, queue, topic, repository, secret, file-system
  policies, Lambda permissions): no Allow to a wildcard principal without such a condition and no
  `NotPrincipal`; AWS principals only in the accounts in `trustedAccountIds` (or the providers'
  `allowedAccountIds`) or the accounts of the ARNs the stack uses outside resource and trust
  policies (its own); when none of these is known, the principals of one policy may not span two
  accounts. With `requireKeyPolicies`, every customer KMS key has a policy of its own (on the key
  or an `aws:kms/keyPolicy` fed by it) that is not AWS's default, where the account root alone may
  do `kms:*`.

Unknowns: a document that is wholly unknown (built with `apply` from unknown ARNs) cannot be
judged and is left undecided; a document whose statements are known but some ARNs are not is
judged on its actions, principals and conditions. An unknown ARN names a resource this stack
creates (the pack judges it on its own), so an unknown resource is never "everything".
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from policies.inputs import (
    Judge,
    StackJudge,
    as_list,
    as_mapping,
    is_unknown,
    json_value,
    run,
    run_stack,
)

READ_PREFIXES = ("describe", "get", "list", "head", "search", "lookup", "query", "scan", "view")

SENSITIVE_READS = (
    "secretsmanager:getsecretvalue",
    "secretsmanager:batchgetsecretvalue",
    "ssm:getparameter",
    "ssm:getparameters",
    "ssm:getparametersbypath",
    "ssm:getparameterhistory",
    "kms:decrypt",
    "kms:reencryptfrom",
    "s3:getobject",
    "s3:getobjectversion",
    "s3:getobjecttorrent",
    "dynamodb:getitem",
    "dynamodb:batchgetitem",
    "dynamodb:query",
    "dynamodb:scan",
    "ec2:getpassworddata",
    "kinesis:getrecords",
    "logs:getlogevents",
    "athena:getqueryresults",
    "glue:getconnection",
    "glue:getconnections",
    "lambda:getfunction",
    "rds:downloaddblogfileportion",
    "ecr:getauthorizationtoken",
)
"""Reads that disclose data or secrets, not just metadata (lower case, as IAM compares)."""

NARROWING_CONDITION_KEYS = (
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:sourcevpce",
    "aws:sourcevpc",
    "kms:calleraccount",
    "kms:viaservice",
)
"""Condition keys that confine a wildcard principal to an organisation, account or source."""

ACCOUNT_RE = re.compile(r"^(?:arn:[^:]*:(?:iam|sts)::)?(\d{12})(?::|$)")
MANAGED_POLICY_RE = re.compile(r"^arn:[a-z-]*:iam::aws:policy/(?:.*/)?([^/]+)$", re.IGNORECASE)
FORBIDDEN_MANAGED = (
    "administratoraccess*",
    "poweruseraccess",
    "*fullaccess*",
    "*administrator",
    # read-everything policies: sensitive reads (object, parameter, secret, item) on `*`
    "readonlyaccess",
    "amazons3readonlyaccess",
    "amazonssmreadonlyaccess",
    "amazondynamodbreadonlyaccess",
    "secretsmanagerreadwrite",
)


def _lower(values: Iterable[Any]) -> list[str]:
    return [str(v).strip().lower() for v in values if not is_unknown(v)]


# ------------------------------------------------------------------------------ actions


def is_read_action(action: str) -> bool:
    """`ec2:DescribeInstances` and `s3:Get*` read; anything else may write."""
    service, _, verb = action.strip().lower().partition(":")
    if not service or service == "*" or "*" in service:
        return False
    return verb.startswith(READ_PREFIXES)


def grants_all(action: str) -> bool:
    """`*`, `s3:*`, `*:*` and the like: every action of a service (or of all)."""
    text = action.strip()
    if text == "*" or text.replace("*", "") == "":
        return True
    service, _, verb = text.partition(":")
    return "*" in service or verb.replace("*", "") == ""


def sensitive_reads(actions: Iterable[str]) -> list[str]:
    """The given actions (patterns) that include a sensitive read."""
    found = []
    for action in actions:
        pattern = action.strip().lower()
        if any(fnmatch.fnmatchcase(s, pattern) for s in SENSITIVE_READS):
            found.append(action)
    return found


# ------------------------------------------------------------------------------ resources


def means_everything(resource: Any) -> bool:
    """`*`, or an ARN whose resource part is a wildcard over a whole service or type."""
    if is_unknown(resource):
        return False
    text = str(resource).strip()
    if not text or text.startswith("*"):
        return True
    parts = text.split(":", 5)
    if parts[0].lower() != "arn":
        return False
    if len(parts) < 6:
        return "*" in text
    service, resource_part = parts[2].lower(), parts[5]
    if "*" in service or "*" in parts[1]:
        return True
    if resource_part.startswith("*"):
        return True
    if service == "s3":  # bucket[/key]: no resource-type prefix
        return False
    match = re.match(r"^[A-Za-z0-9_.\-]+[/:]", resource_part)
    return match is not None and resource_part[match.end() :].startswith("*")


def _tag_scoped(condition: Any) -> bool:
    """A StringEquals on a resource tag (or a KMS key's aliases) with concrete values scopes a
    grant to the resources carrying it."""
    for operator, block in as_mapping(condition).items():
        op = operator.lower().removeprefix("forallvalues:").removeprefix("foranyvalue:")
        if "not" in op or "ifexists" in op or not op.startswith("stringequals"):
            continue
        for key, value in as_mapping(block).items():
            scoping = "resourcetag/" in key.lower() or key.lower() == "kms:resourcealiases"
            if (
                scoping
                and as_list(value)
                and not any("*" in str(v) for v in as_list(value) if not is_unknown(v))
            ):
                return True
    return False


# ------------------------------------------------------------------------------ documents


def _statements(document: Any, where: str, judge: Judge | None) -> list[tuple[str, dict[str, Any]]]:
    """The document's statements as (path, statement); unknown ones are recorded."""
    statements = as_mapping(document).get("Statement")
    if is_unknown(statements):
        if judge:
            judge.unknown(f"{where}.Statement")
        return []
    found = []
    for index, statement in enumerate(as_list(statements)):
        path = f"{where}.Statement[{index}]"
        if is_unknown(statement):
            if judge:
                judge.unknown(path)
            continue
        if isinstance(statement, dict):
            found.append((path, statement))
    return found


def _is_allow(statement: dict[str, Any], path: str, judge: Judge | None) -> bool | None:
    effect = statement.get("Effect")
    if is_unknown(effect):
        if judge:
            judge.unknown(f"{path}.Effect")
        return None
    return str(effect).strip() != "Deny"


def identity_problems(document: Any, where: str = "", judge: Judge | None = None) -> list[str]:
    """What is wrong with an identity policy document (Allow statements only)."""
    problems: list[str] = []
    for path, statement in _statements(document, where, judge):
        if not _is_allow(statement, path, judge):
            continue
        if statement.get("NotAction") is not None:
            excluded = [str(a) for a in as_list(statement.get("NotAction"))]
            problems.append(f"grants every action except {excluded} (NotAction)")
            continue
        raw_actions = as_list(statement.get("Action"))
        if any(is_unknown(a) for a in raw_actions) and judge:
            judge.unknown(f"{path}.Action")
        actions = [str(a) for a in raw_actions if not is_unknown(a)]
        for action in actions:
            if grants_all(action):
                problems.append(f"grants all actions with {action!r}")
        scope: str | None = None
        if statement.get("NotResource") is not None:
            excluded = [str(r) for r in as_list(statement.get("NotResource"))]
            scope = f"every resource but {excluded} (NotResource)"
        else:
            broad = [r for r in as_list(statement.get("Resource")) if means_everything(r)]
            if broad:
                scope = f"Resource {str(broad[0])!r}"
        if scope is None or _tag_scoped(statement.get("Condition")):
            continue
        sensitive = sensitive_reads(actions)
        writes = [
            a for a in actions if not is_read_action(a) and (grants_all(a) or a not in sensitive)
        ]
        if writes:
            problems.append(f"grants write actions {writes} on {scope}")
        reads = [a for a in sensitive if a not in writes]
        if reads:
            problems.append(f"grants sensitive reads {reads} on {scope}")
    return problems


def policy_problems(document: Any) -> list[str]:
    """Pure: what is wrong with an identity policy document (a JSON string or a mapping).
    Raises ValueError when it is not a JSON object."""
    doc = json_value(document)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return identity_problems(doc)


def _document(judge: Judge, value: Any, path: str) -> dict[str, Any] | None:
    """Parse a document input; unknown -> recorded; unreadable -> reported."""
    try:
        doc = json_value(value)
    except ValueError:
        judge.report(f"{judge.name}: the policy document cannot be read", None)
        return None
    if is_unknown(doc):
        judge.unknown(path)
        return None
    if not isinstance(doc, dict):
        judge.report(f"{judge.name}: the policy document cannot be read", None)
        return None
    return doc


# ------------------------------------------------------------------------------ iam-least-privilege

IDENTITY_DOCUMENTS = {
    "aws:iam/policy:Policy": "policy",
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
    "aws:ssoadmin/permissionSetInlinePolicy:PermissionSetInlinePolicy": "inlinePolicy",
}


def _check_identity(judge: Judge) -> None:
    documents: list[tuple[str, Any]] = []
    key = IDENTITY_DOCUMENTS.get(judge.type)
    if key and judge.props.get(key) not in (None, ""):
        documents.append((key, judge.props.get(key)))
    if judge.type == "aws:iam/role:Role":
        inline = judge.props.get("inlinePolicies")
        if is_unknown(inline):
            judge.unknown("inlinePolicies")
        for index, entry in enumerate(as_list(inline)):
            if is_unknown(entry):
                judge.unknown(f"inlinePolicies[{index}]")
                continue
            policy = as_mapping(entry).get("policy")
            if policy not in (None, ""):
                documents.append((f"inlinePolicies[{index}].policy", policy))
    for path, value in documents:
        doc = _document(judge, value, path)
        if doc is None:
            continue
        for problem in identity_problems(doc, path, judge):
            judge.report(f"IAM policy {judge.name} {problem}", None)


# ------------------------------------------------------------------------------ managed policies


def forbidden_managed_policy(value: Any, allowed: Iterable[str] = ()) -> str | None:
    """The policy name when `value` is an AWS-managed administrator/full-access policy ARN."""
    if is_unknown(value) or not isinstance(value, str):
        return None
    match = MANAGED_POLICY_RE.match(value.strip())
    if not match:
        return None
    name = match.group(1)
    if name.lower() in {a.lower() for a in allowed}:
        return None
    if any(fnmatch.fnmatchcase(name.lower(), p) for p in FORBIDDEN_MANAGED):
        return name
    return None


def _walk(value: Any, path: str) -> Iterable[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")
    else:
        yield path, value


def _check_managed(judge: Judge) -> None:
    if not judge.type.startswith("aws:"):
        return
    allowed = [str(a) for a in as_list(judge.config.get("allowedManagedPolicies"))]
    for path, value in _walk(judge.props, ""):
        if path.split(".")[0].split("[")[0] == "permissionsBoundary":
            continue  # a boundary limits; it grants nothing
        name = forbidden_managed_policy(value, allowed)
        if name:
            judge.report(
                f"{judge.name} attaches the AWS-managed policy {name} ({path}); "
                "grant what the workload needs instead",
                None,
            )


# ------------------------------------------------------------------------------ principals


def _principal_values(principal: Any, kind: str) -> list[Any]:
    if principal == "*" or is_unknown(principal):
        return [principal] if kind == "AWS" else []
    return as_list(as_mapping(principal).get(kind))


def _is_wildcard_principal(principal: Any) -> bool:
    if is_unknown(principal):
        return False
    if isinstance(principal, str):
        return "*" in principal
    return any(
        not is_unknown(v) and "*" in str(v)
        for values in as_mapping(principal).values()
        for v in as_list(values)
    )


def _narrowed(condition: Any) -> bool:
    for operator, block in as_mapping(condition).items():
        op = operator.lower()
        if "not" in op or "ifexists" in op or op.startswith("null"):
            continue
        for key, value in as_mapping(block).items():
            values = as_list(value)
            concrete = values and all(
                is_unknown(v) or str(v).strip() not in ("", "*") for v in values
            )
            if key.lower() in NARROWING_CONDITION_KEYS and concrete:
                return True
    return False


def account_of(principal: Any) -> str | None:
    """The account of an AWS principal (`123456789012`, `arn:aws:iam::123456789012:role/x`)."""
    if is_unknown(principal):
        return None
    match = ACCOUNT_RE.match(str(principal).strip())
    return match.group(1) if match else None


def principal_problems(
    document: dict[str, Any], where: str, judge: Judge, *, trust: bool
) -> tuple[list[str], set[str]]:
    """Wildcard and NotPrincipal grants; returns the problems and the AWS accounts granted."""
    problems: list[str] = []
    accounts: set[str] = set()
    for path, statement in _statements(document, where, judge):
        if not _is_allow(statement, path, judge):
            continue
        sid = statement.get("Sid")
        label = f"statement {sid!s}" if sid and not is_unknown(sid) else path.rsplit(".", 1)[-1]
        if statement.get("NotPrincipal") is not None:
            problems.append(f"{label} allows everyone but a list of principals (NotPrincipal)")
            continue
        principal = statement.get("Principal")
        condition = statement.get("Condition")
        if is_unknown(condition):
            judge.unknown(f"{path}.Condition")
            condition = {}
        if _is_wildcard_principal(principal) and not _narrowed(condition):
            problems.append(f"{label} allows any principal ('*') without a condition that pins it")
        for value in _principal_values(principal, "AWS"):
            account = account_of(value)
            if account:
                accounts.add(account)
        if trust:
            problems += _web_identity_problems(statement, label, path, judge)
    return problems, accounts


def _web_identity_problems(
    statement: dict[str, Any], label: str, path: str, judge: Judge
) -> list[str]:
    federated = _principal_values(statement.get("Principal"), "Federated")
    if not federated:
        return []
    actions = _lower(as_list(statement.get("Action")))
    web = any(fnmatch.fnmatchcase("sts:assumerolewithwebidentity", a) or a == "*" for a in actions)
    if not web:
        return []
    known = [str(f).lower() for f in federated if not is_unknown(f)]
    if known and all("saml-provider/" in f for f in known):
        return []
    wanted = ":aud" if known and all("cognito-identity" in f for f in known) else ":sub"
    condition = statement.get("Condition")
    for operator, block in as_mapping(condition).items():
        op = operator.lower()
        if "not" in op or "ifexists" in op or "string" not in op:
            continue
        for key, value in as_mapping(block).items():
            values = as_list(value)
            if not key.lower().endswith(wanted) or not values:
                continue
            if all(is_unknown(v) or _pins_subject(str(v)) for v in values):
                return []
    return [
        f"{label} trusts a web identity without pinning the token's subject ({wanted} condition)"
    ]


def _pins_subject(value: str) -> bool:
    """A subject pattern that names something: not `*`, `system:serviceaccount:*`, `repo:*`."""
    rest = re.sub(r"[*?]", "", value).strip(" :/")
    return rest not in ("", "system:serviceaccount", "repo")


# ------------------------------------------------------------------------------ trust policies


def _check_trust(judge: Judge) -> None:
    if judge.type != "aws:iam/role:Role":
        return
    value = judge.props.get("assumeRolePolicy")
    if value in (None, ""):
        return
    doc = _document(judge, value, "assumeRolePolicy")
    if doc is None:
        return
    problems, _ = principal_problems(doc, "assumeRolePolicy", judge, trust=True)
    for problem in problems:
        judge.report(f"role {judge.name} trust policy: {problem}", None)


# ------------------------------------------------------------------------------ resource policies

RESOURCE_POLICIES = {
    "aws:kms/key:Key": "policy",
    "aws:kms/keyPolicy:KeyPolicy": "policy",
    "aws:kms/replicaKey:ReplicaKey": "policy",
    "aws:s3/bucket:Bucket": "policy",
    "aws:s3/bucketV2:BucketV2": "policy",
    "aws:s3/bucketPolicy:BucketPolicy": "policy",
    "aws:s3/accessPoint:AccessPoint": "policy",
    "aws:s3control/accessPointPolicy:AccessPointPolicy": "policy",
    "aws:sqs/queue:Queue": "policy",
    "aws:sqs/queuePolicy:QueuePolicy": "policy",
    "aws:sns/topic:Topic": "policy",
    "aws:sns/topicPolicy:TopicPolicy": "policy",
    "aws:ecr/repositoryPolicy:RepositoryPolicy": "policy",
    "aws:ecr/registryPolicy:RegistryPolicy": "policy",
    "aws:secretsmanager/secret:Secret": "policy",
    "aws:secretsmanager/secretPolicy:SecretPolicy": "policy",
    "aws:efs/fileSystemPolicy:FileSystemPolicy": "policy",
    "aws:backup/vaultPolicy:VaultPolicy": "policy",
    "aws:glacier/vault:Vault": "accessPolicy",
    "aws:opensearch/domainPolicy:DomainPolicy": "accessPolicies",
    "aws:opensearch/domain:Domain": "accessPolicies",
    "aws:cloudwatch/logResourcePolicy:LogResourcePolicy": "policyDocument",
    "aws:iam/role:Role": "",  # trust policies are iam-trust-policies'
}


ARN_ACCOUNT_RE = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12}):")


def home_accounts(judge: StackJudge) -> tuple[set[str], bool]:
    """The accounts this stack may grant: `trustedAccountIds` and the providers'
    `allowedAccountIds` (explicit), plus the accounts of the ARNs the stack uses outside resource
    and trust policies (its own account, inferred). Returns them and whether any were explicit."""
    explicit = {str(a) for a in as_list(judge.config.get("trustedAccountIds"))}
    for res in judge.resources:
        allowed = res.provider_props.get("allowedAccountIds")
        explicit |= {str(a) for a in as_list(allowed) if not is_unknown(a)}
    inferred: set[str] = set()
    for res in judge.resources:
        skip = {RESOURCE_POLICIES.get(res.type), "assumeRolePolicy"}
        for key, value in res.props.items():
            if key in skip:
                continue
            for _, leaf in _walk(value, key):
                if isinstance(leaf, str) and "arn:" in leaf:
                    inferred |= set(ARN_ACCOUNT_RE.findall(leaf))
    return explicit | inferred, bool(explicit)


KEY_TYPES = ("aws:kms/key:Key", "aws:kms/replicaKey:ReplicaKey")


def only_root_administers(document: dict[str, Any]) -> bool:
    """AWS's default key policy in effect: every Allow grants all of KMS (`kms:*`, `*`) to an
    account root, and nothing else is granted (no separate administrators, no named users)."""
    allows = [s for s in as_list(document.get("Statement")) if isinstance(s, dict)]
    allows = [s for s in allows if str(s.get("Effect", "")).strip() != "Deny"]
    if not allows:
        return False
    for statement in allows:
        actions = [str(a).strip().lower() for a in as_list(statement.get("Action"))]
        if not actions or not all(a in ("*", "kms:*") for a in actions):
            return False
        principals = [str(v) for v in _principal_values(statement.get("Principal"), "AWS")]
        if not principals or not all(
            re.fullmatch(r"(arn:[^:]+:iam::\d{12}:root|\d{12})", p.strip()) for p in principals
        ):
            return False
    return True


def _check_key_policies(judge: StackJudge) -> None:
    """With `requireKeyPolicies`: every customer key has a policy of its own (on the key, or an
    `aws:kms/keyPolicy` whose keyId comes from it) that is not AWS's default one."""
    if not judge.config.get("requireKeyPolicies"):
        return
    policies = judge.of_type("aws:kms/keyPolicy:KeyPolicy")
    for key in judge.of_type(*KEY_TYPES):
        attached = [p for p in policies if p.depends_on("keyId", key.urn)]
        owner, value = (
            (attached[0], attached[0].props.get("policy"))
            if attached
            else (
                key,
                key.props.get("policy"),
            )
        )
        where = f"{owner.name}.policy"
        if is_unknown(value):
            judge.unknown(where)
            continue
        if value in (None, ""):
            judge.report(
                f"key {key.name} has AWS's default key policy (the account root may do kms:*): "
                "give it a policy that separates key administrators from key users",
                key.urn,
            )
            continue
        try:
            document = json_value(value)
        except ValueError:
            continue  # reported as unreadable by the resource policy check
        if is_unknown(document):
            judge.unknown(where)
        elif isinstance(document, dict) and only_root_administers(document):
            judge.report(
                f"key {key.name}: its policy only lets the account root do kms:* (AWS's default): "
                "separate key administrators from key users",
                owner.urn,
            )


def _check_resource_policies(judge: StackJudge) -> None:
    _check_key_policies(judge)
    home, explicit = home_accounts(judge)
    for res in judge.resources:
        sub = Judge(
            name=res.name,
            type=res.type,
            props=res.props,
            config=judge.config,
            report=_reporter(judge, res.urn),
            provider_props=res.provider_props,
        )
        if res.type == "aws:lambda/permission:Permission":
            _check_lambda_permission(sub)
        else:
            _check_resource_policy(sub, home, explicit)
        judge.undecided += sub.undecided


def _reporter(judge: StackJudge, urn: str) -> Any:
    def report(message: str, _urn: str | None = None) -> None:
        judge.report(message, urn)

    return report


def _check_resource_policy(judge: Judge, home: set[str], explicit: bool) -> None:
    key = RESOURCE_POLICIES.get(judge.type)
    if not key:
        return
    value = judge.props.get(key)
    if value in (None, ""):
        return
    doc = _document(judge, value, key)
    if doc is None:
        return
    problems, accounts = principal_problems(doc, key, judge, trust=False)
    foreign = sorted(accounts - home) if home else []
    if foreign:
        where = "the accounts this stack uses"
        if explicit:
            where = f"trustedAccountIds or {where}"
        for account in foreign:
            problems.append(f"grants account {account}, which is not in {where}")
    elif not home and len(accounts) > 1:
        problems.append(
            f"grants principals in {len(accounts)} accounts ({', '.join(sorted(accounts))}); "
            "list the trusted ones in trustedAccountIds"
        )
    for problem in problems:
        judge.report(f"{judge.name} resource policy: {problem}", None)


def _check_lambda_permission(judge: Judge) -> None:
    principal = judge.props.get("principal")
    if is_unknown(principal):
        judge.unknown("principal")
        return
    if str(principal).strip() != "*":
        return
    narrowing = [judge.props.get(k) for k in ("sourceArn", "sourceAccount", "principalOrgId")]
    if not any(v not in (None, "") for v in narrowing):
        judge.report(f"{judge.name} lets any principal invoke the function", None)


# ------------------------------------------------------------------------------ policies

iam_least_privilege = ResourceValidationPolicy(
    name="iam-least-privilege",
    description=(
        "No Allow of '*', 'service:*' or NotAction; no write action or sensitive read on "
        "everything ('*', NotResource, service-wide ARNs)."
    ),
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=run(_check_identity),
)
iam_managed_policies = ResourceValidationPolicy(
    name="iam-managed-policies",
    description="No AWS-managed administrator, power-user or *FullAccess policy is attached.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=run(_check_managed),
    config_schema=PolicyConfigSchema(
        properties={
            "allowedManagedPolicies": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "default": [],
            }
        }
    ),
)
iam_trust_policies = ResourceValidationPolicy(
    name="iam-trust-policies",
    description="Role trust policies admit no wildcard principal; OIDC trusts pin the subject.",
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=run(_check_trust),
)
resource_policies = StackValidationPolicy(
    name="resource-policies",
    description=(
        "Resource policies grant no wildcard principal and no untrusted account; customer keys "
        "have their own key policy (requireKeyPolicies)."
    ),
    enforcement_level=EnforcementLevel.MANDATORY,
    validate=run_stack(_check_resource_policies),
    config_schema=PolicyConfigSchema(
        properties={
            "trustedAccountIds": {
                "type": "array",
                "items": {"type": "string", "pattern": "^[0-9]{12}$"},
                "default": [],
            },
            "requireKeyPolicies": {
                "type": "boolean",
                "default": False,
                "description": (
                    "Every customer KMS key has a policy of its own that is not AWS's default "
                    "(only the account root with kms:*)."
                ),
            },
        }
    ),
)

POLICIES = [iam_least_privilege, iam_managed_policies, iam_trust_policies, resource_policies]
