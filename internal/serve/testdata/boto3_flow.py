"""boto3 against a ztgate node, for TestBoto3Flow.

The administrator makes a user with an access key and a role that trusts
the user; the user assumes the role; the session finds out who it is,
reads the role and is refused a write. Everything runs in one process (a
Python start costs more than all the calls) and what each call answered is
printed as one JSON object for the Go test to check.

Environment: ZT_ENDPOINT, ZT_ADMIN_KEY, ZT_ADMIN_SECRET, ZT_TRUST_POLICY
(the role's trust policy, naming the user carol) and ZT_ROLE_POLICY (its
permissions). The caller sets AWS_EC2_METADATA_DISABLED, AWS_CONFIG_FILE
and AWS_SHARED_CREDENTIALS_FILE so that nothing else is looked up.
"""

import json
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["ZT_ENDPOINT"]
CONFIG = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=10)


def clients(key, secret, token=None):
    session = boto3.session.Session(
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        region_name="us-east-1",
    )
    make = lambda service: session.client(service, endpoint_url=ENDPOINT, config=CONFIG)
    return make("sts"), make("iam")


def identity(sts):
    r = sts.get_caller_identity()
    return {k: r[k] for k in ("UserId", "Account", "Arn")}


def error_of(call, **kwargs):
    """Call, expecting a ClientError: its code and HTTP status."""
    try:
        call(**kwargs)
    except ClientError as e:
        return {
            "Code": e.response["Error"]["Code"],
            "Status": str(e.response["ResponseMetadata"]["HTTPStatusCode"]),
        }
    sys.exit("%s(%r) succeeded; it should have failed" % (call.__name__, kwargs))


def main():
    out = {}
    admin_sts, admin_iam = clients(os.environ["ZT_ADMIN_KEY"], os.environ["ZT_ADMIN_SECRET"])
    out["Admin"] = identity(admin_sts)

    u = admin_iam.create_user(UserName="carol")["User"]
    out["User"] = {"UserName": u["UserName"], "Arn": u["Arn"]}
    k = admin_iam.create_access_key(UserName="carol")["AccessKey"]
    r = admin_iam.create_role(
        RoleName="ci-builder",
        AssumeRolePolicyDocument=os.environ["ZT_TRUST_POLICY"],
        Description="boto3 test role",
    )["Role"]
    out["Role"] = {"RoleName": r["RoleName"], "RoleId": r["RoleId"], "Arn": r["Arn"]}
    admin_iam.put_role_policy(
        RoleName="ci-builder", PolicyName="read-iam", PolicyDocument=os.environ["ZT_ROLE_POLICY"]
    )
    out["NoSuch"] = error_of(admin_iam.get_role, RoleName="nosuch")["Code"]
    out["Existing"] = error_of(admin_iam.create_user, UserName="carol")["Code"]

    carol_sts, _ = clients(k["AccessKeyId"], k["SecretAccessKey"])
    out["Carol"] = identity(carol_sts)
    a = carol_sts.assume_role(
        RoleArn=r["Arn"], RoleSessionName="boto3", DurationSeconds=900
    )
    c = a["Credentials"]
    out["Assumed"] = {
        "AssumedRoleId": a["AssumedRoleUser"]["AssumedRoleId"],
        "Arn": a["AssumedRoleUser"]["Arn"],
        "AccessKeyId": c["AccessKeyId"],
        # botocore parses it into an aware datetime.
        "Expiration": c["Expiration"].isoformat().replace("+00:00", "Z"),
    }

    session_sts, session_iam = clients(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    out["Session"] = identity(session_sts)
    out["GetRole"] = session_iam.get_role(RoleName="ci-builder")["Role"]["Arn"]
    out["Denied"] = error_of(session_iam.create_user, UserName="mallory")

    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
