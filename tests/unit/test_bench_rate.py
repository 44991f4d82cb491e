"""The benchmark's request-rate limits: AWS's token buckets (bench.rate_limits), the throttling
answer of each wire format as botocore reads it, and the latency layer refusing a call over its
bucket. Time is an injected clock: nothing here sleeps."""
from __future__ import annotations

import http.server
import threading

import boto3
import botocore.config
import botocore.parsers
import botocore.session
import pytest
from botocore.awsrequest import HTTPHeaders
from botocore.exceptions import ClientError
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

from bench.latency_proxy import LatencyProxy
from bench.rate_limits import LIMITS, RateLimiter, Request, buckets, throttled_answer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def admitted(limiter: RateLimiter, request: Request, times: int) -> int:
    return sum(limiter.take(request) is None for _ in range(times))


def test_a_bucket_gives_its_burst_at_once_then_refills_at_its_rate():
    clock = Clock()
    limiter = RateLimiter(clock)
    describe = Request("rds", "DescribeDBInstances")

    assert admitted(limiter, describe, 301) == 300  # RDS: a burst of 300
    clock.now = 0.5
    assert admitted(limiter, describe, 10) == 6  # then 12 a second
    clock.now = 1000.0
    assert admitted(limiter, Request("rds", "ListTagsForResource"), 301) == 300  # one bucket for all RDS, never over its capacity


def test_ec2_buckets_are_per_action_and_an_unfiltered_listing_draws_from_the_smaller_one():
    limiter = RateLimiter(Clock())
    unfiltered = Request("ec2", "DescribeSecurityGroups", params=("Action", "Version"))
    filtered = Request("ec2", "DescribeSecurityGroups", params=("Action", "Version", "Filter.1.Name", "Filter.1.Value.1"))
    paginated = Request("ec2", "DescribeSecurityGroups", params=("Action", "MaxResults"))

    assert admitted(limiter, unfiltered, 60) == 50
    assert admitted(limiter, filtered, 60) == 60  # the larger bucket of 100, untouched by the unfiltered ones
    assert admitted(limiter, paginated, 50) == 40
    assert admitted(limiter, Request("ec2", "DescribeVpcs"), 100) == 100  # another action, its own bucket
    assert admitted(limiter, Request("ec2", "CreateNatGateway"), 11) == 10  # an uncategorized action's own size
    assert buckets(Request("ec2", "AuthorizeSecurityGroupIngress"))[0][1] == LIMITS[("ec2", "resource-intensive")]


def test_api_gateway_calls_share_the_account_bucket_and_some_actions_have_their_own():
    clock = Clock()
    limiter = RateLimiter(clock)
    deploy = Request("apigateway", "POST /restapis/a1/deployments", "POST", "/restapis/a1/deployments")
    resources = Request("apigateway", "GET /restapis/a1/resources", "GET", "/restapis/a1/resources")
    apis = Request("apigateway", "GET /restapis", "GET", "/restapis")

    assert admitted(limiter, deploy, 2) == 1  # 1 request every 5 seconds
    assert admitted(limiter, resources, 6) == 5  # 5 requests every 2 seconds
    assert admitted(limiter, apis, 40) == 34  # the account's 40, 6 of them taken above
    clock.now = 5.0  # the account bucket gains 50 (capped at 40), the deployment bucket 1
    assert admitted(limiter, deploy, 2) == 1
    assert admitted(limiter, apis, 50) == 39


def test_ecs_actions_of_a_category_share_its_bucket_and_unlisted_services_are_unlimited():
    limiter = RateLimiter(Clock())
    assert admitted(limiter, Request("ecs", "DescribeServices"), 60) == 60
    assert admitted(limiter, Request("ecs", "ListServices"), 60) == 40  # service read: 100 together
    assert admitted(limiter, Request("ecs", "DescribeClusters"), 60) == 50
    assert admitted(limiter, Request("secretsmanager", "GetResourcePolicy"), 60) == 50
    for service, operation in (("logs", "DescribeLogGroups"), ("kms", "GetKeyPolicy"), ("elasticache", "DescribeReplicationGroups")):
        assert buckets(Request(service, operation)) == []
        assert admitted(limiter, Request(service, operation), 1000) == 1000


