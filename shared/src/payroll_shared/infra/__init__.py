"""CDK building blocks shared by the platform and every service stack.

Only stacks import this package (it needs ``aws-cdk-lib``: ``payroll-shared[infra]``);
handlers never do.
"""

from payroll_shared.infra.constructs import (
    ConsumerQueue,
    PlatformRefs,
    ServiceFunction,
    ServiceStack,
    publish,
    service_dir,
)

__all__ = [
    "ConsumerQueue",
    "PlatformRefs",
    "ServiceFunction",
    "ServiceStack",
    "publish",
    "service_dir",
]
