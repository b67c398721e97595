"""Operations commands against a real AWS account: `python -m scripts.ops <command>`.

- `preflight STACK`: go/no-go checks before a first `pulumi up` (quotas, offerings, EFA,
  capacity reservations, EKS version);
- `prices refresh`: refresh the catalog's on-demand and spot price snapshot;
- `backend bootstrap`: create or fix the S3 bucket that holds Pulumi state;
- `cost report STACK`: month-to-date cost and forecast of a stack against its budget.

Each command lives in its own module; `scripts.ops.aws` builds the boto3 clients and turns AWS
failures into one line on stderr.
"""
