"""API Gateway REST API for video metadata: VPC link, REST API, stage, API key, usage plan.

One module per resource kind in this package; this one is the service's public face, as the
stack imports it (orchestrator/stack/api.py).
"""
from __future__ import annotations

from resources.api.keys import ApiKey, UsagePlan
from resources.api.rest_api import RestApi
from resources.api.stage import Stage
from resources.api.vpc_link import VpcLink

__all__ = ["ApiKey", "RestApi", "Stage", "UsagePlan", "VpcLink"]
