"""API Gateway REST API for video metadata: VPC link, REST API, stage, API key, usage plan.

One module per resource kind (``apigateway_*``); this one is the service's public face, as the
stack imports it (orchestrator/stack/api.py).
"""
from __future__ import annotations

from resources.apigateway_keys import ApiKey, UsagePlan
from resources.apigateway_rest_api import RestApi
from resources.apigateway_stage import Stage
from resources.apigateway_vpc_link import VpcLink

__all__ = ["ApiKey", "RestApi", "Stage", "UsagePlan", "VpcLink"]