def test_every_limit_quotes_an_aws_page():
    for (service, bucket), limit in LIMITS.items():
        assert limit.source.startswith("https://docs.aws.amazon.com/"), (service, bucket)
        assert limit.capacity >= 1 and limit.rate > 0


@pytest.mark.parametrize(
    ("service", "operation", "status", "code"),
    [
        ("ec2", "DescribeVpcs", 503, "RequestLimitExceeded"),
        ("rds", "DescribeDBInstances", 400, "Throttling"),
        ("ecs", "DescribeServices", 400, "ThrottlingException"),
        ("secretsmanager", "GetResourcePolicy", 400, "ThrottlingException"),
        ("apigateway", "GetResources", 429, "TooManyRequestsException"),
    ],
)
def test_each_throttled_answer_is_read_by_botocore_as_a_retryable_throttle(service, operation, status, code):
    model = botocore.session.get_session().get_service_model(service)
    op = model.operation_model(operation)
    got_status, headers, body = throttled_answer(service)
    # Headers as botocore hands them to its parsers: case-insensitive.
    response = {"status_code": got_status, "headers": HTTPHeaders.from_dict(headers), "body": body}

    parsed = botocore.parsers.create_parser(model.metadata["protocol"]).parse(response, op.output_shape)

    assert got_status == status
    assert parsed["Error"]["Code"] == code
    context = RetryContext(attempt_number=1, operation_model=op, parsed_response=parsed)
    assert ThrottledRetryableChecker().is_retryable(context)  # what standard mode retries as throttling


class _Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[str] = []

    def log_message(self, *args) -> None:
        pass

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = self.rfile.read(length) if length else b""
        _Upstream.seen.append(f"{self.command} {self.path}")
        # An empty answer each protocol parses: XML for EC2's query calls, JSON for the others.
        body = b"<Response/>" if request.startswith(b"Action=") else b"{}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_DELETE = _any


@pytest.fixture
def proxy():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Upstream.seen = []
    layer = LatencyProxy(f"http://127.0.0.1:{server.server_address[1]}", latency=0.03, scale=0.0,
                         sleep=lambda s: None, clock=lambda: 0.0)
    yield layer
    layer.stop()
    server.shutdown()
    server.server_close()


def apigateway(endpoint: str):
    return boto3.client("apigateway", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="k",
                        aws_secret_access_key="s", config=botocore.config.Config(retries={"total_max_attempts": 1}))


def test_the_latency_layer_answers_a_call_over_its_bucket_with_the_throttling_error_and_counts_it(proxy):
    client = apigateway(proxy.endpoint)
    proxy.rate_limits(True)

    client.create_deployment(restApiId="a1", stageName="dev")
    with pytest.raises(ClientError) as raised:
        client.create_deployment(restApiId="a1", stageName="dev")  # 1 request every 5 seconds

    assert raised.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert _Upstream.seen == ["POST /restapis/a1/deployments"]  # the throttled call never reached the upstream
    assert [c.operation for c in proxy.take_calls()] == ["CreateDeployment", "CreateDeployment"]
    assert proxy.take_throttled() == ["apigateway CreateDeployment"]  # the bucket that refused it


def test_without_rate_limits_the_layer_forwards_every_call(proxy):
    client = apigateway(proxy.endpoint)
    proxy.rate_limits(True)
    proxy.rate_limits(False)

    for _ in range(3):
        client.create_deployment(restApiId="a1", stageName="dev")

    assert len(_Upstream.seen) == 3
    assert proxy.take_throttled() == []


def test_a_throttled_ec2_call_fails_with_request_limit_exceeded_through_the_layer(proxy):
    ec2 = boto3.client("ec2", endpoint_url=proxy.endpoint, region_name="us-east-1", aws_access_key_id="k",
                       aws_secret_access_key="s", config=botocore.config.Config(retries={"total_max_attempts": 1}))
    proxy.rate_limits(True)

    for _ in range(10):
        ec2.create_nat_gateway(SubnetId="subnet-1")
    with pytest.raises(ClientError) as raised:
        ec2.create_nat_gateway(SubnetId="subnet-1")

    assert raised.value.response["Error"]["Code"] == "RequestLimitExceeded"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert len(_Upstream.seen) == 10 and len(proxy.take_throttled()) == 1
