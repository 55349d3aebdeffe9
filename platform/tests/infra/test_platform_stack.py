"""CDK assertions on PlatformStack: encryption everywhere, PITR, TLS, published names."""

import pytest
from aws_cdk.assertions import Match

from payroll_platform.infra.platform_stack import PlatformStack
from payroll_shared import names
from payroll_shared.infra import assertions


@pytest.fixture(scope="module")
def synthesized():
    return assertions.synth_stack(PlatformStack)


def test_cdk_nag_aws_solutions_passes(synthesized):
    stack, _ = synthesized
    assert assertions.nag_errors(stack) == []


def test_tables_encrypted_with_the_key_and_point_in_time_recovery(synthesized):
    _, template = synthesized
    tables = template.find_resources("AWS::DynamoDB::Table")
    assert {t["Properties"]["TableName"] for t in tables.values()} == {
        "payroll-test-employer-status",
        "payroll-test-employee-status",
    }
    for table in tables.values():
        props = table["Properties"]
        assert props["SSESpecification"]["SSEEnabled"] is True
        assert props["SSESpecification"]["SSEType"] == "KMS"
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_pay_run_bucket_private_tls_versioned_kms(synthesized):
    _, template = synthesized
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    Match.object_like(
                        {
                            "ServerSideEncryptionByDefault": Match.object_like(
                                {"SSEAlgorithm": "aws:kms"}
                            )
                        }
                    )
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
        },
    )
    policies = str(template.find_resources("AWS::S3::BucketPolicy"))
    assert "aws:SecureTransport" in policies


def test_key_rotates_and_topic_and_dlq_are_encrypted(synthesized):
    _, template = synthesized
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {"QueueName": "payroll-test-process-dlq", "SqsManagedSseEnabled": True},
    )


def test_aurora_serverless_v2_behind_an_iam_auth_proxy(synthesized):
    _, template = synthesized
    template.has_resource_properties(
        "AWS::RDS::DBCluster",
        {
            "Engine": "aurora-postgresql",
            "StorageEncrypted": True,
            "EnableIAMDatabaseAuthentication": True,
            "DeletionProtection": True,
            "ServerlessV2ScalingConfiguration": Match.any_value(),
        },
    )
    template.has_resource_properties(
        "AWS::RDS::DBProxy",
        {"RequireTLS": True, "Auth": [Match.object_like({"IAMAuth": "REQUIRED"})]},
    )


def test_every_name_a_service_needs_is_published(synthesized):
    _, template = synthesized
    published = {
        p["Properties"]["Name"] for p in template.find_resources("AWS::SSM::Parameter").values()
    }
    expected = {names.platform_param("test", which) for which in names.PlatformParam}
    assert expected <= published


def test_least_privilege(synthesized):
    _, template = synthesized
    assertions.assert_least_privilege(template)
