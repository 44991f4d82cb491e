"""API Gateway: a private integration's VPC link is kept and returned, as AWS does.

moto 5.2.5 drops PutIntegration's ``connectionId`` (the VPC link of a ``connectionType``
``VPC_LINK`` integration) and never returns it from GetIntegration, GetMethod or
GetResources(embed=methods). AWS stores it and returns it in every Integration (API reference,
Integration.connectionId). Without it a private integration can never be seen as converged.
"""
from __future__ import annotations

import json

from moto.apigateway import models, responses


def apply() -> None:
    put_integration = responses.APIGatewayResponse.put_integration
    to_json = models.Integration.to_json

    def put_integration_keeping_connection_id(self):
        status, headers, _body = put_integration(self)
        parts = self.path.split("/")  # /restapis/{api}/resources/{resource}/methods/{verb}/integration
        integration = self.backend.get_integration(parts[2], parts[4], parts[6])
        integration.connection_id = self._get_param("connectionId")
        return status, headers, json.dumps(integration.to_json())

    def to_json_with_connection_id(self):
        out = to_json(self)
        out["connectionId"] = getattr(self, "connection_id", None)
        return out

    responses.APIGatewayResponse.put_integration = put_integration_keeping_connection_id
    models.Integration.to_json = to_json_with_connection_id
